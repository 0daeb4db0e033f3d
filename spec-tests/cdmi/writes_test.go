package cdmi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// Issue 12 item 2: concurrent first writes to one new name each answer for
// what they did: 201 for the create (§6.2.7, §8.2.7, §9.2.7), 204 for an
// update (§6.3.7, §8.4.7, §9.4.7), or 409; never 404 once their data was
// stored. The value left is one that was acknowledged, whole.
func TestConcurrentFirstWrites(t *testing.T) {
	c := testContainer(t)
	type write func(u string, i int) (status int, wrote string, err error)
	kinds := map[string]write{
		"non-CDMI data object": func(u string, i int) (int, string, error) {
			v := strings.Repeat(fmt.Sprintf("raw %d;", i), 300)
			h := http.Header{"Content-Type": {"text/plain"}}
			st, err := send(http.MethodPut, u, h, []byte(v))
			return st, v, err
		},
		"CDMI data object": func(u string, i int) (int, string, error) {
			v := strings.Repeat(fmt.Sprintf("cdmi %d;", i), 300)
			st, err := send(http.MethodPut, u, hdr(ctObject, ctObject), []byte(`{"value":"`+v+`"}`))
			return st, v, err
		},
		"container": func(u string, i int) (int, string, error) {
			st, err := send(http.MethodPut, u+"/", hdr(ctContainer, ctContainer), []byte(fmt.Sprintf(`{"metadata":{"w":"%d"}}`, i)))
			return st, fmt.Sprint(i), err
		},
	}
	for name, w := range kinds {
		t.Run(name, func(t *testing.T) {
			for round := range 15 {
				u := c + uniq("first")
				const writers = 3
				codes, wrote := make([]int, writers), make([]string, writers)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						var err error
						codes[i], wrote[i], err = w(u, i)
						assert.NoError(t, err)
					}()
				}
				close(start)
				wg.Wait()
				acked := map[string]bool{}
				created := 0
				for i, st := range codes {
					require.Contains(t, []int{http.StatusCreated, http.StatusNoContent, http.StatusConflict}, st, "round %d: writer %d", round, i)
					if st != http.StatusConflict {
						acked[wrote[i]] = true
					}
					if st == http.StatusCreated {
						created++
					}
				}
				assert.Equal(t, 1, created, "round %d: one create: %v", round, codes)
				var final string
				if name == "container" {
					_, o := get(t, u+"/?metadata:w", ctContainer)
					final, _ = o.meta()["w"].(string)
				} else {
					resp, b := getRaw(t, u, nil)
					expect(t, resp, b, http.StatusOK)
					final = string(b)
				}
				assert.True(t, acked[final], "round %d: the value left was acknowledged", round)
			}
		})
	}
}

// Issue 12 item 3: a range write (§6.3 with Content-Range; §8.4.1
// ?value:<range>) is all or nothing. One whose body holds fewer bytes than
// its range is refused with 400 and changes nothing, and cdmi_hash (§16.4)
// stays the hash of the bytes.
func TestRangeWriteCutShort(t *testing.T) {
	c := testContainer(t)
	u := c + "hashed"
	const size = 256 << 10
	value := bytes.Repeat([]byte("abcdefgh"), size/8)
	putObject(t, u, map[string]any{"value": string(value), "metadata": map[string]any{"cdmi_value_hash": "SHA256"}})
	// A chunked body: the request itself is well formed, only the range's
	// bytes stop early.
	req, err := http.NewRequest(http.MethodPut, u, io.LimitReader(bytes.NewReader(make([]byte, size)), size/2))
	require.NoError(t, err)
	req.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", size-1, size))
	resp, err := harness.Client.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	expect4xx(t, resp, b, http.StatusBadRequest)

	resp, got := getRaw(t, u, nil)
	expect(t, resp, got, http.StatusOK)
	assert.True(t, bytes.Equal(value, got), "the value is unchanged")
	_, o := get(t, u+"?metadata:cdmi_hash", ctObject)
	sum := sha256.Sum256(got)
	assert.True(t, strings.EqualFold(hex.EncodeToString(sum[:]), fmt.Sprint(o.meta()["cdmi_hash"])), "cdmi_hash agrees with the bytes")

	// A whole range goes in, hash and all.
	h := http.Header{"Content-Range": {"bytes 8-11/*"}}
	resp, b = harness.Do(t, http.MethodPut, u, h, strings.NewReader("WXYZ"))
	expect(t, resp, b, http.StatusNoContent)
	copy(value[8:], "WXYZ")
	resp, got = getRaw(t, u, nil)
	expect(t, resp, got, http.StatusOK)
	assert.True(t, bytes.Equal(value, got), "the range went in")
	_, o = get(t, u+"?metadata:cdmi_hash", ctObject)
	sum = sha256.Sum256(got)
	assert.True(t, strings.EqualFold(hex.EncodeToString(sum[:]), fmt.Sprint(o.meta()["cdmi_hash"])), "cdmi_hash follows the range")
}
