package occi

import (
	"regexp"
	"unicode/utf8"
)

// The OCCI category grammar (GFD.229 §4.1), in one place: the parsers,
// the catalogue and the service check terms, attribute names and schemes
// with these.

// grammar says what validTerm and validScheme accept, for messages.
const grammar = "a term is a letter or digit followed by letters, digits, '-', '_' or '.' (at most 255 bytes); " +
	"a scheme is an absolute URI (RFC 3986 §4.3) ending in # (at most 255 bytes)"

// Lengths the store keeps (migrations/0002_occi.go: size:255 for terms,
// schemes and attribute names, 1024 for a mixin's title, 760 for a
// location). They are checked here, before any store, so that SQLite
// (which does not enforce a column's size) and PostgreSQL (which does)
// give the same answer.
const (
	maxTermBytes     = 255
	maxSchemeBytes   = 255
	maxTitleBytes    = 1024
	maxLocationBytes = 760
	maxSegmentBytes  = 255
	maxKindIDBytes   = 255 // occi_entities.target_kind
)

// termRe is GFD.229's term: ( ALPHA | DIGIT ) *( ALPHA | DIGIT | "-" | "_" | "." ).
// Attribute names share it (their dots separate namespaces).
var termRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*$`)

// validTerm tells whether s is a category term.
func validTerm(s string) bool { return len(s) <= maxTermBytes && termRe.MatchString(s) }

// validAttrName tells whether s is an attribute name.
func validAttrName(s string) bool { return len(s) <= maxTermBytes && termRe.MatchString(s) }

// schemeRe is an absolute URI as RFC 3986 §4.3 writes one: a scheme
// ("ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )", §3.1), ":", then only
// characters a URI may hold (unreserved, reserved and '%', §2), ending in
// the "#" GFD.229 §4.1 asks of a category scheme. No space, no quote, no
// control character, no other "#".
var schemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]*#$`)

// validScheme tells whether s is a category scheme: an absolute URI
// ending in "#".
func validScheme(s string) bool { return len(s) <= maxSchemeBytes && schemeRe.MatchString(s) }

// titleProblem tells what is wrong with a category title ("" when nothing):
// it is kept in a column of maxTitleBytes, and holds no control character
// (the one rule for text values, see ctl).
func titleProblem(s string) string {
	switch {
	case len(s) > maxTitleBytes:
		return "is longer than 1024 bytes"
	case ctl(s) >= 0:
		return "holds a control character"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	return ""
}
