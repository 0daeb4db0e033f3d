package libvirt

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// Ping asks libvirtd its version: up through a live connection, down
// (unavailable) while the daemon cannot be reached, up again when it is
// back (redialed by itself).
func TestPing(t *testing.T) {
	b0 := openTest(t)
	var _ cb.Pinger = b0
	require.NoError(t, b0.Ping(context.Background()))
	if b0.uri.Scheme != "qemu" || b0.uri.Host != "" {
		t.Skip("the proxy needs a local libvirtd socket (qemu:///system)")
	}
	p := newProxy(t, "/var/run/libvirt/libvirt-sock")
	b, err := Open(context.Background(), cb.Options{URI: "qemu:///system?socket=" + p.path, ImageDir: b0.ImageDir()})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Ping(context.Background()))

	p.down()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = b.Ping(ctx)
	require.ErrorIs(t, err, cb.ErrUnavailable)

	p.up(t)
	assert.NoError(t, b.Ping(context.Background()))
}
