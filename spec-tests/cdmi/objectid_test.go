package cdmi_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// crc16ARC is CRC-16 with polynomial 0x8005, reflected input and output,
// init 0 (CDMI 1.1.1 §5.11, ISO 14701), computed here independently of the
// server's code.
func crc16ARC(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001 // 0x8005 reflected
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// checkID validates an object ID's text form against CDMI 1.1.1 §5.11:
// hex, byte 0 zero, enterprise number in bytes 1-3 (not 0), byte 4 zero,
// byte 5 the full length, bytes 6-7 the CRC over the whole ID with the
// CRC bytes zeroed, at most 40 bytes.
func checkID(id string) error {
	b, err := hex.DecodeString(id)
	if err != nil {
		return fmt.Errorf("object ID %q is not Base16: %w", id, err)
	}
	switch {
	case len(b) < 8 || len(b) > 40:
		return fmt.Errorf("object ID %q is %d bytes, want 8 to 40", id, len(b))
	case b[0] != 0 || b[4] != 0:
		return fmt.Errorf("object ID %q: reserved bytes 0 and 4 must be zero", id)
	case uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]) == 0:
		return fmt.Errorf("object ID %q: enterprise number 0 is reserved", id)
	case int(b[5]) != len(b):
		return fmt.Errorf("object ID %q: length byte says %d, ID has %d bytes", id, b[5], len(b))
	}
	got := binary.BigEndian.Uint16(b[6:8])
	z := append([]byte(nil), b...)
	z[6], z[7] = 0, 0
	if want := crc16ARC(z); got != want {
		return fmt.Errorf("object ID %q: CRC %04X, want %04X", id, got, want)
	}
	return nil
}

// The checker itself must be right before it judges the server: the
// CRC-16/ARC check value and the spec's own example IDs.
func TestObjectIDCheckerVectors(t *testing.T) {
	assert.Equal(t, uint16(0xBB3D), crc16ARC([]byte("123456789")))
	// CDMI 1.1.1 examples (enterprise number 32473).
	for _, id := range []string{
		"00007ED90010D891022876A8DE0BC0FD", "00007ED9001008C174ABCE6AC3287E5F",
		"00007ED900104E1D14771DC67C27BF8B", "00007ED90010512EB55A9304EAC5D4AA",
	} {
		assert.NoError(t, checkID(id))
	}
	assert.Error(t, checkID("00007ED90010D891022876A8DE0BC0FE"), "a flipped opaque bit must break the CRC")
	assert.Error(t, checkID("zz"))
}

// CDMI 1.1.1 §5.10, §5.11: every object has a well-formed ID and is
// reachable at <root>/cdmi_objectid/<ID>, containers with a trailing slash
// and their children below them.
func TestObjectIDAccess(t *testing.T) {
	c := testContainer(t)
	_, cont := get(t, c, ctContainer)
	cid := cont.str("objectID")
	require.NoError(t, checkID(cid))
	o := putObject(t, c+"obj.txt", map[string]any{"value": "by id", "mimetype": "text/plain"})
	oid := o.str("objectID")
	require.NoError(t, checkID(oid))
	assert.NotEqual(t, cid, oid)

	byID := rootURL(t) + "cdmi_objectid/"
	_, got := get(t, byID+oid, ctObject)
	assert.Equal(t, oid, got.str("objectID"))
	assert.Equal(t, "by id", got.str("value"))
	// Base16 text is case-insensitive (§5.11).
	_, got = get(t, byID+strings.ToLower(oid), ctObject)
	assert.Equal(t, oid, strings.ToUpper(got.str("objectID")))

	_, got = get(t, byID+cid+"/", ctContainer)
	assert.Equal(t, cid, got.str("objectID"))
	assert.Equal(t, ctContainer, got.str("objectType"))
	_, got = get(t, byID+cid+"/obj.txt", ctObject)
	assert.Equal(t, oid, got.str("objectID"))

	// The root container and the system containers have IDs too.
	_, root := get(t, rootURL(t), ctContainer)
	require.NoError(t, checkID(root.str("objectID")))
	_, got = get(t, byID+root.str("objectID")+"/", ctContainer)
	assert.Equal(t, root.str("objectID"), got.str("objectID"))

	// Capability and domain objects are objects too (§5.10: "every
	// object"), containers of the capability and domain trees.
	for _, tc := range []struct{ u, ct string }{
		{rootURL(t) + "cdmi_capabilities/", ctCapability},
		{rootURL(t) + "cdmi_capabilities/dataobject/", ctCapability},
		{rootURL(t) + "cdmi_domains/", ctDomain},
	} {
		_, o := get(t, tc.u, tc.ct)
		require.NoError(t, checkID(o.str("objectID")), tc.u)
		_, got := get(t, byID+o.str("objectID")+"/", tc.ct)
		assert.Equal(t, tc.ct, got.str("objectType"), tc.u)
		assert.Equal(t, o.str("objectID"), got.str("objectID"), tc.u)
	}

	// Non-CDMI GET by ID returns the value itself (§6.3).
	resp, body := getRaw(t, byID+oid, nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, "by id", string(body))

	// Update and delete by ID (§8.4, §8.5).
	resp, body = harness.Do(t, http.MethodPut, byID+oid, hdr(ctObject, ""), jsonBody(t, map[string]any{"value": "changed"}))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	_, got = get(t, c+"obj.txt", ctObject)
	assert.Equal(t, "changed", got.str("value"))
	resp, body = harness.Do(t, http.MethodDelete, byID+oid, hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent)
	assert.Equal(t, http.StatusNotFound, status(t, c+"obj.txt", hdr("", ctObject)))
	assert.Equal(t, http.StatusNotFound, status(t, byID+oid, hdr("", ctObject)))
}

// Bad object IDs are client errors, never 500s (§5.11 defines the format).
func TestObjectIDBad(t *testing.T) {
	byID := rootURL(t) + "cdmi_objectid/"
	for _, id := range []string{
		"nothex!", "00", "00007ED90010D891022876A8DE0BC0FE", // CRC wrong
		strings.Repeat("00", 41), "00007ED90010D891022876A8DE0BC0F", // odd length
	} {
		resp, body := harness.Do(t, http.MethodGet, byID+id, hdr("", ctObject), nil)
		expect4xx(t, resp, body, http.StatusBadRequest, http.StatusNotFound)
	}
	// A well-formed ID nobody holds: 404.
	resp, body := harness.Do(t, http.MethodGet, byID+"00007ED90010D891022876A8DE0BC0FD", hdr("", ctObject), nil)
	expect4xx(t, resp, body, http.StatusNotFound)
}
