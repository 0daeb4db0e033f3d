package linkage_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// The disk of an exported container: the data object "disk" inside a CDMI
// container exported to OCCI (§13.6) is the volume's bytes (issue 9 item 4).
const (
	diskName = "disk"
	diskMiB  = 1 << 20
)

// diskDo sends a request to a data object below the CDMI root.
func diskDo(t *testing.T, method, path string, h http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	if h == nil {
		h = http.Header{}
	}
	return harness.Do(t, method, harness.URL(t)+cdmiRoot()+path, h, bytes.NewReader(body))
}

func cdmiObjectHeader() http.Header {
	return http.Header{"Content-Type": {"application/cdmi-object"}, "Accept": {"application/cdmi-object"},
		"X-Cdmi-Specification-Version": {"1.1.1"}}
}

// diskCDMIGet is a CDMI read of the disk (§8.3) with a query.
func diskCDMIGet(t *testing.T, path, query string) (int, map[string]any) {
	t.Helper()
	h := http.Header{"Accept": {"application/cdmi-object"}, "X-Cdmi-Specification-Version": {"1.1.1"}}
	resp, out := diskDo(t, http.MethodGet, path+query, h, nil)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	if m == nil {
		m = map[string]any{"raw": string(out)}
	}
	return resp.StatusCode, m
}

func diskBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13) + seed
	}
	return b
}

// exportedContainer makes a container exported to OCCI over the first
// advertised protocol, with cdmi_assignedsize size; it is deleted at the end.
func exportedContainer(t *testing.T, size int) (path, id string) {
	t.Helper()
	return exportedOver(t, size, protocol(t))
}

// exportedOver is exportedContainer over the OCCI export protocol proto.
func exportedOver(t *testing.T, size int, proto string) (path, id string) {
	t.Helper()
	path = "/" + uniq("disk") + "/"
	resp, c := cdmiPut(t, path, map[string]any{
		"metadata": map[string]any{"cdmi_assignedsize": fmt.Sprint(size)},
		"exports":  map[string]any{"OCCI/" + proto: map[string]any{}},
	})
	require.Equal(t, http.StatusCreated, resp.StatusCode, c)
	id, _ = c["objectID"].(string)
	require.NotEmpty(t, id)
	t.Cleanup(func() { cdmiDelete(t, path) })
	return path, id
}

// A container exported to OCCI holds the data object "disk", whose value
// is the volume: it is listed among the children (§9.3), its cdmi_size
// (§16.3) is the volume's size; a CDMI update of a value range (§8.4)
// writes the volume in place, read back by range over HTTP (Range, §6.3:
// 206) and CDMI (?value:<range>, §8.3). A write reaching past the end is
// refused (4xx) and changes nothing; the disk cannot be deleted on its own
// (409; §8.5 deletes the object, and the disk goes only with its
// container).
func TestDiskIsTheVolumesBytes(t *testing.T) {
	path, _ := exportedContainer(t, 4*diskMiB)
	disk := path + diskName

	code, c := cdmiGet(t, path+"?children")
	require.Equal(t, http.StatusOK, code, c)
	assert.Contains(t, c["children"], diskName, "the disk is among the container's children")

	code, m := diskCDMIGet(t, disk, "?metadata:cdmi_size;mimetype")
	require.Equal(t, http.StatusOK, code, m)
	md, _ := m["metadata"].(map[string]any)
	assert.Equal(t, fmt.Sprint(4*diskMiB), md["cdmi_size"], "cdmi_size is the volume's size")
	assert.Equal(t, "application/octet-stream", m["mimetype"])

	// 1 MiB at offset 1 MiB, through a CDMI value-range update.
	piece := diskBytes(diskMiB, 5)
	body, err := json.Marshal(map[string]any{"value": base64.StdEncoding.EncodeToString(piece), "valuetransferencoding": "base64"})
	require.NoError(t, err)
	resp, out := diskDo(t, http.MethodPut, fmt.Sprintf("%s?value:%d-%d", disk, diskMiB, 2*diskMiB-1), cdmiObjectHeader(), body)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", out)

	// Read back by range: HTTP Range (206) and CDMI ?value:.
	resp, out = diskDo(t, http.MethodGet, disk, http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", diskMiB, 2*diskMiB-1)}}, nil)
	require.Equal(t, http.StatusPartialContent, resp.StatusCode, "§6.3: a Range read of the disk")
	assert.True(t, bytes.Equal(piece, out), "the bytes written are the volume's")
	resp, out = diskDo(t, http.MethodGet, disk, http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", diskMiB-4, diskMiB+3)}}, nil)
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, append(make([]byte, 4), piece[:4]...), out, "around the range the volume is as it was (zeros)")
	code, m = diskCDMIGet(t, disk, fmt.Sprintf("?value:%d-%d;valuerange", diskMiB+100, diskMiB+163))
	require.Equal(t, http.StatusOK, code, m)
	assert.Equal(t, base64.StdEncoding.EncodeToString(piece[100:164]), m["value"], "§8.3: ?value:<range> reads the volume")
	assert.Equal(t, fmt.Sprintf("%d-%d", diskMiB+100, diskMiB+163), m["valuerange"])

	// Past the end: refused, nothing written.
	tail := []byte("0123456789")
	resp, out = diskDo(t, http.MethodPut, disk, http.Header{"Content-Range": {fmt.Sprintf("bytes %d-%d/*", 4*diskMiB-5, 4*diskMiB+4)},
		"Content-Type": {"application/octet-stream"}}, tail)
	assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "a write past the end is a 4xx: %d %s", resp.StatusCode, out)
	body, _ = json.Marshal(map[string]any{"value": base64.StdEncoding.EncodeToString(tail), "valuetransferencoding": "base64"})
	resp, out = diskDo(t, http.MethodPut, fmt.Sprintf("%s?value:%d-%d", disk, 4*diskMiB-5, 4*diskMiB+4), cdmiObjectHeader(), body)
	assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "a CDMI write past the end is a 4xx: %d %s", resp.StatusCode, out)
	resp, out = diskDo(t, http.MethodGet, disk, http.Header{"Range": {fmt.Sprintf("bytes=%d-", 4*diskMiB-8)}}, nil)
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, make([]byte, 8), out, "the refused writes changed nothing")

	// A whole value of another length is refused, naming the size.
	resp, out = diskDo(t, http.MethodPut, disk, http.Header{"Content-Type": {"application/octet-stream"}}, []byte("too short"))
	assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "%d %s", resp.StatusCode, out)
	assert.Contains(t, string(out), fmt.Sprint(4*diskMiB))

	// The disk goes only with its container (or its export).
	code, msg := cdmiDelete(t, disk)
	assert.Equal(t, http.StatusConflict, code, msg)
	assert.True(t, strings.Contains(msg, "container"), msg)
	code, _ = diskCDMIGet(t, disk, "?objectID")
	assert.Equal(t, http.StatusOK, code, "the disk is still there")
}

// The disk goes with its export: once the OCCI export is removed (§9.5,
// an export set to null), the container has no disk; deleting the
// container takes the disk with it.
func TestDiskGoesWithTheExport(t *testing.T) {
	path, _ := exportedContainer(t, diskMiB)
	resp, c := cdmiPut(t, path, map[string]any{"exports": map[string]any{"OCCI/" + protocol(t): nil}})
	require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, resp.StatusCode, c)
	code, m := diskCDMIGet(t, path+diskName, "")
	assert.Equal(t, http.StatusNotFound, code, m)

	path, _ = exportedContainer(t, diskMiB)
	code, msg := cdmiDelete(t, path)
	require.Equal(t, http.StatusNoContent, code, msg)
	code, m = diskCDMIGet(t, path+diskName, "")
	assert.Equal(t, http.StatusNotFound, code, m)
}
