package fs

import (
	"context"
	"fmt"
	"os"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// Ping checks that the value folders are there and that a file can be
// created in the temporary one (a full, read-only or unmounted file system
// fails), within ctx (storagebackends.Pinger).
func (o *Objects) Ping(ctx context.Context) error {
	return pingDirs(ctx, o.tmp, o.root)
}

// Ping checks the volume folders the same way (storagebackends.Pinger).
func (v *Volumes) Ping(ctx context.Context) error {
	return pingDirs(ctx, v.tmp, v.root, v.snaps)
}

// pingDirs stats dirs and writes, syncs and removes a small file in
// writable. It runs aside so that a hung file system (a dead NFS mount)
// fails the ping at ctx's end instead of holding the caller.
func pingDirs(ctx context.Context, writable string, dirs ...string) error {
	done := make(chan error, 1)
	go func() { done <- checkDirs(writable, dirs) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("fs: %s did not answer: %w: %w", writable, storagebackends.ErrUnavailable, ctx.Err())
	}
}

func checkDirs(writable string, dirs []string) error {
	for _, d := range append([]string{writable}, dirs...) {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("fs: %w: %v", storagebackends.ErrUnavailable, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("fs: %s is not a folder: %w", d, storagebackends.ErrUnavailable)
		}
	}
	f, err := os.CreateTemp(writable, ".ping-*")
	if err != nil {
		return fmt.Errorf("fs: cannot write in %s: %w: %v", writable, storagebackends.ErrUnavailable, err)
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write([]byte{0})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Remove(name)
	}
	if err != nil {
		return fmt.Errorf("fs: cannot write in %s: %w: %v", writable, storagebackends.ErrUnavailable, err)
	}
	return nil
}
