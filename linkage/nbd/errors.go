package nbd

import (
	"errors"
	"math/bits"
	"sync"
	"syscall"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// errnoOf maps a device error to an NBD error value (proto.md "Error
// values"): only EPERM, EIO, EINVAL and ENOSPC are used for device errors.
func errnoOf(err error) uint32 {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		// "SHOULD map the EDQUOT and EFBIG errors to NBD_ENOSPC".
		return errNoSpc
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES):
		return errPerm
	}
	switch kind.Of(err) {
	case kind.Invalid:
		return errInval
	case kind.Forbidden:
		return errPerm
	}
	// kind.Unavailable, kind.Internal and the rest: the I/O failed.
	return errIO
}

// Request buffers are pooled by power-of-two size class, so that a stream
// of 32 MiB requests does not allocate 32 MiB each.
var bufPools [32]sync.Pool

func sizeClass(n int) int { return bits.Len(uint(n - 1)) }

func getBuf(n int) []byte {
	c := sizeClass(n)
	if c >= len(bufPools) {
		return make([]byte, n)
	}
	if b, ok := bufPools[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<c)
}

func putBuf(b []byte) {
	c := sizeClass(cap(b))
	if c >= len(bufPools) || cap(b) != 1<<c {
		return
	}
	b = b[:cap(b)]
	bufPools[c].Put(&b)
}
