package cdmi

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCRC16ARCCheckValue(t *testing.T) {
	// The catalogue check value of CRC-16/ARC.
	assert.Equal(t, uint16(0xBB3D), crc16ARC([]byte("123456789")))
}

// The example IDs printed in CDMI 1.1.1 (§9.6.9 and others) are real IDs of
// enterprise number 32473 with valid CRCs: they are test vectors for §5.10.
func TestSpecExampleIDs(t *testing.T) {
	ids := []string{
		"00007ED900104E1D14771DC67C27BF8B", // §9.6.9 example 1
		"00007ED9001008C174ABCE6AC3287E5F",
		"00007ED90010D891022876A8DE0BC0FD",
		"00007ED9001035E14BD1BA70C2EE98FC",
		"00007ED900103ADE9DE3A8D1CF5436A3",
	}
	if b, err := os.ReadFile("/work/shared/specs/cdmi-1.1.1.txt"); err == nil {
		// When the reference copy is at hand, take every example ID from it.
		for _, m := range regexp.MustCompile(`00007ED90010[0-9A-F]{20}`).FindAll(b, -1) {
			ids = append(ids, string(m))
		}
	}
	for _, id := range ids {
		got, err := parseObjectID(id)
		if assert.NoError(t, err, id) {
			assert.Equal(t, id, got)
			assert.Equal(t, uint32(32473), idEnterprise(id))
		}
	}
}

func TestNewObjectID(t *testing.T) {
	id, err := newObjectID(32473)
	require.NoError(t, err)
	assert.Len(t, id, 32)
	assert.Equal(t, "00007ED90010", id[:12], "§5.10: reserved, enterprise number, reserved, length")
	_, err = parseObjectID(id)
	assert.NoError(t, err)
	_, err = newObjectID(1 << 24)
	assert.Error(t, err)
}

func TestParseObjectIDRejects(t *testing.T) {
	for _, bad := range []string{
		"", "00", "00007ED900104E1D14771DC67C27BF8C", // CRC off by one bit
		"01007ED900104E1D14771DC67C27BF8B", // reserved byte 0
		"00007ED900114E1D14771DC67C27BF8B", // length byte wrong
		"00007ED900104E1D14771DC67C27BF8",  // odd length
		"zz007ED900104E1D14771DC67C27BF8B",
	} {
		_, err := parseObjectID(bad)
		assert.Error(t, err, bad)
	}
	long := make([]byte, 82)
	for i := range long {
		long[i] = '0'
	}
	_, err := parseObjectID(string(long))
	assert.Error(t, err)
}
