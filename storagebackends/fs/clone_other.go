//go:build !linux

package fs

import (
	"errors"
	"os"
)

// cloneFile is Linux's FICLONE; elsewhere the caller copies.
func cloneFile(_, _ *os.File) error { return errors.ErrUnsupported }
