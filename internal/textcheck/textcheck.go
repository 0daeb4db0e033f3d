// Package textcheck says whether bytes are text both protocols and both
// databases can keep: UTF-8 without NUL, and JSON whose escapes decode to
// such text. Go's decoders replace what is not (invalid UTF-8, a lone
// UTF-16 surrogate) with U+FFFD without a word, and PostgreSQL refuses NUL
// and invalid UTF-8 in text columns where SQLite keeps them; checking
// first gives a client a 400 that says what was wrong, the same on both.
package textcheck

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Text reports the first problem in b: a NUL byte, or bytes that are not
// UTF-8 (overlong forms and encoded surrogates included, RFC 3629 §3).
func Text(b []byte) error {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return fmt.Errorf("a NUL byte at offset %d", i)
	}
	if utf8.Valid(b) {
		return nil
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("byte 0x%02X at offset %d is not UTF-8", b[i], i)
		}
		i += n
	}
	return nil
}

// String is Text for a string.
func String(s string) error { return Text([]byte(s)) }

// JSONEscapes reports an escape inside a JSON string of b that does not
// decode to text: "\u0000", or a UTF-16 surrogate that is not half of a
// pair (RFC 8259 §8.2 leaves such a string's meaning unpredictable). b is
// otherwise assumed to be JSON; a malformed escape is left to the
// decoder.
func JSONEscapes(b []byte) error {
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case inString && c == '\\' && i+1 < len(b):
			i++
			if b[i] != 'u' {
				continue
			}
			r, ok := hex4(b, i+1)
			if !ok {
				continue
			}
			i += 4
			switch {
			case r == 0:
				return fmt.Errorf(`a JSON string holds "\u0000" (NUL)`)
			case r >= 0xDC00 && r <= 0xDFFF:
				return fmt.Errorf(`a JSON string holds a lone low surrogate \u%04x (RFC 8259 §8.2)`, r)
			case r >= 0xD800 && r <= 0xDBFF:
				lo, ok := hex4(b, i+3)
				if i+2 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
					return fmt.Errorf(`a JSON string holds a lone high surrogate \u%04x (RFC 8259 §8.2)`, r)
				}
				i += 6
			}
		}
	}
	return nil
}

// hex4 reads the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(n), err == nil
}
