package cdmi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// send is harness.Do for goroutines: it reports errors instead of calling
// t.Fatal off the test's goroutine.
func send(method, u string, h http.Header, body []byte) (int, error) {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = h
	resp, err := harness.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// DESIGN "nothing is half-applied", CDMI 1.1.1 §8.1.2 (data object
// consistency): concurrent creates in one container all land; concurrent
// whole-value writes to one object leave exactly one of the values, never
// a mix.
func TestConcurrentWrites(t *testing.T) {
	c := testContainer(t)
	const n = 12
	var wg sync.WaitGroup
	codes := make([]int, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i], errs[i] = send(http.MethodPut, fmt.Sprintf("%sc%02d", c, i), http.Header{"Content-Type": {"text/plain"}}, []byte{byte('a' + i)})
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		require.NoError(t, errs[i])
		assert.Equal(t, http.StatusCreated, codes[i], "create %d", i)
	}
	_, l := get(t, c+"?children", ctContainer)
	assert.Len(t, l.list("children"), n)

	u := c + "contended"
	putRaw(t, u, "text/plain", bytes.Repeat([]byte{'-'}, 64<<10))
	values := make([][]byte, n)
	for i := range values {
		values[i] = bytes.Repeat([]byte{byte('A' + i)}, 64<<10)
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i], errs[i] = send(http.MethodPut, u, http.Header{"Content-Type": {"text/plain"}}, values[i])
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		require.NoError(t, errs[i])
		assert.Contains(t, []int{http.StatusNoContent, http.StatusOK, http.StatusCreated, http.StatusConflict}, codes[i], "write %d", i)
	}
	resp, body := getRaw(t, u, nil)
	expect(t, resp, body, http.StatusOK)
	require.Len(t, body, 64<<10)
	assert.Equal(t, bytes.Repeat(body[:1], len(body)), body, "the value is one writer's, whole")
}
