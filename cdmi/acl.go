package cdmi

import (
	"context"
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
	items, ok := aceObjects(raw)
	if !ok {
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &items); err != nil {
			return nil, fmt.Errorf("cdmi_acl must be a JSON array of ACE objects")
		}
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

// aceObjects is raw as the list of ACE objects it holds when it is one
// already (decoded JSON, or the server's own defaults), without the
// round trip through JSON that other values need.
func aceObjects(raw any) ([]map[string]any, bool) {
	list, ok := raw.([]any)
	if !ok {
		return nil, false
	}
	out := make([]map[string]any, len(list))
	for i, it := range list {
		if out[i], ok = it.(map[string]any); !ok {
			return nil, false
		}
	}
	return out, true
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

// defaultRootACL is the ACL the server places on the root container when
// it creates it. §16.1.6 asks for OWNER@ ALLOW ALL_PERMS and
// AUTHENTICATED@ ALLOW READ, both inheritable. The first is kept as it is:
// it is the inheritable default every object below starts from, so an
// object's owner (its creator) may do anything with it. The second is
// made NO_PROPAGATE and given ADD_OBJECT and ADD_SUBCONTAINER: any
// authenticated user may list the root and create objects in it, and
// nothing below the root is readable to other users unless its ACL says
// so. Inherited as §16.1.6 writes it, every authenticated user could read
// every tenant's objects (issue 10: a second tenant sees nothing).
func defaultRootACL() []any {
	return []any{
		map[string]any{"acetype": "ALLOW", "identifier": "OWNER@", "aceflags": "OBJECT_INHERIT, CONTAINER_INHERIT", "acemask": "ALL_PERMS"},
		map[string]any{"acetype": "ALLOW", "identifier": "AUTHENTICATED@", "aceflags": "NO_PROPAGATE",
			"acemask": "READ_ALL, ADD_OBJECT, ADD_SUBCONTAINER"},
	}
}

// defaultObjectACL is the ACL of an object created without one whose
// parent has nothing inheritable (CDMI 2.0 "ACL evaluation": OWNER@ ALLOW
// ALL_PERMS), rather than an empty ACL no one could use.
func defaultObjectACL() []any {
	return []any{
		map[string]any{"acetype": "ALLOW", "identifier": "OWNER@", "aceflags": "OBJECT_INHERIT, CONTAINER_INHERIT", "acemask": "ALL_PERMS"},
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
// anonymous caller. The server's wiring (Config.Principal) fills it from
// the authenticated request; ACL evaluation (§16.1.6) does the rest.
type Principal struct {
	Name   string   // the user: matches OWNER@ of what it created and ACEs naming it
	Groups []string // matched by ACEs with IDENTIFIER_GROUP (and GROUP@)
	// Admin is an administrator: it matches ADMINISTRATOR@ and
	// ADMINUSERS@, and it is not held to ACLs (issue 10: an admin sees and
	// touches everything). §16.1.6 would deny even an administrator on
	// an object whose ACL does not name it; an operator who could not
	// reach a tenant's objects could not run the server.
	Admin bool
	Anon  bool // not authenticated: matches ANONYMOUS@, not AUTHENTICATED@
	// System marks the server acting for itself (the linkage, start-up
	// work, a server without Config.Principal): owner and administrator,
	// not subject to ACLs.
	System bool
}

// Administrator is the server acting for itself: the owner of the root
// container and the system objects, not subject to ACLs.
func Administrator() Principal {
	return Principal{Name: adminPrincipal, Admin: true, System: true}
}

// OnBehalfOf is the server acting for p: what it creates is p's
// (cdmi_owner, OWNER@), and no ACL is evaluated. The linkage makes the
// container of an OCCI-first storage so, in a folder of the server's
// (the OCCI side has decided the caller may make it).
func OnBehalfOf(p Principal) Principal {
	p.System = true
	return p
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
// (§16.1.6): whether every wanted bit is in the effective mask.
func authorize(p Principal, acl []ace, owner, group string, isRoot bool, want uint32) bool {
	return effective(p, acl, owner, group, isRoot)&want == want
}

// allPerms is every permission bit (ALL_PERMS, §16.1.8).
const allPerms = 0x001F07FF

// effective is the set of permissions p has on an object (§16.1.6): the
// entries in order, each ALLOW granting its bits unless a DENY before it
// refused them, each DENY refusing the bits not granted yet. A request is
// granted when every bit it wants is in the result, which is the spec's
// walk (a DENY of a wanted bit not yet granted stops it; ALLOWs accumulate
// until they cover it) for every request at once. Bits the list leaves
// undecided go, on the root container only, to its owner and
// administrators. Administrators and the server itself have every bit.
func effective(p Principal, acl []ace, owner, group string, isRoot bool) uint32 {
	if p.System || p.Admin {
		return 0xFFFFFFFF
	}
	var granted, denied uint32
	for _, a := range acl {
		if a.Flags&flagInheritOnly != 0 {
			continue // only for propagation, never evaluated (§16.1.4)
		}
		if !p.matches(a, owner, group) {
			continue
		}
		switch a.Type {
		case aceDeny:
			denied |= a.Mask &^ granted
		case aceAllow:
			granted |= a.Mask &^ denied
		}
	}
	if isRoot && p.Name == owner && !p.Anon {
		granted |= allPerms &^ denied
	}
	return granted
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

// access is the effective mask of who on o (§16.1.6).
func (s *Service) access(who Principal, o *object) uint32 {
	if who.System || who.Admin {
		return 0xFFFFFFFF
	}
	if o.System && o.Type != typeContainer && !who.Anon {
		// The capability objects (§12: what the server offers) and the
		// server's domains are there for every authenticated user to
		// read; they carry no ACL and cannot be written.
		return maskRead | maskReadMeta | maskReadAttrs | maskExecute
	}
	return effective(who, o.decoded().acl, o.Owner, "", o.ObjectID == s.rootID)
}

// allowed evaluates o's ACL for who wanting mask (§16.1.6); a refusal is
// of kind Forbidden (§16.1.5: 403) and names nothing of the object.
func (s *Service) allowed(who Principal, o *object, mask uint32) error {
	if s.access(who, o)&mask == mask {
		return nil
	}
	return kind.Errorf(kind.Forbidden, "the object's ACL does not grant this operation (CDMI §16.1.6)")
}

// viewerAllowed is allowed for the context's principal (none: the server
// itself, allowed).
func (s *Service) viewerAllowed(ctx context.Context, o *object, mask uint32) error {
	who, ok := ctx.Value(viewerKey{}).(Principal)
	if !ok {
		return nil
	}
	return s.allowed(who, o, mask)
}

// readableSubtree is what of a subtree (rows below and including top) who
// may read: a copy takes nothing more (§16.1.5 READ_OBJECT), and nothing
// below a container it may not read.
func (s *Service) readableSubtree(who Principal, rows []object, top string) []object {
	if who.System || who.Admin {
		return rows
	}
	byID := make(map[string]*object, len(rows))
	for i := range rows {
		byID[rows[i].ObjectID] = &rows[i]
	}
	memo := map[string]bool{top: true}
	var readable func(id string) bool
	readable = func(id string) bool {
		if v, ok := memo[id]; ok {
			return v
		}
		o := byID[id]
		v := o != nil && s.access(who, o)&maskRead != 0 && readable(o.ParentID)
		memo[id] = v
		return v
	}
	out := rows[:0:0]
	for _, o := range rows {
		if readable(o.ObjectID) {
			out = append(out, o)
		}
	}
	return out
}

// hidden tells whether o is invisible to who: the ACL grants it nothing at
// all. Such an object is answered as if it did not exist (404), is not
// listed among its container's children and cannot be walked through, so
// that no one learns what others store. An object who has some permission
// on is there for it, and an operation its ACL does not grant is 403
// (§16.1.5). The root is always there.
func (s *Service) hidden(who Principal, o *object) bool {
	return o.ObjectID != s.rootID && s.access(who, o) == 0
}
