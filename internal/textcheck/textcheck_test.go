package textcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestText(t *testing.T) {
	assert.NoError(t, String("plain, ünïcödé, 日本, 🙂, tab\t"))
	for in, want := range map[string]string{
		"a\x00b":       "NUL byte at offset 1",
		"title\xff":    "byte 0xFF at offset 5",
		"\xc0\xaf":     "byte 0xC0 at offset 0", // overlong '/'
		"\xed\xa0\x80": "byte 0xED at offset 0", // an encoded surrogate
		"ok\xe2\x82":   "byte 0xE2 at offset 2", // cut short
	} {
		err := String(in)
		if assert.Error(t, err, "%q", in) {
			assert.Contains(t, err.Error(), want, "%q", in)
		}
	}
}

func TestJSONEscapes(t *testing.T) {
	for _, ok := range []string{`{"a": "b"}`, `{"a": "\ud83d\ude42"}`, `{"a": "\\ud800"}`, `{"a": "\u00e9\n"}`, `"\u12"`} {
		assert.NoError(t, JSONEscapes([]byte(ok)), ok)
	}
	for _, bad := range []string{`{"a": "\u0000"}`, `{"a": "x\ud800"}`, `{"a": "\udc00y"}`, `{"a": "\ud800\u0041"}`, `{"\ud800": 1}`} {
		assert.Error(t, JSONEscapes([]byte(bad)), bad)
	}
}
