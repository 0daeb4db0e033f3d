package cdmi

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The answers' encoder writes what encoding/json writes, byte for byte:
// HTML characters, control characters, invalid UTF-8, U+2028, nested
// metadata in key order, nil and empty lists, raw extra fields.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	values := []any{
		"plain", "", `quote " and \ backslash`, "<b>&</b>", "tab\tnewline\n\x01", "caf\u00e9 \u2028 \U0001F600", "bad \xff utf-8",
		[]string{"a", "<"}, []string{}, []string(nil),
		map[string]any{"z": "1", "a": map[string]any{"y": []any{"x", 1.5, true, nil}}, "<k>": []string{"v"}},
		map[string]any(nil), []any{map[string]any{"acetype": "0x00"}}, []any(nil),
		json.RawMessage(`{ "spaced" : [1, 2] , "h":"<" }`), 42, int64(-7), 3.25, true, nil,
		fields{{"objectType", ctObject}, {"metadata", map[string]any{"cdmi_size": "4"}}, {"children", []string{}}},
	}
	var fs fields
	for i, v := range values {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		got, err := appendJSON(nil, v)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "value %d: %#v", i, v)
		fs = append(fs, field{string(rune('a' + i)), v})
	}
	want, err := json.Marshal(fs)
	require.NoError(t, err)
	got, err := fs.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}
