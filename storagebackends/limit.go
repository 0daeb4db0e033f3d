package storagebackends

import (
	"context"
	"io"
	"strconv"
	"strings"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// LimitVolumes refuses to make or grow a volume past max bytes, before the
// backend is asked: a backend asked for 100,000 GiB answers with its own
// error (a file too large, a quota) after trying, which is neither the
// client's answer (400 naming the limit) nor the same on every backend.
// max <= 0 means no limit.
func LimitVolumes(v Volumes, max int64) Volumes {
	if max <= 0 {
		return v
	}
	return limitedVolumes{Volumes: v, max: max}
}

type limitedVolumes struct {
	Volumes
	max int64
}

// VolumeTooLarge is the error for a volume size past the configured
// maximum; the protocols name the limit with it.
func VolumeTooLarge(size, max int64) error {
	return kind.Errorf(kind.Invalid, "a volume of %d bytes is larger than this server's maximum volume size, %d bytes (%s; --max-volume-size)",
		size, max, HumanSize(max))
}

func (l limitedVolumes) check(size int64) error {
	if size > l.max {
		return VolumeTooLarge(size, l.max)
	}
	return nil
}

func (l limitedVolumes) CreateVolume(ctx context.Context, name string, size int64) error {
	if err := l.check(size); err != nil {
		return err
	}
	return l.Volumes.CreateVolume(ctx, name, size)
}

func (l limitedVolumes) ResizeVolume(ctx context.Context, name string, size int64) error {
	if err := l.check(size); err != nil {
		return err
	}
	return l.Volumes.ResizeVolume(ctx, name, size)
}

func (l limitedVolumes) CreateFromImage(ctx context.Context, name string, image io.Reader, size int64) error {
	if err := l.check(size); err != nil {
		return err
	}
	return l.Volumes.CreateFromImage(ctx, name, image, size)
}

// HumanSize writes n bytes in the largest binary unit that divides it
// ("4 TiB", "1536 MiB", "10 bytes"), for messages and the README.
func HumanSize(n int64) string {
	units := []string{"EiB", "PiB", "TiB", "GiB", "MiB", "KiB"}
	for i, u := range units {
		shift := uint(10 * (len(units) - i))
		if n >= 1<<shift && n%(1<<shift) == 0 {
			return strconv.FormatInt(n>>shift, 10) + " " + u
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// ParseSize reads a size as HumanSize writes it, or a plain byte count:
// "4TiB", "4 TiB", "64GiB", "1048576".
func ParseSize(s string) (int64, error) {
	num, unit := s, ""
	for i, c := range s {
		if c < '0' || c > '9' {
			num, unit = s[:i], strings.TrimSpace(s[i:])
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, kind.Errorf(kind.Invalid, "size %q: want a number of bytes or of KiB, MiB, GiB, TiB, PiB", s)
	}
	shifts := map[string]uint{"": 0, "B": 0, "bytes": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40, "PiB": 50}
	shift, ok := shifts[unit]
	if !ok {
		return 0, kind.Errorf(kind.Invalid, "size %q: unknown unit %q (KiB, MiB, GiB, TiB, PiB)", s, unit)
	}
	if n > (1<<63-1)>>shift {
		return 0, kind.Errorf(kind.Invalid, "size %q does not fit in 63 bits", s)
	}
	return n << shift, nil
}
