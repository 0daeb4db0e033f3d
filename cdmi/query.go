package cdmi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// selector is one item of a field-selection query: CDMI 1.x writes
// `?objectID;value:0-99;metadata:prefix` (§8.4.1, §9.4.1), CDMI 2.0 writes
// `?value=0-99&metadata=prefix`. Both are accepted, mixed or not.
type selector struct {
	Field  string
	Arg    string
	HasArg bool
}

// selection is a parsed query: the fields asked for, in order.
type selection []selector

const maxSelectors = 256

// parseSelection parses the raw (still percent-encoded) query string.
func parseSelection(raw string) (selection, error) {
	if raw == "" {
		return nil, nil
	}
	var out selection
	for _, item := range strings.FieldsFunc(raw, func(r rune) bool { return r == ';' || r == '&' }) {
		if len(out) == maxSelectors {
			return nil, fmt.Errorf("query: more than %d fields", maxSelectors)
		}
		name, arg, has := item, "", false
		if i := strings.IndexAny(item, ":="); i >= 0 {
			name, arg, has = item[:i], item[i+1:], true
		}
		n, err := url.PathUnescape(name)
		if err != nil {
			return nil, fmt.Errorf("query: field %q: %v", name, err)
		}
		a, err := url.PathUnescape(arg)
		if err != nil {
			return nil, fmt.Errorf("query: field %q argument %q: %v", n, arg, err)
		}
		if n == "" {
			return nil, fmt.Errorf("query: empty field name in %q", raw)
		}
		out = append(out, selector{Field: n, Arg: a, HasArg: has})
	}
	return out, nil
}

// has tells whether field is selected.
func (q selection) has(field string) bool {
	for _, s := range q {
		if s.Field == field {
			return true
		}
	}
	return false
}

// get returns the first selector for field.
func (q selection) get(field string) (selector, bool) {
	for _, s := range q {
		if s.Field == field {
			return s, true
		}
	}
	return selector{}, false
}

// args returns every argument given for field (metadata names/prefixes).
func (q selection) args(field string) []string {
	var out []string
	for _, s := range q {
		if s.Field == field && s.HasArg {
			out = append(out, s.Arg)
		}
	}
	return out
}

// Range is an inclusive range as CDMI writes them ("0-99").
// Range is a byte range of a value, first and last byte included (the
// "first-last" of §8.4 ?value:<range> and of Content-Range).
type Range struct{ First, Last int64 }

func (r Range) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }
func (r Range) Len() int64     { return r.Last - r.First + 1 }

// parseRange parses "first-last" with first <= last, both non-negative.
func parseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Range{}, fmt.Errorf("range %q: want first-last", s)
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return Range{}, fmt.Errorf("range %q: want first-last with 0 <= first <= last", s)
	}
	return Range{first, last}, nil
}

// metadataWanted reports whether a metadata item is selected by the
// `metadata:<prefix>` arguments (none: all are).
func metadataWanted(prefixes []string, name string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// escapeSegment percent-encodes one name for a URI path.
func escapeSegment(name string) string { return url.PathEscape(name) }
