package cdmi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// openWatch records, at each Open of a value, how many response bytes the
// handler had written by then, and how many values were open at once.
type openWatch struct {
	storagebackends.Objects
	mu       sync.Mutex
	written  func() int64
	opensAt  []int64
	open     int
	mostOpen int
}

func (o *openWatch) Open(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	rc, err := o.Objects.Open(ctx, key, off, length)
	if err != nil || o.written == nil {
		return rc, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opensAt = append(o.opensAt, o.written())
	o.open++
	o.mostOpen = max(o.mostOpen, o.open)
	return &watchedReader{ReadCloser: rc, w: o}, nil
}

type watchedReader struct {
	io.ReadCloser
	w *openWatch
}

func (r *watchedReader) Close() error {
	r.w.mu.Lock()
	r.w.open--
	r.w.mu.Unlock()
	return r.ReadCloser.Close()
}

// countingWriter is a ResponseWriter that keeps only a count of the body.
type countingWriter struct {
	hdr    http.Header
	status int
	n      int64
	body   *bytes.Buffer // kept when not nil
}

func (c *countingWriter) Header() http.Header { return c.hdr }
func (c *countingWriter) WriteHeader(s int)   { c.status = s }
func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.body != nil {
		c.body.Write(p)
	}
	return len(p), nil
}

// Issue 12 item 1: a queue read (§11.4, GET ?values:<n>) streams its
// values: each is read from the backend while the ones before it are
// already on their way to the client, and one at a time, so the answer's
// memory does not grow with n times the values' size (40 values of 15 MiB
// took the process to 5.2 GiB before).
func TestQueueReadStreams(t *testing.T) {
	var watch *openWatch
	ts := newTestServer(t, func(c *Config) { watch = &openWatch{Objects: c.Objects}; c.Objects = watch })
	resp, body := ts.do("PUT", "/cdmi/q", `{}`, cdmiHdr(ctQueue)...)
	require.Equal(t, 201, resp.StatusCode, body)
	const n, size = 4, 3 << 20
	for i := range n {
		v := strings.Repeat(string(rune('a'+i)), size)
		resp, body := ts.do("POST", "/cdmi/q", `{"value":"`+v+`"}`, cdmiHdr(ctQueue)...)
		require.Equal(t, 204, resp.StatusCode, body)
	}
	w := &countingWriter{hdr: http.Header{}, body: &bytes.Buffer{}}
	watch.written = func() int64 { return w.n }
	req := httptest.NewRequest("GET", fmt.Sprintf("/cdmi/q?values:%d", n), nil)
	for i, h := 0, cdmiHdr(ctQueue); i < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	ts.Config.Handler.ServeHTTP(w, req)
	watch.written = nil
	require.Equal(t, 200, w.status, w.body.String())
	require.Len(t, watch.opensAt, n)
	for i, at := range watch.opensAt {
		assert.GreaterOrEqual(t, at, int64(i)*size, "value %d was read after the %d before it were sent", i, i)
	}
	assert.Equal(t, 1, watch.mostOpen, "one value open at a time")
	var got struct {
		Value                 []string
		Valuerange            []string
		Valuetransferencoding []string
	}
	require.NoError(t, json.Unmarshal(w.body.Bytes(), &got))
	require.Len(t, got.Value, n)
	for i, v := range got.Value {
		assert.Equal(t, strings.Repeat(string(rune('a'+i)), size), v, "value %d whole", i)
		assert.Equal(t, fmt.Sprintf("0-%d", size-1), got.Valuerange[i])
		assert.Equal(t, "utf-8", got.Valuetransferencoding[i])
	}
}

// A value enqueued by copy (§11.6) is not bounded by the enqueue body's
// limit; a read sends it whole (it was cut at 16 MiB when reads held each
// value in memory), and a slice that cuts a UTF-8 sequence goes base64.
func TestQueueReadLargeAndSlices(t *testing.T) {
	ts := newTestServer(t)
	big := bytes.Repeat([]byte{0xff, 0x00, 'x', 'y'}, (17<<20)/4)
	resp, body := ts.do("PUT", "/cdmi/src", string(big), "Content-Type", "application/octet-stream")
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/q", `{}`, cdmiHdr(ctQueue)...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("POST", "/cdmi/q", `{"copy":"/cdmi/src"}`, cdmiHdr(ctQueue)...)
	require.Equal(t, 204, resp.StatusCode, body)
	// An enqueue body's values are bounded (maxQueueBody, README): 413.
	resp, body = ts.do("POST", "/cdmi/q", `{"value":"`+strings.Repeat("a", maxQueueBody+1)+`"}`, cdmiHdr(ctQueue)...)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, body)
	resp, body = ts.do("POST", "/cdmi/q", `{"value":"h\u00e9llo"}`, cdmiHdr(ctQueue)...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("GET", "/cdmi/q?values:2", "", cdmiHdr(ctQueue)...)
	require.Equal(t, 200, resp.StatusCode, body)
	got := decode(t, body)
	vals := got["value"].([]any)
	require.Len(t, vals, 2)
	assert.Equal(t, []any{"base64", "utf-8"}, got["valuetransferencoding"])
	dec, err := base64.StdEncoding.DecodeString(vals[0].(string))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(big, dec), "the copied value whole: %d of %d bytes", len(dec), len(big))
	assert.Equal(t, "héllo", vals[1])
	// §11.4.1 ?value:<range> slices each value: bytes 1-1 cut "é".
	resp, body = ts.do("GET", "/cdmi/q?values:2&value:1-1", "", cdmiHdr(ctQueue)...)
	require.Equal(t, 200, resp.StatusCode, body)
	got = decode(t, body)
	assert.Equal(t, []any{"base64", "base64"}, got["valuetransferencoding"])
	assert.Equal(t, []any{"AA==", "ww=="}, got["value"])
	assert.Equal(t, []any{"1-1", "1-1"}, got["valuerange"])
	// Bytes 1-2 are "é" whole: utf-8 (the first value has no such bytes).
	resp, body = ts.do("GET", "/cdmi/q?values:2&value:1-2", "", cdmiHdr(ctQueue)...)
	require.Equal(t, 200, resp.StatusCode, body)
	got = decode(t, body)
	assert.Equal(t, []any{"base64", "utf-8"}, got["valuetransferencoding"])
	assert.Equal(t, "é", got["value"].([]any)[1])
}

// A container's children (§9.4.6, ?children:<range>) are listed a page at
// a time as they are sent; the pages join up whole across their seams.
func TestChildrenStreamInPages(t *testing.T) {
	defer func(n int64) { childPage = n }(childPage)
	childPage = 3
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/kids/", "{}", cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	var want []string
	for i := range 11 {
		name := fmt.Sprintf("k%02d", i)
		if i%4 == 0 {
			resp, body = ts.do("PUT", "/cdmi/kids/"+name+"/", "{}", cdmiHdr(ctContainer)...)
			name += "/"
		} else {
			resp, body = ts.do("PUT", "/cdmi/kids/"+name, "v")
		}
		require.Equal(t, 201, resp.StatusCode, body)
		want = append(want, name)
	}
	for _, c := range []struct {
		query  string
		first  int
		last   int
		crange string
	}{{"", 0, 10, "0-10"}, {"?childrenrange;children:2-8", 2, 8, "2-8"}, {"?childrenrange;children:4-100", 4, 10, "4-10"}, {"?childrenrange;children:9-9", 9, 9, "9-9"}} {
		resp, body := ts.do("GET", "/cdmi/kids/"+c.query, "", cdmiHdr(ctContainer)...)
		require.Equal(t, 200, resp.StatusCode, body)
		got := decode(t, body)
		names := []string{}
		for _, n := range got["children"].([]any) {
			names = append(names, n.(string))
		}
		assert.Equal(t, want[c.first:c.last+1], names, "children %s", c.query)
		assert.Equal(t, c.crange, got["childrenrange"], "childrenrange %s", c.query)
	}
	resp, body = ts.do("GET", "/cdmi/kids/?children:20-30", "", cdmiHdr(ctContainer)...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, []any{}, decode(t, body)["children"])
}
