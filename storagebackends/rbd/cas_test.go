//go:build ceph

package rbd

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// TestHeadSwapIsConditional checks the compare-and-swap Put relies on: a
// swap from a head that is no longer current fails and changes nothing.
func TestHeadSwapIsConditional(t *testing.T) {
	conf := os.Getenv("CEPH_CONF")
	storagetest.NeedService(t, "a Ceph cluster (CEPH_CONF)", conf != "")
	c, err := Connect(context.Background(), storagebackends.Options{CephConf: conf})
	require.NoError(t, err)
	defer c.Close()
	o, err := c.Objects()
	require.NoError(t, err)
	key := storagetest.Prefix() + "cas"
	defer func() { _ = o.ioctx.Delete(headOID(key)) }()

	require.NoError(t, o.swapHead(key, nil, head{ID: "aaaa", Size: 5}))
	assert.Error(t, o.swapHead(key, nil, head{ID: "bbbb", Size: 5}), "exclusive create of an existing head")
	_, cur, err := o.readHead(key)
	require.NoError(t, err)
	stale := []byte(`{"id":"zzzz","size":5}`)
	assert.Error(t, o.swapHead(key, stale, head{ID: "cccc", Size: 1}), "swap from a stale head")
	shorter := []byte(`{"id":"aaaa","size":50}`) // same id, other size
	assert.Error(t, o.swapHead(key, shorter, head{ID: "cccc", Size: 1}), "swap from a head of another size")
	h, _, err := o.readHead(key)
	require.NoError(t, err)
	assert.Equal(t, head{ID: "aaaa", Size: 5}, h, "failed swaps change nothing")
	require.NoError(t, o.swapHead(key, cur, head{ID: "dddd", Size: 7}))
	h, _, err = o.readHead(key)
	require.NoError(t, err)
	assert.Equal(t, head{ID: "dddd", Size: 7}, h)
}
