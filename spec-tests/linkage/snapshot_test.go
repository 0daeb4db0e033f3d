package linkage_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// capabilitiesOf reads a capability object.
func capabilitiesOf(t *testing.T, uri string) map[string]any {
	t.Helper()
	h := http.Header{"Accept": {"application/cdmi-capability"}, "X-Cdmi-Specification-Version": {"1.1.1"}}
	resp, out := harness.Do(t, http.MethodGet, harness.URL(t)+strings.TrimPrefix(uri, harness.URL(t)), h, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", uri, out)
	var m struct {
		Capabilities map[string]any `json:"capabilities"`
	}
	require.NoError(t, json.Unmarshal(out, &m))
	return m.Capabilities
}

// CDMI 1.1.1 clause 14 and §9.6 Table 53 ("snapshot"): the system
// capabilities say cdmi_snapshots (§12.1.1 Table 100); an exported
// container's capability object grants cdmi_snapshot (Table 104), a plain
// container's does not (and its snapshot update is refused, 400). A
// snapshot update answers when the snapshot is in place, as the child
// container cdmi_snapshots/<name>/ whose disk holds the volume's bytes at
// that time (later writes do not show), cannot be written, and is listed
// in the container's "snapshots"; the same name again replaces it;
// deleting its container removes it.
func TestCDMISnapshotOfAnExportedContainer(t *testing.T) {
	sys := capabilitiesOf(t, cdmiRoot()+"/cdmi_capabilities/")
	assert.Equal(t, "true", sys["cdmi_snapshots"], "§12.1.1: the system says it takes snapshots")

	path, _ := exportedContainer(t, 2*diskMiB)
	code, c := cdmiGet(t, path)
	require.Equal(t, http.StatusOK, code, c)
	caps, _ := c["capabilitiesURI"].(string)
	assert.Equal(t, "true", capabilitiesOf(t, caps)["cdmi_snapshot"], "an exported container may be snapshotted: %s", caps)

	plain := "/" + uniq("plain") + "/"
	resp, pc := cdmiPut(t, plain, map[string]any{})
	require.Equal(t, http.StatusCreated, resp.StatusCode, pc)
	defer cdmiDelete(t, plain)
	pcaps, _ := pc["capabilitiesURI"].(string)
	assert.NotEqual(t, "true", capabilitiesOf(t, pcaps)["cdmi_snapshot"], "a plain container is not offered snapshots")
	resp, out := cdmiPut(t, plain, map[string]any{"snapshot": "s"})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, out)

	disk := path + diskName
	first := diskBytes(4096, 1)
	writeRange(t, disk, 0, first)
	resp, out = cdmiPut(t, path, map[string]any{"snapshot": "before"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, out)
	writeRange(t, disk, 0, diskBytes(4096, 2))

	snap := path + "cdmi_snapshots/before/"
	code, m := diskCDMIGet(t, snap+diskName, "?metadata:cdmi_size")
	require.Equal(t, http.StatusOK, code, m)
	md, _ := m["metadata"].(map[string]any)
	assert.Equal(t, fmt.Sprint(2*diskMiB), md["cdmi_size"], "the snapshot's disk has the volume's size")
	assert.Equal(t, first, readRange(t, snap+diskName, 0, 4096), "the snapshot holds the bytes of its time")
	assert.Equal(t, diskBytes(4096, 2), readRange(t, disk, 0, 4096), "the container's disk went on")

	resp2, out2 := diskDo(t, http.MethodPut, snap+diskName, http.Header{"Content-Range": {"bytes 0-3/*"},
		"Content-Type": {"application/octet-stream"}}, []byte("nope"))
	assert.Equal(t, http.StatusConflict, resp2.StatusCode, "a snapshot is not written: %s", out2)
	assert.Equal(t, first, readRange(t, snap+diskName, 0, 4096))

	code, c = cdmiGet(t, path+"?snapshots")
	require.Equal(t, http.StatusOK, code, c)
	assert.Equal(t, []any{cdmiRoot() + snap}, c["snapshots"])
	code, c = cdmiGet(t, path+"cdmi_snapshots/?children")
	require.Equal(t, http.StatusOK, code, c)
	assert.Equal(t, []any{"before/"}, c["children"])

	// The same name replaces the snapshot.
	resp, out = cdmiPut(t, path, map[string]any{"snapshot": "before"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, out)
	assert.Equal(t, diskBytes(4096, 2), readRange(t, snap+diskName, 0, 4096), "Table 53: a snapshot of the same name replaces it")

	// A snapshot update with other changes is refused whole.
	resp, out = cdmiPut(t, path, map[string]any{"snapshot": "x", "metadata": map[string]any{"a": "b"}})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, out)

	code, msg := cdmiDelete(t, snap)
	require.Equal(t, http.StatusNoContent, code, msg)
	code, _ = diskCDMIGet(t, snap+diskName, "")
	assert.Equal(t, http.StatusNotFound, code)
}

// GFD.184 (OCCI 1.1) §3.3 Table 9: snapshot and backup on a storage that
// is a CDMI container take the CDMI snapshot of clause 14: it appears
// under the container's cdmi_snapshots/ with the volume's bytes.
func TestOCCISnapshotIsACDMISnapshot(t *testing.T) {
	path, id := exportedContainer(t, diskMiB)
	want := diskBytes(4096, 7)
	writeRange(t, path+diskName, 4096, want)
	for _, term := range []string{"snapshot", "backup"} {
		code, out := storageAction(t, "/storage/"+id, term)
		require.Equal(t, http.StatusOK, code, out)
	}
	code, c := cdmiGet(t, path+"?snapshots")
	require.Equal(t, http.StatusOK, code, c)
	snaps, _ := c["snapshots"].([]any)
	require.Len(t, snaps, 2, "one snapshot per action: %v", c)
	for _, s := range snaps {
		uri := strings.TrimPrefix(s.(string), cdmiRoot())
		assert.Equal(t, want, readRange(t, uri+diskName, 4096, 4096), "%s holds the volume's bytes", uri)
	}
	// §9.7: deleting the container deletes its snapshots, volume and all.
	code, msg := cdmiDelete(t, path)
	require.Equal(t, http.StatusNoContent, code, msg)
	for _, s := range snaps {
		code, _ = diskCDMIGet(t, strings.TrimPrefix(s.(string), cdmiRoot())+diskName, "")
		assert.Equal(t, http.StatusNotFound, code)
	}
	resp, _ := occi(t, http.MethodGet, "/storage/"+id, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func writeRange(t *testing.T, disk string, off int, b []byte) {
	t.Helper()
	resp, out := diskDo(t, http.MethodPut, disk, http.Header{"Content-Range": {fmt.Sprintf("bytes %d-%d/*", off, off+len(b)-1)},
		"Content-Type": {"application/octet-stream"}}, b)
	require.Less(t, resp.StatusCode, 300, "%s", out)
}

func readRange(t *testing.T, disk string, off, n int) []byte {
	t.Helper()
	resp, out := diskDo(t, http.MethodGet, disk, http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", off, off+n-1)}}, nil)
	require.Equal(t, http.StatusPartialContent, resp.StatusCode, "%s", out)
	return out
}

// §9.2.5: a copy of an exported container is not exported (no disk, see
// TestDiskGoesWithTheExport) and takes none of its snapshots either.
func TestCopyLeavesTheSnapshotsOut(t *testing.T) {
	path, _ := exportedContainer(t, diskMiB)
	resp, out := cdmiPut(t, path, map[string]any{"snapshot": "s1"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, out)
	dst := "/" + uniq("copy") + "/"
	resp, out = cdmiPut(t, dst, map[string]any{"copy": cdmiRoot() + path})
	require.Equal(t, http.StatusCreated, resp.StatusCode, out)
	defer cdmiDelete(t, dst)
	code, c := cdmiGet(t, dst+"?children")
	require.Equal(t, http.StatusOK, code, c)
	assert.Empty(t, c["children"], "no disk, no cdmi_snapshots in the copy")
}

// Clause 14: "the contents of the source container [are] restored to their
// values at a previous point in time using a CDMI copy operation": a copy
// of the snapshot's disk onto the container's disk (§8.2 "copy") writes
// the snapshot's bytes back into the volume. A copy from a stored value,
// or from a disk of another size, is refused (409) and writes nothing.
func TestRestoreASnapshotByCopy(t *testing.T) {
	path, _ := exportedContainer(t, diskMiB)
	disk := path + diskName
	before := diskBytes(8192, 3)
	writeRange(t, disk, 0, before)
	resp, out := cdmiPut(t, path, map[string]any{"snapshot": "good"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, out)
	after := diskBytes(8192, 4)
	writeRange(t, disk, 0, after)

	copyOnto := func(src string) (*http.Response, []byte) {
		b, _ := json.Marshal(map[string]any{"copy": cdmiRoot() + src})
		return diskDo(t, http.MethodPut, disk, cdmiObjectHeader(), b)
	}
	other, _ := exportedContainer(t, 2*diskMiB)
	resp2, out2 := copyOnto(other + diskName)
	assert.Equal(t, http.StatusConflict, resp2.StatusCode, "another size: %s", out2)
	plain := "/" + uniq("plain") + "/"
	resp, pc := cdmiPut(t, plain, map[string]any{})
	require.Equal(t, http.StatusCreated, resp.StatusCode, pc)
	defer cdmiDelete(t, plain+"v")
	defer cdmiDelete(t, plain)
	r3, o3 := diskDo(t, http.MethodPut, plain+"v", http.Header{"Content-Type": {"application/octet-stream"}}, []byte("stored"))
	require.Less(t, r3.StatusCode, 300, "%s", o3)
	resp2, out2 = copyOnto(plain + "v")
	assert.Equal(t, http.StatusConflict, resp2.StatusCode, "a stored value: %s", out2)
	assert.Equal(t, after, readRange(t, disk, 0, 8192), "the refused copies wrote nothing")

	resp2, out2 = copyOnto(path + "cdmi_snapshots/good/" + diskName)
	require.Equal(t, http.StatusNoContent, resp2.StatusCode, "%s", out2)
	assert.Equal(t, before, readRange(t, disk, 0, 8192), "the snapshot's bytes are back")
}
