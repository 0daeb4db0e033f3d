package occi

import (
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/textcheck"
)

// The JSON rendering is UTF-8 (RFC 8259 §8.1); the text renderings name
// no charset (GFD.229, GFD.223 are silent), and this server reads them as
// UTF-8 too, so that whatever it keeps reads back in every rendering. A
// request whose bytes are not UTF-8, or that holds a NUL, is refused with 400
// rather than read with U+FFFD in place of the bad bytes (what Go's
// decoders do) or passed to a database that refuses it (PostgreSQL
// refuses NUL and invalid UTF-8 in text; SQLite keeps them): the same
// input gets the same answer on both.

// checkText refuses invalid UTF-8 and NUL in b, naming where.
func checkText(what string, b []byte) error {
	if err := textcheck.Text(b); err != nil {
		return kind.Errorf(kind.Invalid, "%s must be UTF-8 without NUL (RFC 8259 §8.1; text renderings are read as UTF-8 too): %v", what, err)
	}
	return nil
}

// checkJSONEscapes refuses the escapes by which a JSON text that is valid
// UTF-8 still decodes to what checkText refuses.
func checkJSONEscapes(b []byte) error {
	if err := textcheck.JSONEscapes(b); err != nil {
		return kind.Errorf(kind.Invalid, "the request body: %v", err)
	}
	return nil
}
