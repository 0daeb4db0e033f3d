package cdmi

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// checkMetadata validates metadata a client sends (§16): user items may not
// use the cdmi_ prefix, except the data system metadata this server acts on
// (cdmi_acl, cdmi_value_hash, cdmi_assignedsize).
func checkMetadata(m map[string]any) error {
	if len(m) > maxMetadataItems {
		return invalidf("metadata: %d items, at most %d", len(m), maxMetadataItems)
	}
	for k, v := range m {
		if k == "" {
			return invalidf("metadata: empty name")
		}
		b, _ := json.Marshal(v)
		if len(k)+len(b) > maxMetadataSize {
			return invalidf("metadata %q: larger than %d bytes", k, maxMetadataSize)
		}
		if !strings.HasPrefix(k, "cdmi_") {
			continue
		}
		switch k {
		case "cdmi_acl":
			if _, err := parseACL(v); err != nil {
				return invalidf("metadata: %v", err)
			}
		case "cdmi_assignedsize":
			// §16.4 Table 35: the bytes a container's exports report (the
			// size of the volume behind an OCCI export), a JSON string.
			n, ok := v.(string)
			if _, err := strconv.ParseUint(n, 10, 63); !ok || err != nil {
				return invalidf("metadata: cdmi_assignedsize must be a string holding a number of bytes")
			}
		case "cdmi_value_hash":
			alg, ok := v.(string)
			if !ok {
				return invalidf("metadata: cdmi_value_hash must be a string naming an algorithm")
			}
			if _, err := newHash(alg); err != nil {
				return err
			}
		default:
			return invalidf("metadata %q: names starting with cdmi_ are reserved for the storage system", k)
		}
	}
	return nil
}

// storageSystemItems are the metadata items of §16.3 (Table 118) the
// server maintains. "Attempts by a client to update" them "shall be
// ignored": a client writing back what it read (read-modify-write) sends
// them all. cdmi_owner (changed only by a privileged owner or
// administrator, not supported here) and the cdmi_*_provided items of
// §16.5 (Table 120) are ignored the same way.
var storageSystemItems = map[string]bool{
	"cdmi_size": true, "cdmi_ctime": true, "cdmi_atime": true, "cdmi_mtime": true,
	"cdmi_acount": true, "cdmi_mcount": true, "cdmi_hash": true, "cdmi_owner": true,
}

// withoutIgnored is m without the items a client may send but not set
// (storageSystemItems, cdmi_*_provided); m itself is left alone.
func withoutIgnored(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if storageSystemItems[k] || strings.HasPrefix(k, "cdmi_") && strings.HasSuffix(k, "_provided") {
			continue
		}
		out[k] = v
	}
	return out
}

// mergeMetadata applies given metadata to existing: with names (from
// ?metadata:<name>) only those items change (absent ones are removed);
// otherwise the user items are replaced, keeping data system items not given.
func mergeMetadata(old, given map[string]any, names []string) map[string]any {
	out := map[string]any{}
	if len(names) > 0 {
		for k, v := range old {
			out[k] = v
		}
		for _, n := range names {
			if v, ok := given[n]; ok {
				out[n] = v
			} else {
				delete(out, n)
			}
		}
		return out
	}
	for k, v := range old {
		if strings.HasPrefix(k, "cdmi_") {
			out[k] = v
		}
	}
	for k, v := range given {
		out[k] = v
	}
	return out
}

// inheritedACL is the ACL a new object gets from its parent (§16.1.4).
// db is the transaction in progress: with SQLite's one connection, a
// query outside it would wait for it forever.
func (s *Service) inheritedACL(ctx context.Context, db *gorm.DB, parent *object, isContainer bool) []any {
	if parent == nil {
		var err error
		if parent, err = s.byID(ctx, db, s.rootID); err != nil {
			return nil
		}
	}
	pacl, err := parseACL(parent.metadata()["cdmi_acl"])
	if err != nil {
		return defaultObjectACL()
	}
	if acl := inheritACL(pacl, isContainer); len(acl) > 0 {
		return renderACL(acl)
	}
	// Nothing inheritable above: rather than an object no one may use
	// (§16.1.6 denies all on an empty ACL), start from the default ACL.
	return defaultObjectACL()
}

// inheritedValueHash finds cdmi_value_hash on the nearest container above.
func (s *Service) inheritedValueHash(ctx context.Context, p *object) (string, error) {
	for depth := 0; p != nil && depth < 4096; depth++ {
		if alg, ok := p.metadata()["cdmi_value_hash"].(string); ok && alg != "" {
			return alg, nil
		}
		if p.ParentID == "" {
			return "", nil
		}
		np, err := s.cachedByID(ctx, s.db, p.ParentID) // walked by the request's path
		if err != nil {
			return "", err
		}
		p = np
	}
	return "", nil
}

// writeMask is the ACL permission an update needs (§16.1.5): the value
// needs WRITE_OBJECT, metadata WRITE_METADATA, the ACL itself WRITE_ACL.
func writeMask(value bool, meta map[string]any) uint32 {
	var m uint32
	if value {
		m |= maskWrite
	}
	if meta != nil {
		m |= maskWriteMeta
		if _, ok := meta["cdmi_acl"]; ok {
			m |= maskWriteACL
		}
	}
	if m == 0 {
		m = maskWriteAttrs
	}
	return m
}

// renderMetadata merges user and data system metadata with the storage
// system metadata of §16.3, filtered by metadata:<prefix> selections.
func (s *Service) renderMetadata(ctx context.Context, db *gorm.DB, o *object, prefixes []string) (map[string]any, error) {
	m := o.metadata()
	if acl := o.decoded().acl; acl != nil {
		// Stored as the client sent it; answered in §16.1.9's hex form.
		m["cdmi_acl"] = renderACL(acl)
	}
	// Hash is "<algorithm>:<hex>": the algorithm actually used (the
	// object's or an ancestor's cdmi_value_hash) is reported as provided.
	if alg, sum, ok := strings.Cut(o.Hash, ":"); ok && o.Type == typeDataObject {
		m["cdmi_value_hash_provided"] = alg
		m["cdmi_hash"] = sum
	}
	size := o.Size
	switch o.Type {
	case typeContainer, typeQueue:
		// A container's size is its subtree's; a queue's is the bytes its
		// enqueued values consume (§16.3 Table 118: cdmi_size is "the
		// number of bytes consumed by the object").
		var err error
		if size, err = s.subtreeSize(ctx, db, o.ObjectID); err != nil {
			return nil, err
		}
	}
	m["cdmi_size"] = strconv.FormatInt(size, 10)
	m["cdmi_ctime"] = cdmiTime(o.CTime)
	atime, acount := s.accesses.merged(o) // with the accesses not written yet
	m["cdmi_atime"] = cdmiTime(atime)
	m["cdmi_mtime"] = cdmiTime(o.MTime)
	m["cdmi_acount"] = strconv.FormatInt(acount, 10)
	m["cdmi_mcount"] = strconv.FormatInt(o.MCount, 10)
	m["cdmi_owner"] = o.Owner
	for k := range m {
		if !metadataWanted(prefixes, k) {
			delete(m, k)
		}
	}
	return m, nil
}
