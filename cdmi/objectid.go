package cdmi

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Object IDs follow CDMI 1.1.1 §5.10 (Figure 6): byte 0 reserved (zero),
// bytes 1-3 the IANA private enterprise number, byte 4 reserved (zero),
// byte 5 the length of the whole ID, bytes 6-7 a CRC-16 over the whole ID
// computed with the CRC bytes set to zero, then opaque bytes. At most 40
// bytes. The text form is upper-case hex.

const (
	maxIDLen    = 40
	idHeaderLen = 8
	// idOpaqueLen makes 16-byte IDs like the spec's examples; 8 random
	// bytes are plenty to avoid collisions (the database's primary key
	// catches the rest).
	idOpaqueLen = 8
)

// crc16ARC is CRC-16/ARC: polynomial 0x8005 reflected (0xA001), initial
// value 0, no final XOR. Its check value for "123456789" is 0xBB3D.
func crc16ARC(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// newObjectID returns a fresh ID for the enterprise number.
func newObjectID(enterprise uint32) (string, error) {
	if enterprise > 0xFFFFFF {
		return "", fmt.Errorf("enterprise number %d does not fit the 3 bytes of an object ID", enterprise)
	}
	b := make([]byte, idHeaderLen+idOpaqueLen)
	b[1], b[2], b[3] = byte(enterprise>>16), byte(enterprise>>8), byte(enterprise)
	b[5] = byte(len(b))
	if _, err := rand.Read(b[idHeaderLen:]); err != nil {
		return "", fmt.Errorf("object ID: %w", err)
	}
	binary.BigEndian.PutUint16(b[6:8], crc16ARC(b))
	return strings.ToUpper(hex.EncodeToString(b)), nil
}

var errBadID = errors.New("malformed object ID")

// parseObjectID checks an ID's text form and layout and returns it in the
// canonical upper-case form.
func parseObjectID(s string) (string, error) {
	if len(s) < 2*idHeaderLen || len(s) > 2*maxIDLen || len(s)%2 != 0 {
		return "", fmt.Errorf("%w: %q must be 16 to 80 hex digits", errBadID, s)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q is not hex", errBadID, s)
	}
	if b[0] != 0 || b[4] != 0 {
		return "", fmt.Errorf("%w: %q: reserved bytes 0 and 4 must be zero", errBadID, s)
	}
	if int(b[5]) != len(b) {
		return "", fmt.Errorf("%w: %q: length byte says %d, ID has %d bytes", errBadID, s, b[5], len(b))
	}
	want := binary.BigEndian.Uint16(b[6:8])
	b[6], b[7] = 0, 0
	if got := crc16ARC(b); got != want {
		return "", fmt.Errorf("%w: %q: CRC is %04X, expected %04X", errBadID, s, want, got)
	}
	return strings.ToUpper(s), nil
}

// idEnterprise returns the enterprise number inside a valid ID.
func idEnterprise(id string) uint32 {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) < 4 {
		return 0
	}
	return uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
