package linkage_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func putValue(t *testing.T, path, value string) {
	t.Helper()
	resp, out := diskDo(t, http.MethodPut, path, http.Header{"Content-Type": {"text/plain"}}, []byte(value))
	require.Less(t, resp.StatusCode, 300, "PUT %s: %s", path, out)
}

func getValue(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, out := diskDo(t, http.MethodGet, path, nil, nil)
	return resp.StatusCode, string(out)
}

// CDMI 1.1.1 clause 14: "A snapshot is a point-in-time copy (image) of a
// container and all of its contents, including subcontainers and all data
// objects and queue objects", without "the cdmi_snapshots child container
// or its contents". A snapshot of an exported container that holds other
// objects besides its disk copies them into cdmi_snapshots/<name>/ as they
// were; later changes do not show; a second snapshot holds no snapshots;
// the same name replaces the copies; and (clause 14) a CDMI copy from the
// snapshot restores a value.
func TestCDMISnapshotCopiesTheContainersContents(t *testing.T) {
	path, _ := exportedContainer(t, diskMiB)
	putValue(t, path+"notes.txt", "v1")
	resp, out := cdmiPut(t, path+"sub/", map[string]any{})
	require.Equal(t, http.StatusCreated, resp.StatusCode, out)
	putValue(t, path+"sub/a", "A")
	writeRange(t, path+diskName, 0, diskBytes(4096, 3))

	resp, out = cdmiPut(t, path, map[string]any{"snapshot": "one"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "a container with objects besides its disk is snapshotted: %v", out)
	putValue(t, path+"notes.txt", "v2")
	putValue(t, path+"sub/a", "B")

	snap := path + "cdmi_snapshots/one/"
	code, v := getValue(t, snap+"notes.txt")
	assert.Equal(t, http.StatusOK, code, v)
	assert.Equal(t, "v1", v, "the snapshot holds the value of its time")
	code, v = getValue(t, snap+"sub/a")
	assert.Equal(t, http.StatusOK, code, v)
	assert.Equal(t, "A", v, "and the subcontainers' contents")
	assert.Equal(t, diskBytes(4096, 3), readRange(t, snap+diskName, 0, 4096), "and the volume's bytes")
	_, v = getValue(t, path+"notes.txt")
	assert.Equal(t, "v2", v, "the source went on")

	resp, out = cdmiPut(t, path, map[string]any{"snapshot": "two"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, out)
	code, c := cdmiGet(t, path+"cdmi_snapshots/two/?children")
	require.Equal(t, http.StatusOK, code, c)
	assert.ElementsMatch(t, []any{diskName, "notes.txt", "sub/"}, c["children"], "no cdmi_snapshots in a snapshot")

	resp, out = cdmiPut(t, path, map[string]any{"snapshot": "one"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, out)
	_, v = getValue(t, snap+"notes.txt")
	assert.Equal(t, "v2", v, "Table 53: the same name replaces the snapshot, contents and all")

	// Restore from the second snapshot with a CDMI copy (clause 14).
	putValue(t, path+"notes.txt", "v3")
	body, _ := json.Marshal(map[string]any{"copy": cdmiRoot() + path + "cdmi_snapshots/two/notes.txt"})
	resp2, out2 := diskDo(t, http.MethodPut, path+"notes.txt", cdmiObjectHeader(), body)
	require.Less(t, resp2.StatusCode, 300, "%s", out2)
	_, v = getValue(t, path+"notes.txt")
	assert.Equal(t, "v2", v)

	code, msg := cdmiDelete(t, path)
	require.Equal(t, http.StatusNoContent, code, msg)
	code, _ = getValue(t, snap+"notes.txt")
	assert.Equal(t, http.StatusNotFound, code)
}
