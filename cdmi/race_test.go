package cdmi

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Creates racing the delete of their container never leave rows that hang
// from nothing, and concurrent writers of one name end with one object.
func TestConcurrentWrites(t *testing.T) {
	ts := newTestServer(t)
	for round := range 3 {
		resp, body := ts.do("PUT", "/cdmi/c/", "{}", cdmiHdr(ctContainer)...)
		require.Equal(t, 201, resp.StatusCode, body)
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, body := ts.do("PUT", fmt.Sprintf("/cdmi/c/o%d", i%4), "v")
				assert.Contains(t, []int{201, 204, 404, 409}, resp.StatusCode, body)
			}()
			if i == 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ts.do("DELETE", "/cdmi/c/", "", cdmiHdr("")...)
				}()
			}
		}
		wg.Wait()
		ts.do("DELETE", "/cdmi/c/", "", cdmiHdr("")...)
		var orphans int64
		err := ts.cdmi.svc.db.WithContext(context.Background()).Raw(`SELECT COUNT(*) FROM cdmi_objects o
			WHERE o.parent_id <> '' AND NOT EXISTS (SELECT 1 FROM cdmi_objects p WHERE p.object_id = o.parent_id)`).Scan(&orphans).Error
		require.NoError(t, err)
		assert.Zero(t, orphans, "round %d", round)
	}
}
