//go:build ceph

package rbd

import (
	"context"
	"fmt"

	"github.com/ceph/go-ceph/rados"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// ping asks the cluster for the pool's statistics through ioctx and for
// its latest OSD map (round trips to the monitors), and looks the pool up
// there by name (a deleted pool fails, though an open IOContext outlives
// it). librados bounds the calls
// by its op timeouts; ctx ends the wait sooner, the call finishing aside.
func (c *Cluster) ping(ctx context.Context, ioctx *rados.IOContext) error {
	done := make(chan error, 1)
	go func() {
		if _, err := ioctx.GetPoolStats(); err != nil {
			done <- mapErr("stat pool", c.pool, err)
			return
		}
		// The pool lookup reads this client's copy of the OSD map: bring
		// it up to date first (a round trip to the monitors).
		if err := c.conn.WaitForLatestOSDMap(); err != nil {
			done <- mapErr("read the OSD map for pool", c.pool, err)
			return
		}
		_, err := c.conn.GetPoolByName(c.pool)
		done <- mapErr("look up pool", c.pool, err)
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %w", storagebackends.ErrUnavailable, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ceph: pool %q did not answer: %w: %w", c.pool, storagebackends.ErrUnavailable, ctx.Err())
	}
}

// Ping checks that the cluster answers and still has the pool
// (storagebackends.Pinger).
func (o *Objects) Ping(ctx context.Context) error { return o.c.ping(ctx, o.ioctx) }

// Ping checks that the cluster answers and still has the pool
// (storagebackends.Pinger).
func (v *Volumes) Ping(ctx context.Context) error { return v.c.ping(ctx, v.ioctx) }
