package cdmi

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// memDisks are the volumes of exported containers, in memory, made on
// first use; they record the largest single I/O they were asked for.
type memDisks struct {
	size  int64
	mu    sync.Mutex
	disks map[string]*memDisk
	maxIO int
	down  bool
}

type memDisk struct {
	d *memDisks
	b []byte
}

func newMemDisks(size int64) *memDisks { return &memDisks{size: size, disks: map[string]*memDisk{}} }

func (m *memDisks) Disk(_ context.Context, id string) (Disk, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.disks[id] == nil {
		m.disks[id] = &memDisk{d: m, b: make([]byte, m.size)}
	}
	return m.disks[id], true, nil
}

// bytes is a copy of the only disk's bytes.
func (m *memDisks) bytes(t *testing.T) []byte {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	require.Len(t, m.disks, 1)
	for _, d := range m.disks {
		return append([]byte(nil), d.b...)
	}
	return nil
}

func (m *memDisks) io(n int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maxIO = max(m.maxIO, n)
	if m.down {
		return kind.Wrap(kind.Unavailable, errors.New("connection refused"), "volume backend")
	}
	return nil
}

func (d *memDisk) ReadAt(_ context.Context, p []byte, off int64) (int, error) {
	if err := d.d.io(len(p)); err != nil {
		return 0, err
	}
	if off >= int64(len(d.b)) {
		return 0, io.EOF
	}
	n := copy(p, d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (d *memDisk) WriteAt(_ context.Context, p []byte, off int64) (int, error) {
	if err := d.d.io(len(p)); err != nil {
		return 0, err
	}
	if off+int64(len(p)) > int64(len(d.b)) {
		return 0, kind.New(kind.Invalid, "write past the end")
	}
	return copy(d.b[off:], p), nil
}

func (d *memDisk) Size(context.Context) (int64, error) {
	if err := d.d.io(0); err != nil {
		return 0, err
	}
	return int64(len(d.b)), nil
}

const diskSize = 4 << 20

// diskServer is a test server whose exported containers have memDisks,
// with one container /vm/ exported (OCCI/iSCSI, the test hooks' protocol).
func diskServer(t *testing.T) (*testServer, *memDisks) {
	disks := newMemDisks(diskSize)
	ts := newTestServer(t, func(c *Config) { c.ExportHook = &fakeHook{}; c.Disks = disks })
	resp, body := ts.do("PUT", "/cdmi/vm/", fmt.Sprintf(`{"exports":{"OCCI/iSCSI":{}},"metadata":{"cdmi_assignedsize":"%d"}}`, diskSize), cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	return ts, disks
}

func diskPattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// The disk of an exported container is listed among its children, its
// cdmi_size is the volume's; range writes land in the volume in place and
// range reads (Range: 206, ?value:, §8.4.2) read it back; I/O goes in
// chunks of at most 1 MiB.
func TestDiskIsTheVolume(t *testing.T) {
	ts, disks := diskServer(t)
	resp, body := ts.do("GET", "/cdmi/vm/?children", "", cdmiHdr("")...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, []any{DiskName}, decode(t, body)["children"])

	resp, body = ts.do("GET", "/cdmi/vm/disk?metadata;mimetype", "", cdmiHdr("")...)
	require.Equal(t, 200, resp.StatusCode, body)
	m := decode(t, body)
	assert.Equal(t, diskMimetype, m["mimetype"])
	assert.Equal(t, fmt.Sprint(diskSize), m["metadata"].(map[string]any)["cdmi_size"])

	mib := diskPattern(1<<20, 3)
	resp, body = ts.do("PUT", "/cdmi/vm/disk", string(mib), "Content-Range", "bytes 1048576-2097151/*", "Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, 204, resp.StatusCode, body)
	got := disks.bytes(t)
	assert.True(t, bytes.Equal(mib, got[1<<20:2<<20]), "the range is written in place")
	assert.Equal(t, make([]byte, 1<<20), got[:1<<20], "nothing else changes")

	resp, body = ts.do("GET", "/cdmi/vm/disk", "", "Range", "bytes=1048576-2097151")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.True(t, bytes.Equal(mib, []byte(body)), "Range reads the volume")
	assert.Equal(t, diskMimetype, resp.Header.Get("Content-Type"))

	resp, body = ts.do("GET", "/cdmi/vm/disk", "")
	require.Equal(t, 200, resp.StatusCode)
	assert.True(t, bytes.Equal(got, []byte(body)), "a plain GET reads the whole volume")

	resp, body = ts.do("GET", "/cdmi/vm/disk?value:1048576-1048585;valuerange;valuetransferencoding", "", cdmiHdr("")...)
	require.Equal(t, 200, resp.StatusCode, body)
	m = decode(t, body)
	assert.Equal(t, base64.StdEncoding.EncodeToString(mib[:10]), m["value"])
	assert.Equal(t, "1048576-1048585", m["valuerange"])
	assert.Equal(t, "base64", m["valuetransferencoding"])

	// §8.5 with a value range: CDMI writes the volume in place too.
	resp, body = ts.do("PUT", "/cdmi/vm/disk?value:10-13", `{"value":"dGhhdA=="}`, cdmiHdr(ctObject)...)
	require.Equal(t, 204, resp.StatusCode, body)
	assert.Equal(t, "that", string(disks.bytes(t)[10:14]))

	// A whole value of the disk's size writes it from offset 0.
	all := diskPattern(diskSize, 9)
	resp, body = ts.do("PUT", "/cdmi/vm/disk", string(all))
	require.Equal(t, 204, resp.StatusCode, body)
	assert.True(t, bytes.Equal(all, disks.bytes(t)))
	resp, body = ts.do("PUT", "/cdmi/vm/disk", `{"value":"`+base64.StdEncoding.EncodeToString(mib[:0])+`"}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	assert.Contains(t, body, fmt.Sprint(diskSize))
	resp, body = ts.do("PUT", "/cdmi/vm/disk", `{"value":"`+base64.StdEncoding.EncodeToString(mib)+`"}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/vm/disk", `{"valuetransferencoding":"base64","value":"`+base64.StdEncoding.EncodeToString(mib[:0])+`"}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, body)

	assert.LessOrEqual(t, disks.maxIO, diskChunk, "I/O is chunked")
	assert.Positive(t, disks.maxIO)

	// The Go API reads the disk too.
	rc, err := ts.cdmi.Service().ReadValue(context.Background(), Administrator(), "/vm/disk", 100, 20)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, all[100:120], b)
	o, err := ts.cdmi.Service().DataObject(context.Background(), Administrator(), "/vm/disk")
	require.NoError(t, err)
	assert.EqualValues(t, diskSize, o.Size)
}

// What a disk cannot do: writes past its end (nothing written), a whole
// value of another size, delete, metadata, move and copy from it.
func TestDiskRefusals(t *testing.T) {
	ts, disks := diskServer(t)
	before := make([]byte, diskSize) // a fresh volume reads as zeros

	resp, body := ts.do("PUT", "/cdmi/vm/disk", "0123456789", "Content-Range", fmt.Sprintf("bytes %d-%d/*", diskSize-5, diskSize+4))
	assert.Equal(t, 400, resp.StatusCode, body)
	assert.Contains(t, body, "past its end")
	resp, body = ts.do("PUT", fmt.Sprintf("/cdmi/vm/disk?value:%d-%d", diskSize-2, diskSize+1), `{"value":"dGhhdA=="}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/vm/disk", "short")
	assert.Equal(t, 400, resp.StatusCode, body)
	assert.Contains(t, body, fmt.Sprintf("exactly %d bytes", diskSize))
	assert.Equal(t, before, disks.bytes(t), "nothing was written")

	resp, body = ts.do("DELETE", "/cdmi/vm/disk", "", cdmiHdr("")...)
	assert.Equal(t, 409, resp.StatusCode, body)
	assert.Contains(t, body, "delete the container")

	resp, body = ts.do("PUT", "/cdmi/vm/disk", `{"metadata":{"color":"blue"}}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 409, resp.StatusCode, body)
	// A read-modify-write of what a read returns, without the value, is
	// a no-op: storage system metadata and mimetype are ignored.
	resp, body = ts.do("PUT", "/cdmi/vm/disk", `{"mimetype":"text/plain","metadata":{"cdmi_size":"1"}}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/vm/copy", `{"copy":"/cdmi/vm/disk"}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 409, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/moved", `{"move":"/cdmi/vm/disk"}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 409, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/vm/disk", `{"value":"dGhhdA=="}`, append(cdmiHdr(ctObject), "X-CDMI-Partial", "true")...)
	assert.Equal(t, 409, resp.StatusCode, body)
	resp, _ = ts.do("GET", "/cdmi/vm/disk", "", cdmiHdr("")...)
	assert.Equal(t, 200, resp.StatusCode, "the disk is still there")
}

// The export makes the disk and its removal takes it away; a container
// holding another "disk" is not exported (409); a copy of an exported
// container leaves the disk out.
func TestDiskFollowsTheExport(t *testing.T) {
	ts, _ := diskServer(t)
	resp, body := ts.do("PUT", "/cdmi/copy/", `{"copy":"/cdmi/vm/"}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("GET", "/cdmi/copy/?children", "", cdmiHdr("")...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Empty(t, decode(t, body)["children"])

	resp, body = ts.do("PUT", "/cdmi/vm/", `{"exports":{"OCCI/iSCSI":null}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("GET", "/cdmi/vm/disk", "", cdmiHdr("")...)
	assert.Equal(t, 404, resp.StatusCode, body)

	resp, body = ts.do("PUT", "/cdmi/vm/disk", "mine")
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/vm/", `{"exports":{"OCCI/iSCSI":{}}}`, cdmiHdr(ctContainer)...)
	assert.Equal(t, 409, resp.StatusCode, body)
	assert.Contains(t, body, "rename or delete it")
	resp, body = ts.do("GET", "/cdmi/vm/disk", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "mine", body, "the object stays as it was")
	resp, body = ts.do("GET", "/cdmi/vm/", "", cdmiHdr("")...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.NotContains(t, body, "OCCI/iSCSI", "the container was not changed")

	resp, body = ts.do("DELETE", "/cdmi/vm/disk", "")
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/vm/", `{"exports":{"OCCI/iSCSI":{}}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, _ = ts.do("GET", "/cdmi/vm/disk", "", cdmiHdr("")...)
	assert.Equal(t, 200, resp.StatusCode)

	resp, body = ts.do("DELETE", "/cdmi/vm/", "", cdmiHdr("")...)
	require.Equal(t, 204, resp.StatusCode, body)
}

// A volume backend that is down answers 503 for the disk's reads and
// writes (the kind passes through).
func TestDiskBackendDownIs503(t *testing.T) {
	ts, disks := diskServer(t)
	disks.mu.Lock()
	disks.down = true
	disks.mu.Unlock()
	resp, body := ts.do("GET", "/cdmi/vm/disk", "", "Range", "bytes=0-9")
	assert.Equal(t, 503, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/vm/disk", "0123456789", "Content-Range", "bytes 0-9/*")
	assert.Equal(t, 503, resp.StatusCode, body)
	assert.True(t, strings.Contains(body, "unavailable") || strings.Contains(body, "connection refused"), body)
}

// A container exported before disks existed (a server without Disks) gets
// its disk when a server with Disks starts on the same database.
func TestDiskMadeAtStartForOlderExports(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.ExportHook = &fakeHook{} })
	resp, body := ts.do("PUT", "/cdmi/old/", `{"exports":{"OCCI/iSCSI":{}}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, _ = ts.do("GET", "/cdmi/old/disk", "", cdmiHdr("")...)
	require.Equal(t, 404, resp.StatusCode, "no disk without Disks")

	cfg := ts.cdmi.cfg
	cfg.Disks = newMemDisks(diskSize)
	svc, err := NewService(context.Background(), cfg)
	require.NoError(t, err)
	o, err := svc.DataObject(context.Background(), Administrator(), "/old/"+DiskName)
	require.NoError(t, err)
	assert.EqualValues(t, diskSize, o.Size)
}
