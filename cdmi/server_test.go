package cdmi

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return m
}

func TestSmoke(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("GET", "/cdmi/", "", cdmiHdr(ctContainer)...)
	require.Equal(t, 200, resp.StatusCode, body)
	root := decode(t, body)
	assert.Equal(t, ctContainer, root["objectType"])
	t.Log(body)

	resp, body = ts.do("PUT", "/cdmi/box/", "{}", cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	t.Log(body)
	resp, body = ts.do("PUT", "/cdmi/box/hello.txt", `{"mimetype":"text/plain","metadata":{"colour":"blue"},"value":"Hello \u00e9 world"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	t.Log(body)
	resp, body = ts.do("GET", "/cdmi/box/hello.txt", "", cdmiHdr(ctObject)...)
	require.Equal(t, 200, resp.StatusCode, body)
	t.Log(body)
	obj := decode(t, body)
	assert.Equal(t, "Hello é world", obj["value"])
	resp, body = ts.do("GET", "/cdmi/box/hello.txt", "")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "Hello é world", body)
	resp, body = ts.do("GET", "/cdmi/box/", "", cdmiHdr(ctContainer)...)
	require.Equal(t, 200, resp.StatusCode, body)
	t.Log(body)
	resp, _ = ts.do("GET", "/cdmi/box", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	resp, body = ts.do("GET", "/cdmi/cdmi_capabilities/", "", cdmiHdr(ctCapability)...)
	require.Equal(t, 200, resp.StatusCode, body)
	t.Log(body)
	resp, body = ts.do("GET", "/cdmi/cdmi_objectid/"+obj["objectID"].(string)+"?value:0-4;objectID", "", cdmiHdr(ctObject)...)
	require.Equal(t, 200, resp.StatusCode, body)
	t.Log(body)
	resp, body = ts.do("DELETE", "/cdmi/box/", "", cdmiHdr("")...)
	require.Equal(t, 204, resp.StatusCode, body)
}
