//go:build ceph

package rbd

import (
	"time"

	"github.com/ceph/go-ceph/rbd"
)

// idle is how long an open image handle is kept after its last use.
// Opening an image costs several round trips to the cluster (about 7 ms
// here, more than a 64 KiB write), so a stream of I/O reuses one handle.
// Keeping it short matters: RBD refuses to remove an image that another
// client has open ("image has watchers"), so a server sharing the pool
// waits at most this long (DeleteVolume retries) to delete a volume we
// touched. The open handle also watches the image's header, so a resize or
// snapshot made elsewhere is seen at once; a handle is never stale.
const idle = time.Second

type handle struct {
	img  *rbd.Image
	refs int
	last time.Time
	dead bool // dropped from the cache; closed by its last user
}

// acquire returns an open (read-write) handle on the image; release it
// with v.release.
func (v *Volumes) acquire(op, name string) (*handle, error) {
	if err := checkName("volume", name); err != nil {
		return nil, err
	}
	v.mu.Lock()
	if h := v.handles[name]; h != nil {
		h.refs++
		v.mu.Unlock()
		return h, nil
	}
	v.mu.Unlock()
	img, err := rbd.OpenImage(v.ioctx, escape(name), rbd.NoSnapshot)
	if err != nil {
		return nil, mapErr(op, name, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if h := v.handles[name]; h != nil { // opened meanwhile by another call
		img.Close()
		h.refs++
		return h, nil
	}
	h := &handle{img: img, refs: 1}
	if v.handles == nil {
		v.handles = map[string]*handle{}
	}
	v.handles[name] = h
	if len(v.handles) == 1 {
		go v.janitor()
	}
	return h, nil
}

func (v *Volumes) release(h *handle) {
	v.mu.Lock()
	defer v.mu.Unlock()
	h.refs--
	h.last = time.Now()
	if h.dead && h.refs == 0 {
		h.img.Close()
	}
}

// drop closes the cached handle of name (at once, or when its last user
// releases it), before the image is deleted.
func (v *Volumes) drop(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if h := v.handles[name]; h != nil {
		delete(v.handles, name)
		h.dead = true
		if h.refs == 0 {
			h.img.Close()
		}
	}
}

// janitor closes idle handles; it ends when none is left, so an idle
// Volumes holds no goroutine.
func (v *Volumes) janitor() {
	for {
		time.Sleep(idle / 2)
		v.mu.Lock()
		for name, h := range v.handles {
			if h.refs == 0 && time.Since(h.last) > idle {
				delete(v.handles, name)
				h.img.Close()
			}
		}
		n := len(v.handles)
		v.mu.Unlock()
		if n == 0 {
			return
		}
	}
}
