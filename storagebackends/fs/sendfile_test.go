package fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An open value hands its file to the kernel (net's sendfile takes any
// syscall.Conn) and stays in step: bytes read, then sent, then read again
// come out in order over a real TCP connection, and a section that ends
// before the file's end refuses, since a send would run past it.
func TestOpenValueSendsWithSendfile(t *testing.T) {
	o, err := NewObjects(t.TempDir())
	require.NoError(t, err)
	ctx := context.Background()
	value := make([]byte, 3<<20+17)
	_, _ = rand.Read(value)
	require.NoError(t, o.Put(ctx, "v", bytes.NewReader(value), int64(len(value))))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)

	const off = 100
	rc, err := o.Open(ctx, "v", off, -1)
	require.NoError(t, err)
	defer rc.Close()
	_, ok := rc.(syscall.Conn)
	require.True(t, ok, "an open value offers its file descriptor")
	head := make([]byte, 512)
	_, err = io.ReadFull(rc, head)
	require.NoError(t, err)
	sent, err := conn.(*net.TCPConn).ReadFrom(&io.LimitedReader{R: rc, N: 2 << 20})
	require.NoError(t, err)
	assert.EqualValues(t, 2<<20, sent)
	tail, err := io.ReadAll(rc)
	require.NoError(t, err)
	conn.Close()
	middle := <-got
	assert.Equal(t, value[off:off+512], head)
	assert.True(t, bytes.Equal(value[off+512:off+512+2<<20], middle), "the sent bytes follow the read ones")
	assert.True(t, bytes.Equal(value[off+512+2<<20:], tail), "reads go on after what was sent")

	short, err := o.Open(ctx, "v", 0, 10)
	require.NoError(t, err)
	defer short.Close()
	_, err = short.(syscall.Conn).SyscallConn()
	assert.True(t, errors.Is(err, errors.ErrUnsupported), "a section short of the file's end is not sent: %v", err)
}
