package cdmi

import (
	"io"
	"net/http"

	"github.com/occicdmi/occicdmi/internal/textcheck"
	"github.com/occicdmi/occicdmi/internal/web"
)

// Limits checked before anything is stored, so that SQLite (which does
// not enforce a column's size) and PostgreSQL (which does, and refuses
// invalid UTF-8 and NUL) give the same answer, and no request makes a
// value larger than the server keeps (README "Limits").

// maxMimetypeBytes is the size of the mimetype columns
// (migrations/0003_cdmi_objects.go: cdmi_objects.mimetype and
// cdmi_queue_values.mimetype, size:255).
const maxMimetypeBytes = 255

// DefaultMaxValueSize is the default of Config.MaxValueSize: 64 GiB.
const DefaultMaxValueSize = 64 << 30

// checkMimetype refuses a mimetype the store cannot keep as given.
func checkMimetype(mt string) error {
	if len(mt) > maxMimetypeBytes {
		return invalidf("mimetype is %d bytes long; at most %d are kept", len(mt), maxMimetypeBytes)
	}
	if err := textcheck.String(mt); err != nil {
		return invalidf("mimetype must be UTF-8 text without NUL: %v", err)
	}
	for i := 0; i < len(mt); i++ {
		if c := mt[i]; c < 0x20 || c == 0x7f {
			return invalidf("mimetype holds the control character 0x%02x", c)
		}
	}
	return nil
}

// maxValue is the largest value a data object may hold.
func (s *Service) maxValue() int64 {
	if s.cfg.MaxValueSize > 0 {
		return s.cfg.MaxValueSize
	}
	return DefaultMaxValueSize
}

// tooLarge is the 413 for a value past the limit.
func (s *Service) tooLarge(what string) error {
	max := s.maxValue()
	return web.Errorf(http.StatusRequestEntityTooLarge, "%s: a data object's value holds at most %d bytes on this server (--max-value-size)", what, max)
}

// checkWrite applies the limits to a data object write before any byte
// is stored: the mimetype's length and encoding, and the value's size (a
// range must end inside the limit; a value of unknown size is cut off
// with 413 when it passes it). Disks (the linkage's volumes) are bounded
// by their volume instead and do not come here.
func (s *Service) checkWrite(d *dataWrite) error {
	if d.mimetype != nil {
		if err := checkMimetype(*d.mimetype); err != nil {
			return err
		}
	}
	max := s.maxValue()
	switch {
	case d.rng != nil && d.rng.Last >= max:
		return s.tooLarge("value range " + d.rng.String())
	case d.valueSize > max:
		return s.tooLarge("the value")
	case d.value != nil:
		d.value = &limitReader{r: d.value, left: max, err: s.tooLarge("the value")}
	}
	return nil
}

// limitReader fails with err once more than left bytes were read.
type limitReader struct {
	r    io.Reader
	left int64
	err  error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left >= 0 && int64(len(p)) > l.left {
		p = p[:l.left+1] // one byte more tells a value that ends at the limit from one that passes it
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, l.err
	}
	return n, err
}
