package fs

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// RemoveTemp removes values a crash left half-written in the temporary
// folder (storagebackends.TempRemover). A write in progress touches its
// file as it goes, so age keeps another process's live writes.
func (o *Objects) RemoveTemp(ctx context.Context, age time.Duration) (int, error) {
	return RemoveOlder(ctx, o.tmp, age)
}

// RemoveTemp removes volumes and images a crash left half-built
// (storagebackends.TempRemover).
func (v *Volumes) RemoveTemp(ctx context.Context, age time.Duration) (int, error) {
	return RemoveOlder(ctx, v.tmp, age)
}

// RemoveOlder removes the files of dir last modified more than age ago
// (all of them for age 0): the start-up clean-up of a temporary folder.
func RemoveOlder(ctx context.Context, dir string, age time.Duration) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, mapErr("list temporary files", dir, err)
	}
	cutoff := time.Now().Add(-age)
	n := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if age > 0 && info.ModTime().After(cutoff) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return n, mapErr("remove temporary file", e.Name(), err)
		}
		n++
	}
	return n, nil
}
