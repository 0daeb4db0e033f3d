package cdmi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// ACLs follow CDMI 1.1.1 §16.1 (NFSv4 ACLs, RFC 3530): an ordered list of
// ALLOW/DENY entries, each with a "who", flags and a mask, given as hex
// strings or as comma-separated names.

type ace struct {
	Type  uint32
	Who   string
	Flags uint32
	Mask  uint32
}

const (
	aceAllow = 0x0
	aceDeny  = 0x1
	aceAudit = 0x2
	aceAlarm = 0x3

	flagObjectInherit    = 0x01
	flagContainerInherit = 0x02
	flagNoPropagate      = 0x04
	flagInheritOnly      = 0x08
	flagIdentifierGroup  = 0x40
	flagInherited        = 0x80

	maskRead         = 0x00000001 // READ_OBJECT, LIST_CONTAINER
	maskWrite        = 0x00000002 // WRITE_OBJECT, ADD_OBJECT
	maskAppend       = 0x00000004 // APPEND_DATA, ADD_SUBCONTAINER
	maskReadMeta     = 0x00000008
	maskWriteMeta    = 0x00000010
	maskExecute      = 0x00000020 // EXECUTE, TRAVERSE_CONTAINER
	maskDeleteChild  = 0x00000040 // DELETE_OBJECT, DELETE_SUBCONTAINER
	maskReadAttrs    = 0x00000080
	maskWriteAttrs   = 0x00000100
	maskWriteRet     = 0x00000200
	maskWriteRetHold = 0x00000400
	maskDelete       = 0x00010000
	maskReadACL      = 0x00020000
	maskWriteACL     = 0x00040000
	maskWriteOwner   = 0x00080000
	maskSynchronize  = 0x00100000
)

var aceTypeNames = map[string]uint32{"ALLOW": aceAllow, "DENY": aceDeny, "AUDIT": aceAudit, "ALARM": aceAlarm}

var aceFlagNames = map[string]uint32{
	"NO_FLAGS": 0, "OBJECT_INHERIT": flagObjectInherit, "CONTAINER_INHERIT": flagContainerInherit,
	"NO_PROPAGATE": flagNoPropagate, "INHERIT_ONLY": flagInheritOnly,
	"IDENTIFIER_GROUP": flagIdentifierGroup, "INHERITED": flagInherited,
}

var aceMaskNames = map[string]uint32{
	"READ_OBJECT": maskRead, "LIST_CONTAINER": maskRead,
	"WRITE_OBJECT": maskWrite, "ADD_OBJECT": maskWrite,
	"APPEND_DATA": maskAppend, "ADD_SUBCONTAINER": maskAppend,
	"READ_METADATA": maskReadMeta, "WRITE_METADATA": maskWriteMeta,
	"EXECUTE": maskExecute, "TRAVERSE_CONTAINER": maskExecute,
	"DELETE_OBJECT": maskDeleteChild, "DELETE_SUBCONTAINER": maskDeleteChild,
	"READ_ATTRIBUTES": maskReadAttrs, "WRITE_ATTRIBUTES": maskWriteAttrs,
	"WRITE_RETENTION": maskWriteRet, "WRITE_RETENTION_HOLD": maskWriteRetHold,
	"DELETE": maskDelete, "READ_ACL": maskReadACL, "WRITE_ACL": maskWriteACL,
	"WRITE_OWNER": maskWriteOwner, "SYNCHRONIZE": maskSynchronize,
	// Composite masks of §16.1.8's table (and §16.1.7 example 1:
	// READ_ALL is 0x09). §16.1.6's default ACL writes "READ", taken here
	// as READ_ALL.
	"ALL_PERMS": 0x001F07FF,
	"RW_ALL":    0x0006006F,
	"RW":        0x0000001F,
	"READ_ALL":  maskRead | maskReadMeta,
	"READ":      maskRead | maskReadMeta,
}

// parseBits reads a hex string ("0x1F") or a comma-separated list of names.
func parseBits(s string, names map[string]uint32, what string) (uint32, error) {
	s = strings.TrimSpace(s)
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		v, err := strconv.ParseUint(h, 16, 32)
		if err != nil {
			return 0, fmt.Errorf("%s %q: bad hex number", what, s)
		}
		return uint32(v), nil
	}
	var v uint32
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		bit, ok := names[part]
		if !ok {
			return 0, fmt.Errorf("%s %q: unknown name %q", what, s, part)
		}
		v |= bit
	}
	return v, nil
}

// parseACL validates a cdmi_acl value (a JSON array of ACE objects).
func parseACL(raw any) ([]ace, error) {
	b, _ := json.Marshal(raw)
	var items []map[string]any
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, fmt.Errorf("cdmi_acl must be a JSON array of ACE objects")
	}
	out := make([]ace, 0, len(items))
	for i, it := range items {
		str := func(k string) (string, error) {
			v, ok := it[k].(string)
			if !ok {
				return "", fmt.Errorf("cdmi_acl[%d]: %q must be a string", i, k)
			}
			return v, nil
		}
		var a ace
		t, err := str("acetype")
		if err != nil {
			return nil, err
		}
		if a.Type, err = parseBits(t, aceTypeNames, "acetype"); err != nil {
			return nil, fmt.Errorf("cdmi_acl[%d]: %v", i, err)
		}
		if a.Who, err = str("identifier"); err != nil {
			return nil, err
		}
		f, err := str("aceflags")
		if err != nil {
			return nil, err
		}
		if a.Flags, err = parseBits(f, aceFlagNames, "aceflags"); err != nil {
			return nil, fmt.Errorf("cdmi_acl[%d]: %v", i, err)
		}
		m, err := str("acemask")
		if err != nil {
			return nil, err
		}
		if a.Mask, err = parseBits(m, aceMaskNames, "acemask"); err != nil {
			return nil, fmt.Errorf("cdmi_acl[%d]: %v", i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func hexBits(v uint32) string { return fmt.Sprintf("0x%08X", v) }

// renderACL writes ACEs as §16.1.9 says responses carry them: acetype,
// aceflags and acemask as quoted hexadecimal strings with a leading "0x"
// (the text forms of §16.1.2 - §16.1.4 are accepted on input only).
func renderACL(acl []ace) []any {
	out := make([]any, 0, len(acl))
	for _, a := range acl {
		out = append(out, map[string]any{
			"acetype": fmt.Sprintf("0x%02X", a.Type), "identifier": a.Who,
			"aceflags": fmt.Sprintf("0x%02X", a.Flags), "acemask": hexBits(a.Mask),
		})
	}
	return out
}

// defaultRootACL is the ACL §16.1.6 has the server place on a root
// container created without one.
func defaultRootACL() []any {
	return []any{
		map[string]any{"acetype": "ALLOW", "identifier": "OWNER@", "aceflags": "OBJECT_INHERIT, CONTAINER_INHERIT", "acemask": "ALL_PERMS"},
		map[string]any{"acetype": "ALLOW", "identifier": "AUTHENTICATED@", "aceflags": "OBJECT_INHERIT, CONTAINER_INHERIT", "acemask": "READ_ALL"},
	}
}

// inheritACL computes a new child's ACL from its parent's (§16.1.4).
func inheritACL(parent []ace, childIsContainer bool) []ace {
	var out []ace
	for _, a := range parent {
		if a.Flags&flagNoPropagate != 0 {
			continue
		}
		switch {
		case childIsContainer && a.Flags&flagContainerInherit != 0:
			// Effective on the subcontainer; it keeps propagating.
			f := a.Flags&^flagInheritOnly | flagInherited
			out = append(out, ace{a.Type, a.Who, f, a.Mask})
		case childIsContainer && a.Flags&flagObjectInherit != 0:
			// Carried for the subcontainer's own objects only.
			out = append(out, ace{a.Type, a.Who, a.Flags | flagInheritOnly | flagInherited, a.Mask})
		case !childIsContainer && a.Flags&flagObjectInherit != 0:
			out = append(out, ace{a.Type, a.Who, flagInherited, a.Mask})
		}
	}
	return out
}

// Principal is who a request acts for: a user with its groups, or the
// anonymous caller. There is no authentication yet: every HTTP request acts
// as Administrator(). When authentication arrives, it fills a Principal and
// the ACL evaluation below does the rest.
type Principal struct {
	Name   string
	Groups []string
	Admin  bool // an administrator: matches ADMINISTRATOR@ and ADMINUSERS@
	Anon   bool // not authenticated: matches ANONYMOUS@, not AUTHENTICATED@
	// System marks the unauthenticated server-wide principal used while
	// there is no authentication: it acts as owner and administrator and is
	// not subject to ACLs, since no one could be told apart anyway.
	System bool
}

// Administrator is the principal every request acts for until
// authentication exists: the server's owner and administrator.
func Administrator() Principal {
	return Principal{Name: adminPrincipal, Admin: true, System: true}
}

// Access is a set of ACL permissions (§16.1.5, the acemask bits).
type Access uint32

// Permissions one may ask Service.Authorize about.
const (
	AccessRead          Access = maskRead      // READ_OBJECT, LIST_CONTAINER
	AccessWrite         Access = maskWrite     // WRITE_OBJECT, ADD_OBJECT
	AccessAppend        Access = maskAppend    // APPEND_DATA, ADD_SUBCONTAINER
	AccessReadMetadata  Access = maskReadMeta  // READ_METADATA
	AccessWriteMetadata Access = maskWriteMeta // WRITE_METADATA
	AccessDelete        Access = maskDelete    // DELETE
	AccessReadACL       Access = maskReadACL   // READ_ACL
	AccessWriteACL      Access = maskWriteACL  // WRITE_ACL
)

const adminPrincipal = "administrator"

// authorize evaluates an ACL for p wanting mask on an object owned by owner
// (§16.1.6): entries in order, DENY of any wanted bit refuses, ALLOW bits
// accumulate until they cover the request. When the list runs out
// undecided, only a root container's owner and administrators get in.
func authorize(p Principal, acl []ace, owner, group string, isRoot bool, want uint32) bool {
	if p.System {
		return true
	}
	var granted uint32
	for _, a := range acl {
		if a.Flags&flagInheritOnly != 0 {
			continue // only for propagation, never evaluated (§16.1.4)
		}
		if !p.matches(a, owner, group) {
			continue
		}
		switch a.Type {
		case aceDeny:
			if a.Mask&want&^granted != 0 {
				return false
			}
		case aceAllow:
			granted |= a.Mask
			if granted&want == want {
				return true
			}
		}
	}
	return isRoot && (p.Admin || p.Name == owner)
}

func (p Principal) matches(a ace, owner, group string) bool {
	switch a.Who {
	case "EVERYONE@":
		return true
	case "OWNER@":
		return p.Name == owner
	case "GROUP@":
		return p.inGroup(group)
	case "ANONYMOUS@":
		return p.Anon
	case "AUTHENTICATED@":
		return !p.Anon
	case "ADMINISTRATOR@", "ADMINUSERS@":
		return p.Admin
	}
	if a.Flags&flagIdentifierGroup != 0 {
		return p.inGroup(a.Who)
	}
	return p.Name == a.Who
}

func (p Principal) inGroup(g string) bool {
	for _, x := range p.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// allowed evaluates o's ACL for who wanting mask (§16.1.6); a refusal is
// of kind Forbidden.
func (s *Service) allowed(who Principal, o *object, mask uint32) error {
	var acl []ace
	if raw, ok := o.metadata()["cdmi_acl"]; ok {
		acl, _ = parseACL(raw)
	}
	if authorize(who, acl, o.Owner, "", o.ObjectID == s.rootID, mask) {
		return nil
	}
	return kind.Errorf(kind.Forbidden, "the ACL of %s does not grant this operation", o.ObjectID)
}
