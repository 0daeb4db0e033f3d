package cdmi

// IsObjectID tells whether s is an object ID of CDMI 1.1.1 §5.10's layout
// (length byte and CRC right). The linkage names the volumes it makes by
// object IDs, and takes only such names for its own when it sweeps a
// backend another program may share.
func IsObjectID(s string) bool {
	_, err := parseObjectID(s)
	return err == nil
}
