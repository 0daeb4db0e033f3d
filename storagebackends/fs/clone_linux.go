package fs

import (
	"os"

	"golang.org/x/sys/unix"
)

// cloneFile makes dst share src's blocks (FICLONE): a range write into a
// large value then costs what it writes, not the value's size. File
// systems without reflinks refuse it, and the caller copies instead.
func cloneFile(dst, src *os.File) error {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
}
