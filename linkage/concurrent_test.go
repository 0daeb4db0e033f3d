package linkage

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/occi"
)

// The first OCCI storages made at once all succeed: each needs the parent
// container of OCCI-first storage (Config.StoragePath), which none has
// made yet, and they race to make it, within one server and between two
// servers on one database.
func TestConcurrentFirstStorageCreates(t *testing.T) {
	db, shared := testsupport.DB(t), t.TempDir()
	servers := []*occi.Service{newDiskRigOn(t, db, shared).occi, newDiskRigOn(t, db, shared).occi}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = servers[i%2].Create(context.Background(), occi.KindStorage,
				[]occi.EntityInput{{Attrs: map[string]any{"occi.storage.size": 0.001}}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "create %d", i)
	}
	got, err := servers[0].List(context.Background(), occi.Query{Collection: occi.KindStorage})
	require.NoError(t, err)
	assert.Len(t, got.Locations, n)
}
