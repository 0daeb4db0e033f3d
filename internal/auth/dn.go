package auth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"slices"
	"strings"
)

// Distinguished names, written as RFC 4514 has them (most specific first:
// "CN=alice,OU=people,O=Example,DC=example,DC=org") and compared in one
// canonical form: known attribute types by their upper-case short name,
// others as dotted OIDs; values unescaped and compared exactly; the
// attributes of a multi-valued RDN in sorted order. Unlike
// pkix.Name.String, DC, UID and emailAddress are names, not hex.

var attrNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "TITLE",
	"2.5.4.17":                   "POSTALCODE",
	"2.5.4.42":                   "GIVENNAME",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1":       "EMAILADDRESS",
}

var attrAliases = map[string]string{"E": "EMAILADDRESS", "EMAIL": "EMAILADDRESS", "USERID": "UID", "S": "ST"}

// canonicalType is the name of an attribute type given by name (any case)
// or OID.
func canonicalType(t string) (string, error) {
	t = strings.TrimSpace(t)
	if t == "" {
		return "", fmt.Errorf("empty attribute type")
	}
	if n, ok := attrNames[strings.TrimPrefix(strings.ToUpper(t), "OID.")]; ok {
		return n, nil
	}
	u := strings.ToUpper(t)
	if a, ok := attrAliases[u]; ok {
		return a, nil
	}
	for _, n := range attrNames {
		if n == u {
			return n, nil
		}
	}
	if t[0] >= '0' && t[0] <= '9' {
		return t, nil
	}
	return "", fmt.Errorf("unknown attribute type %q", t)
}

type attr struct{ typ, val string }

// formatDN is the canonical string of rdns, given most specific first.
func formatDN(rdns [][]attr) string {
	var b strings.Builder
	for i, rdn := range rdns {
		if i > 0 {
			b.WriteByte(',')
		}
		rdn = slices.Clone(rdn)
		slices.SortFunc(rdn, func(x, y attr) int { return strings.Compare(x.typ+"="+x.val, y.typ+"="+y.val) })
		for j, a := range rdn {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(a.typ)
			b.WriteByte('=')
			b.WriteString(escapeValue(a.val))
		}
	}
	return b.String()
}

// escapeValue escapes an attribute value as RFC 4514 section 2.4 says.
func escapeValue(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(`,+"\<>;=`, r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(v)-1 && r == ' ':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\%02X", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// SubjectDN is the canonical DN of a certificate's raw subject.
func SubjectDN(rawSubject []byte) (string, error) {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(rawSubject, &seq); err != nil || len(rest) > 0 {
		return "", fmt.Errorf("certificate subject: %v", err)
	}
	rdns := make([][]attr, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		var rdn []attr
		for _, tv := range seq[i] {
			oid := tv.Type.String()
			typ, ok := attrNames[oid]
			if !ok {
				typ = oid
			}
			rdn = append(rdn, attr{typ, fmt.Sprint(tv.Value)})
		}
		rdns = append(rdns, rdn)
	}
	return formatDN(rdns), nil
}

// CanonicalDN parses a DN written as RFC 4514 has it ("CN=alice,O=Example")
// or as OpenSSL's one-line form, least specific first ("/O=Example/CN=alice",
// what grid tools print), and returns its canonical form.
func CanonicalDN(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("empty DN")
	}
	slash := strings.HasPrefix(s, "/")
	sep := ','
	if slash {
		s, sep = s[1:], '/'
	}
	parts, err := splitEscaped(s, sep)
	if err != nil {
		return "", err
	}
	var rdns [][]attr
	for _, part := range parts {
		avas, err := splitEscaped(part, '+')
		if err != nil {
			return "", err
		}
		var rdn []attr
		for _, ava := range avas {
			t, v, ok := cutUnescaped(ava, '=')
			if !ok {
				return "", fmt.Errorf("DN %q: %q is not type=value", s, ava)
			}
			typ, err := canonicalType(t)
			if err != nil {
				return "", fmt.Errorf("DN %q: %w", s, err)
			}
			val, err := unescapeValue(strings.TrimSpace(v))
			if err != nil {
				return "", fmt.Errorf("DN %q: %w", s, err)
			}
			rdn = append(rdn, attr{typ, val})
		}
		rdns = append(rdns, rdn)
	}
	if slash {
		slices.Reverse(rdns)
	}
	return formatDN(rdns), nil
}

// splitEscaped splits s at each sep not preceded by a backslash, keeping
// the escapes.
func splitEscaped(s string, sep rune) ([]string, error) {
	var parts []string
	start, esc := 0, false
	for i, r := range s {
		switch {
		case esc:
			esc = false
		case r == '\\':
			esc = true
		case r == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if esc {
		return nil, fmt.Errorf("DN ends in a backslash")
	}
	return append(parts, s[start:]), nil
}

func cutUnescaped(s string, sep rune) (string, string, bool) {
	p, _ := splitEscaped(s, sep)
	if len(p) < 2 {
		return s, "", false
	}
	return p[0], s[len(p[0])+1:], true
}

// unescapeValue undoes RFC 4514 escapes: \c for a special character and
// \XX for a byte in hex.
func unescapeValue(v string) (string, error) {
	if !strings.Contains(v, `\`) {
		return v, nil
	}
	var b []byte
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			b = append(b, v[i])
			continue
		}
		if i+1 >= len(v) {
			return "", fmt.Errorf("value %q ends in a backslash", v)
		}
		if i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			b = append(b, unhex(v[i+1])<<4|unhex(v[i+2]))
			i += 2
			continue
		}
		b = append(b, v[i+1])
		i++
	}
	return string(b), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
