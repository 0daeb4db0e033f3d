package occi

import (
	"regexp"
	"strings"
)

// The OCCI category grammar (GFD.229 §4.1), in one place: the parsers,
// the catalogue and the service check terms, attribute names and schemes
// with these.

// grammar says what validTerm and validScheme accept, for messages.
const grammar = "a term is a letter or digit followed by letters, digits, '-', '_' or '.'; a scheme is an absolute URI ending in #"

// termRe is GFD.229's term: ( ALPHA | DIGIT ) *( ALPHA | DIGIT | "-" | "_" | "." ).
// Attribute names share it (their dots separate namespaces).
var termRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*$`)

// validTerm tells whether s is a category term.
func validTerm(s string) bool { return termRe.MatchString(s) }

// validAttrName tells whether s is an attribute name.
func validAttrName(s string) bool { return termRe.MatchString(s) }

// validScheme tells whether s is a category scheme: an absolute URI
// (it has a scheme part) ending in "#".
func validScheme(s string) bool { return strings.Contains(s, ":") && strings.HasSuffix(s, "#") }
