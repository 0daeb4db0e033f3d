package cdmi_test

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// userMeta drops the cdmi_ items (system metadata) from a metadata map.
func userMeta(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if !strings.HasPrefix(k, "cdmi_") {
			out[k] = v
		}
	}
	return out
}

// CDMI 1.1.1 §16.2, §16.6: user metadata round trips; a PUT with a
// metadata field replaces all user metadata; ?metadata:<name> adds,
// updates or (when absent from the body) removes single items.
func TestUserMetadata(t *testing.T) {
	c := testContainer(t)
	for _, tc := range []struct{ u, ct string }{{c + "obj", ctObject}, {c + "sub/", ctContainer}} {
		first := map[string]any{"colour": "red", "utf": "grüße", "empty": "", "@user": "test"}
		resp, body := harness.Do(t, http.MethodPut, tc.u, hdr(tc.ct, tc.ct), jsonBody(t, map[string]any{"metadata": first}))
		expect(t, resp, body, http.StatusCreated)
		assert.Equal(t, first, userMeta(decode(t, body).meta()))
		_, o := get(t, tc.u, tc.ct)
		assert.Equal(t, first, userMeta(o.meta()))

		// Replace all.
		resp, body = harness.Do(t, http.MethodPut, tc.u, hdr(tc.ct, ""), jsonBody(t, map[string]any{"metadata": map[string]any{"shape": "square"}}))
		expect(t, resp, body, http.StatusNoContent, http.StatusOK)
		_, o = get(t, tc.u, tc.ct)
		assert.Equal(t, map[string]any{"shape": "square"}, userMeta(o.meta()))

		// Add one, update one, ignore the items not named in the URI.
		resp, body = harness.Do(t, http.MethodPut, tc.u+"?metadata:size;metadata:shape", hdr(tc.ct, ""), jsonBody(t, map[string]any{
			"metadata": map[string]any{"size": "big", "shape": "round", "ignored": "x"},
		}))
		expect(t, resp, body, http.StatusNoContent, http.StatusOK)
		_, o = get(t, tc.u, tc.ct)
		assert.Equal(t, map[string]any{"shape": "round", "size": "big"}, userMeta(o.meta()))

		// Remove one: named in the URI, absent from the body. The "@" needs
		// escaping in the URI (§5.13.4 example).
		resp, body = harness.Do(t, http.MethodPut, tc.u+"?metadata:shape", hdr(tc.ct, ""), jsonBody(t, map[string]any{"metadata": map[string]any{}}))
		expect(t, resp, body, http.StatusNoContent, http.StatusOK)
		_, o = get(t, tc.u, tc.ct)
		assert.Equal(t, map[string]any{"size": "big"}, userMeta(o.meta()))
	}
}

// CDMI 1.1.1 §16.2: user metadata names shall not start with "cdmi_";
// §16.3, §16.5: storage system metadata and *_provided items are the
// server's. A request that tries is refused (or, for read-only system
// items, ignored) and the object keeps what it had.
func TestReservedMetadataNames(t *testing.T) {
	c := testContainer(t)
	u := c + "obj"
	putObject(t, u, map[string]any{"value": "abc", "metadata": map[string]any{"mine": "1"}})
	_, before := get(t, u, ctObject)

	for _, m := range []map[string]any{
		{"cdmi_mything": "x"},
		{"cdmi_": "x"},
		{"mine": "2", "cdmi_vendor_extension": "x"},
	} {
		resp, body := harness.Do(t, http.MethodPut, u, hdr(ctObject, ""), jsonBody(t, map[string]any{"metadata": m}))
		expect4xx(t, resp, body, http.StatusBadRequest)
		resp, body = harness.Do(t, http.MethodPut, c+"new-"+uniq("m"), hdr(ctObject, ctObject), jsonBody(t, map[string]any{"value": "x", "metadata": m}))
		expect4xx(t, resp, body, http.StatusBadRequest)
	}
	// System items: refused or ignored, never stored as sent.
	for _, m := range []map[string]any{{"cdmi_size": "999"}, {"cdmi_owner": "mallory"}, {"cdmi_ctime": "2000-01-01T00:00:00.000000Z"}, {"cdmi_hash": "00"}} {
		resp, body := harness.Do(t, http.MethodPut, u+"?metadata:"+firstKey(m), hdr(ctObject, ""), jsonBody(t, map[string]any{"metadata": m}))
		if resp.StatusCode >= 300 {
			expect4xx(t, resp, body, http.StatusBadRequest)
		}
		_, o := get(t, u, ctObject)
		assert.NotEqual(t, m[firstKey(m)], o.meta()[firstKey(m)], "%v must not be stored as the client sent it", m)
	}
	_, after := get(t, u, ctObject)
	assert.Equal(t, userMeta(before.meta()), userMeta(after.meta()))
	assert.Equal(t, "abc", after.str("value"))
}

func firstKey(m map[string]any) string {
	for k := range m {
		return k
	}
	return ""
}

// parseTime checks CDMI 1.1.1 §5.14: ISO 8601 extended, UTC, Z, a "."
// before the fractional seconds.
func parseTime(t *testing.T, name, v string) time.Time {
	t.Helper()
	ts, err := time.Parse("2006-01-02T15:04:05.999999999Z", v)
	require.NoError(t, err, "%s = %q is not a CDMI time (§5.14)", name, v)
	assert.Contains(t, v, ".", "%s: full precision with a '.' separator (§5.14)", name)
	return ts
}

// CDMI 1.1.1 §16.3 Table 118: the storage system generates cdmi_size,
// cdmi_ctime, cdmi_atime, cdmi_mtime, cdmi_acount, cdmi_mcount and
// cdmi_owner, and keeps them current.
func TestStorageSystemMetadata(t *testing.T) {
	c := testContainer(t)
	u := c + "obj"
	before := time.Now().UTC().Add(-time.Minute)
	putObject(t, u, map[string]any{"value": "hello"})
	_, o := get(t, u+"?metadata", ctObject)
	m := o.meta()
	assert.Equal(t, "5", m["cdmi_size"])
	assert.NotEmpty(t, m["cdmi_owner"])
	ctime := parseTime(t, "cdmi_ctime", asString(m["cdmi_ctime"]))
	assert.True(t, ctime.After(before), "cdmi_ctime %v", ctime)
	parseTime(t, "cdmi_atime", asString(m["cdmi_atime"]))
	mtime := parseTime(t, "cdmi_mtime", asString(m["cdmi_mtime"]))
	mcount, err := strconv.Atoi(asString(m["cdmi_mcount"]))
	require.NoError(t, err, "cdmi_mcount %v", m["cdmi_mcount"])
	acount, err := strconv.Atoi(asString(m["cdmi_acount"]))
	require.NoError(t, err, "cdmi_acount %v", m["cdmi_acount"])

	// A value read counts as an access; an update as a modification.
	getRaw(t, u, nil)
	time.Sleep(5 * time.Millisecond)
	putRaw(t, u, "text/plain", []byte("hello, world"))
	_, o = get(t, u+"?metadata", ctObject)
	m = o.meta()
	assert.Equal(t, "12", m["cdmi_size"])
	m2, _ := strconv.Atoi(asString(m["cdmi_mcount"]))
	assert.Greater(t, m2, mcount, "cdmi_mcount counts modifications")
	a2, _ := strconv.Atoi(asString(m["cdmi_acount"]))
	assert.Greater(t, a2, acount, "cdmi_acount counts accesses")
	assert.True(t, parseTime(t, "cdmi_mtime", asString(m["cdmi_mtime"])).After(mtime), "cdmi_mtime moves on update")
	assert.Equal(t, ctime, parseTime(t, "cdmi_ctime", asString(m["cdmi_ctime"])), "cdmi_ctime stays")

	// Containers carry them too.
	_, co := get(t, c+"?metadata", ctContainer)
	for _, k := range []string{"cdmi_ctime", "cdmi_atime", "cdmi_mtime", "cdmi_owner"} {
		assert.Contains(t, co.meta(), k)
	}
}

func asString(v any) string { s, _ := v.(string); return s }

// hashFor maps a cdmi_value_hash designator (CDMI 1.1.1 §16.4: ALGORITHM
// LENGTH, "SHA160" for SHA-1, "SHA256" for SHA-2) to a hash the test
// computes itself.
func hashFor(designator string) hash.Hash {
	switch strings.ToUpper(designator) {
	case "SHA160", "SHA1":
		return sha1.New()
	case "SHA224":
		return sha256.New224()
	case "SHA256":
		return sha256.New()
	case "SHA384":
		return sha512.New384()
	case "SHA512":
		return sha512.New()
	case "MD5", "MD5128":
		return md5.New()
	}
	return nil
}

// CDMI 1.1.1 §16.4 cdmi_value_hash, §16.3 cdmi_hash, §16.5: an object
// asking for a hash algorithm the capability lists gets cdmi_hash (Base16
// of the value's digest, kept current on update) and the provided
// algorithm echoed as cdmi_value_hash_provided.
func TestValueHash(t *testing.T) {
	c := testContainer(t)
	algos, _ := capsOf(t, c, ctContainer)["cdmi_value_hash"].([]any)
	if len(algos) == 0 {
		t.Skip("the container capabilities list no cdmi_value_hash algorithm (§12.1.5): hashing not offered")
	}
	tested := 0
	for _, a := range algos {
		name, _ := a.(string)
		h := hashFor(name)
		if h == nil {
			continue
		}
		tested++
		u := c + "h-" + name
		value := []byte("The quick brown fox " + name)
		putObject(t, u, map[string]any{"value": string(value), "metadata": map[string]any{"cdmi_value_hash": name}})
		h.Write(value)
		_, o := get(t, u+"?metadata", ctObject)
		assert.True(t, strings.EqualFold(hex.EncodeToString(h.Sum(nil)), asString(o.meta()["cdmi_hash"])), "%s: cdmi_hash %v", name, o.meta()["cdmi_hash"])
		assert.Equal(t, name, o.meta()["cdmi_value_hash_provided"], "data system metadata echoed as _provided (§16.5)")

		next := []byte("changed by a plain PUT")
		putRaw(t, u, "text/plain", next)
		h.Reset()
		h.Write(next)
		_, o = get(t, u+"?metadata:cdmi_hash", ctObject)
		assert.True(t, strings.EqualFold(hex.EncodeToString(h.Sum(nil)), asString(o.meta()["cdmi_hash"])), "%s after update: cdmi_hash %v", name, o.meta()["cdmi_hash"])
	}
	require.NotZero(t, tested, "no known algorithm among %v", algos)

	// Inherited from the container: §16.4 "Data system metadata is
	// inherited from parent objects to any children", and §16.3 cdmi_hash
	// is present when cdmi_value_hash "for the object or a parent object"
	// asks for it.
	sub := c + "hashed/"
	mkcontainer(t, sub, map[string]any{"metadata": map[string]any{"cdmi_value_hash": algos[0]}})
	putRaw(t, sub+"child", "text/plain", []byte("abc"))
	_, o := get(t, sub+"child?metadata", ctObject)
	h := hashFor(algos[0].(string))
	if h != nil {
		h.Write([]byte("abc"))
		assert.True(t, strings.EqualFold(hex.EncodeToString(h.Sum(nil)), asString(o.meta()["cdmi_hash"])), "inherited hash: %v", o.meta()["cdmi_hash"])
	}
}

// CDMI 1.1.1 §16.4, §16.5: data system metadata the capabilities grant
// are accepted and their provided values reported as <name>_provided.
func TestDataSystemMetadataProvided(t *testing.T) {
	c := testContainer(t)
	caps := capsOf(t, c, ctContainer)
	tried := 0
	for name, val := range map[string]string{
		"cdmi_data_redundancy": "2", "cdmi_immediate_redundancy": "true", "cdmi_infrastructure_redundancy": "1",
		"cdmi_data_dispersion": "0", "cdmi_latency": "100", "cdmi_throughput": "1000000", "cdmi_geographic_placement": `["DE"]`,
	} {
		if v, ok := caps[name]; !ok || v == "" || v == "false" {
			continue
		}
		tried++
		u := c + name
		putObject(t, u, map[string]any{"value": "x", "metadata": map[string]any{name: val}})
		_, o := get(t, u+"?metadata", ctObject)
		assert.Equal(t, val, o.meta()[name])
		assert.Contains(t, o.meta(), name+"_provided")
	}
	if tried == 0 {
		t.Log("no data system metadata beyond cdmi_value_hash is granted; TestValueHash covers _provided")
	}
}
