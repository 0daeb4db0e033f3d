package cdmi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 12 item 2: concurrent first writes to one new name answer for what
// each did: 201 for the one that created the object (§8.2.7, §9.2.7), 204
// for those that then updated it (§8.5.7, §9.5.7), or 409; never 404 while
// the data was stored. The value left is one of the acknowledged ones,
// whole. Before the fix, a create that found the name taken at commit
// updated the other request's object and then looked up its own (never
// committed) objectID: 404.
func TestConcurrentFirstWrites(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/fw/", "{}", cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	const rounds, writers = 30, 3
	kinds := map[string]func(name string, i int) (*http.Response, string, string){
		"raw": func(name string, i int) (*http.Response, string, string) {
			v := strings.Repeat(fmt.Sprintf("raw value %d;", i), 500)
			resp, body := ts.do("PUT", "/cdmi/fw/"+name, v, "Content-Type", "text/plain")
			return resp, body, v
		},
		"cdmi": func(name string, i int) (*http.Response, string, string) {
			v := strings.Repeat(fmt.Sprintf("cdmi value %d;", i), 500)
			resp, body := ts.do("PUT", "/cdmi/fw/"+name, `{"value":"`+v+`"}`, cdmiHdr(ctObject)...)
			return resp, body, v
		},
		"container": func(name string, i int) (*http.Response, string, string) {
			resp, body := ts.do("PUT", "/cdmi/fw/"+name+"/", `{"metadata":{"w":"`+fmt.Sprint(i)+`"}}`, cdmiHdr(ctContainer)...)
			return resp, body, fmt.Sprint(i)
		},
		"queue": func(name string, i int) (*http.Response, string, string) {
			resp, body := ts.do("PUT", "/cdmi/fw/"+name, `{"metadata":{"w":"`+fmt.Sprint(i)+`"}}`, cdmiHdr(ctQueue)...)
			return resp, body, fmt.Sprint(i)
		},
	}
	for kindName, write := range kinds {
		t.Run(kindName, func(t *testing.T) {
			statuses := map[int]int{}
			for round := range rounds {
				name := fmt.Sprintf("%s-%d", kindName, round)
				codes, wrote := make([]int, writers), make([]string, writers)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						resp, body, v := write(name, i)
						codes[i], wrote[i] = resp.StatusCode, v
						assert.Contains(t, []int{201, 204, 409}, resp.StatusCode, "round %d writer %d: %s", round, i, body)
					}()
				}
				close(start)
				wg.Wait()
				created, acked := 0, map[string]bool{}
				for i, c := range codes {
					statuses[c]++
					if c == 201 {
						created++
					}
					if c == 201 || c == 204 {
						acked[wrote[i]] = true
					}
				}
				assert.Equal(t, 1, created, "round %d: exactly one request creates the object: %v", round, codes)
				assert.Contains(t, acked, finalValue(t, ts, kindName, name), "round %d: the value left is an acknowledged one, whole", round)
			}
			t.Logf("%s: statuses over %d rounds of %d writers: %v", kindName, rounds, writers, statuses)
		})
	}
}

// finalValue is what a first-write round left: the value of a data object,
// the "w" metadata of a container or a queue.
func finalValue(t *testing.T, ts *testServer, kindName, name string) string {
	t.Helper()
	if kindName == "container" || kindName == "queue" {
		path, ct := "/cdmi/fw/"+name+"/?metadata:w", ctContainer
		if kindName == "queue" {
			path, ct = "/cdmi/fw/"+name+"?metadata:w", ctQueue
		}
		resp, body := ts.do("GET", path, "", cdmiHdr(ct)...)
		require.Equal(t, 200, resp.StatusCode, body)
		var got struct{ Metadata map[string]string }
		require.NoError(t, json.Unmarshal([]byte(body), &got), body)
		return got.Metadata["w"]
	}
	resp, body := ts.do("GET", "/cdmi/fw/"+name, "")
	require.Equal(t, 200, resp.StatusCode, body)
	return body
}
