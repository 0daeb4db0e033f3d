package app

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// NBD over TCP is served with TLS (--nbd-listen with a certificate) or in
// the clear only on an address the operator names private
// (--nbd-private-net); settings that would not work are refused at start.
func TestNBDSettings(t *testing.T) {
	for _, bad := range [][]string{
		{"--nbd-listen", "10.0.0.5:10809"}, // no certificate
		{"--nbd-listen", "10.0.0.5:10809", "--nbd-tls-cert", "c.pem"},
		{"--nbd-tls-cert", "c.pem", "--nbd-tls-key", "k.pem"}, // TLS without a listener
		{"--nbd-listen", "10.0.0.5:10809", "--nbd-private-net", "10.0.0.5:10810", "--nbd-tls-cert", "c", "--nbd-tls-key", "k"},
		{"--nbd-private-net", "0.0.0.0:10809"}, // QEMU cannot dial 0.0.0.0
		{"--nbd-private-net", "10.0.0.5"},      // no port
		{"--nbd-address", "10.0.0.5:10809"},    // no listener
		{"--nbd-private-net", "0.0.0.0:10809", "--nbd-address", "10.0.0.5"},
	} {
		_, err := Load("t", bad, env(nil), io.Discard)
		assert.Error(t, err, "%v", bad)
	}
	cfg, err := Load("t", []string{"--nbd-private-net", "0.0.0.0:10809", "--nbd-address", "10.0.0.5:10809"}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.5:10809", cfg.NBDAddress)
	cfg, err = Load("t", nil, env(map[string]string{"OCCICDMI_NBD_LISTEN": "10.0.0.5:10809",
		"OCCICDMI_NBD_TLS_CERT": "c.pem", "OCCICDMI_NBD_TLS_KEY": "k.pem"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.5:10809", cfg.NBDListen)
}
