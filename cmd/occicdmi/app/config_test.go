package app

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("t", nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", cfg.Listen)
	assert.Equal(t, "sim", cfg.Compute)
	assert.Equal(t, "fs", cfg.Objects)
	assert.Equal(t, filepath.Join("occicdmi-data", "occicdmi.db"), cfg.Database)
	assert.Equal(t, "/cdmi", cfg.CDMIRoot)
}

// A flag beats the environment, which beats the config file.
func TestLoadPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"listen":"file:1","data":"filedata","base_url":"http://file","enterprise_number":7}`), 0o600))
	cfg, err := Load("t", []string{"--listen", "flag:3", "--config", file},
		env(map[string]string{"OCCICDMI_LISTEN": "env:2", "OCCICDMI_DATA": "envdata"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "flag:3", cfg.Listen)
	assert.Equal(t, "envdata", cfg.DataDir)
	assert.Equal(t, "http://file", cfg.BaseURL)
	assert.Equal(t, uint32(7), cfg.EnterpriseNumber)
	assert.Equal(t, filepath.Join("envdata", "occicdmi.db"), cfg.Database)
}

func TestLoadRejectsBadInput(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown flag":   {"--nope"},
		"stray argument": {"extra"},
		"bad number":     {"--enterprise-number", "x"},
		"cdmi at root":   {"--cdmi-root", "/"},
		"bad log format": {"--log-format", "xml"},
		"bad value size": {"--max-value-size", "lots"},
		"zero volumes":   {"--max-volume-size", "0"},
		"no unit match":  {"--max-volume-size", "4TB"},
	} {
		_, err := Load("t", args, env(nil), io.Discard)
		assert.Error(t, err, name)
	}
	_, err := Load("t", nil, env(map[string]string{"OCCICDMI_ENTERPRISE_NUMBER": "many"}), io.Discard)
	assert.Error(t, err)
	cfg, err := Load("t", []string{"--max-value-size", "1GiB"}, env(map[string]string{"OCCICDMI_MAX_VOLUME_SIZE": "16TiB"}), io.Discard)
	if assert.NoError(t, err) {
		assert.Equal(t, "1GiB", cfg.MaxValueSize)
		assert.Equal(t, "16TiB", cfg.MaxVolumeSize)
	}
}

func TestRedact(t *testing.T) {
	assert.Equal(t, "postgres://u:***@h/db", redact("postgres://u:secret@h/db"))
	assert.Equal(t, "/tmp/x.db", redact("/tmp/x.db"))
}
