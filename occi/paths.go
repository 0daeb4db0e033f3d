package occi

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// One rule for the paths a client chooses: an entity's location (PUT,
// GFD.223 §10.2), an inline link's self (GFD.229 §4.2, "self" of a Link),
// a user mixin's location (POST on the query interface, GFD.223 §9.3;
// GFD.229 §4.1 "location"; GFD.226 §3.2 "location"). The text and JSON
// renderings reach it through the same service calls.
//
// GFD.223 §4 ("Namespace") binds kinds and mixins to URL paths, each
// location unique "within the service provider's URL namespace"; GFD.185
// §3.3.1 ("Resource instance URL Name-space Hierarchy and Location") makes
// location paths end in '/', and GFD.185 §2.2 aligns the rendering with
// RFC 3986 (GFD.229 §4.4: a location is a URI-reference): a location is an RFC 3986 §3.3 path, segments of pchar
// (unreserved, sub-delims, ':', '@' and percent-encoded octets). A
// location is malformed (400) when it
//   - is not an absolute path, or is longer than the store keeps;
//   - holds a character a path may not (space, quote, a raw non-ASCII
//     byte: §2, §3.3) or a '%' not followed by two hex digits (§2.1);
//   - percent-encodes an unreserved character ("%2e", "%63"): §2.3 and
//     §6.2.2.2 make it the same URI as the plain character, so "/a/.%2e"
//     would be "/a/.." and "/%63dmi" would be "/cdmi"; send them plain;
//   - percent-encodes '/' (a segment would hold a delimiter), a control
//     character (NUL included), or bytes that are not UTF-8 (overlong
//     forms included), which no rendering carries back as text;
//   - has an empty segment ("//"), a "." or ".." segment (§3.3, §5.2.4:
//     dot segments are resolved away, the location would be another
//     one), or a segment longer than 255 bytes.
//
// A well-formed location is refused with 409 when another part of the
// server owns it (the namespace is shared, and a location must be unique
// in it, GFD.223 §4): the CDMI root and below (DESIGN: CDMI owns its prefix),
// the operator endpoints (ReservedPaths), the query interface (/-/ and
// /.well-known/org/ogf/occi/, GFD.223 §9) and a category's location.

// checkPath applies the syntax part of the rule; collection says whether
// the path names a collection (a mixin's location, which ends in "/").
func checkPath(what, p string, collection bool) error {
	if len(p) > maxLocationBytes {
		return kind.Errorf(kind.Invalid, "%s is %d bytes long; at most %d are kept", what, len(p), maxLocationBytes)
	}
	if !strings.HasPrefix(p, "/") {
		return kind.Errorf(kind.Invalid, "%s %q must be an absolute path on this server", what, clip(p))
	}
	if collection != strings.HasSuffix(p, "/") {
		if collection {
			return kind.Errorf(kind.Invalid, "%s %s must end in /", what, clip(p))
		}
		return kind.Errorf(kind.Invalid, "%s %s must not end in / (a path ending in / is a collection)", what, clip(p))
	}
	segs := strings.Split(strings.TrimSuffix(p[1:], "/"), "/")
	if p == "/" {
		segs = nil
	}
	for _, seg := range segs {
		if err := checkSegment(seg); err != nil {
			return kind.Errorf(kind.Invalid, "%s %s: %v", what, clip(p), err)
		}
	}
	return nil
}

// checkSegment checks one path segment, escaped as sent.
func checkSegment(seg string) error {
	if seg == "" {
		return fmt.Errorf("empty segment (two slashes in a row); RFC 3986 §3.3")
	}
	if len(seg) > maxSegmentBytes {
		return fmt.Errorf("a segment is %d bytes long; this server keeps at most %d", len(seg), maxSegmentBytes)
	}
	if seg == "." || seg == ".." {
		return fmt.Errorf("%q segment: dot segments are resolved away, not locations (RFC 3986 §5.2.4)", seg)
	}
	var dec []byte
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			if !isPchar(c) {
				return fmt.Errorf("character %q is not allowed in a path; percent-encode it (RFC 3986 §3.3)", c)
			}
			dec = append(dec, c)
			continue
		}
		if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
			return fmt.Errorf("'%%' must be followed by two hex digits (RFC 3986 §2.1)")
		}
		b := unhex(seg[i+1])<<4 | unhex(seg[i+2])
		switch {
		case isUnreserved(b):
			return fmt.Errorf("%s encodes the unreserved %q, the same URI as the plain character (RFC 3986 §2.3, §6.2.2.2); send it plain", seg[i:i+3], b)
		case b == '/':
			return fmt.Errorf("%%2F would put a '/' inside a segment (RFC 3986 §2.2)")
		case b < 0x20 || b == 0x7f:
			return fmt.Errorf("%s encodes a control character", seg[i:i+3])
		}
		dec = append(dec, b)
		i += 2
	}
	if !utf8.Valid(dec) {
		return fmt.Errorf("its percent-encoded bytes are not UTF-8 (RFC 3629)")
	}
	return nil
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// isPchar is RFC 3986's pchar without pct-encoded: unreserved, sub-delims,
// ':' and '@'.
func isPchar(c byte) bool { return isUnreserved(c) || strings.IndexByte("!$&'()*+,;=:@", c) >= 0 }

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// queryPaths are the query interface's locations (GFD.223 §6).
var queryPaths = []string{"/-", "/.well-known/org/ogf/occi"}

// owner names what owns p when another part of the server does: the
// query interface, the operator endpoints, or a prefix given in
// Config.Reserved (the CDMI root); "" when p is free for OCCI.
func (s *Service) owner(p string) string {
	under := func(root string) bool {
		root = strings.TrimSuffix(root, "/")
		return p == root || strings.HasPrefix(p, root+"/")
	}
	for _, r := range queryPaths {
		if under(r) {
			return "the query interface (GFD.223 §9)"
		}
	}
	if p == "/.well-known" || strings.HasPrefix(p, "/.well-known/") {
		return "well-known URIs (RFC 8615)"
	}
	for _, r := range s.reserved {
		if under(r) {
			return "another protocol served here (" + r + ")"
		}
	}
	if Reserved(p) {
		return "the server's operator endpoints (" + strings.Join(ReservedPaths, ", ") + ")"
	}
	return ""
}

// checkLocation applies the whole rule to a location a client chose:
// 400 when malformed, 409 when another part of the server owns it.
func (o *op) checkLocation(what, p string, collection bool) error {
	if err := checkPath(what, p, collection); err != nil {
		return err
	}
	if who := o.s.owner(p); who != "" {
		return kind.Errorf(kind.Conflict, "%s %s is reserved for %s", what, p, who)
	}
	return nil
}
