package cdmi_test

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// Request shapes real CDMI clients send (issue 11), each checked against
// the clause that allows or requires it.

// CDMI 1.0.x-era clients (and curl scripts following the 1.0.2 examples)
// create a container with an empty body and Content-Length: 0. §9.2.6 makes
// every request field optional, so the empty body is read as {}.
func TestContainerEmptyBody(t *testing.T) {
	c := testContainer(t)
	for _, h := range []http.Header{hdr(ctContainer, ctContainer), hdr(ctContainer, "")} {
		u := c + uniq("empty") + "/"
		resp, body := harness.Do(t, http.MethodPut, u, h, strings.NewReader(""))
		expect(t, resp, body, http.StatusCreated)
		assert.Equal(t, ctContainer, decode(t, body).str("objectType"))
		_, o := get(t, u, ctContainer)
		assert.Equal(t, ctContainer, o.str("objectType"))
		// An update with no body changes nothing.
		resp, body = harness.Do(t, http.MethodPut, u, h, strings.NewReader(""))
		expect(t, resp, body, http.StatusNoContent)
	}
	// A body that is there must be a JSON object (§9.2.6).
	resp, body := harness.Do(t, http.MethodPut, c+"bad/", hdr(ctContainer, ""), strings.NewReader(" "))
	expect4xx(t, resp, body, http.StatusBadRequest)
}

// §5.13.1 and each response-header table (e.g. §9.2.7 Table 49) spell the
// header X-CDMI-Specification-Version; some test harnesses compare header
// names case-sensitively, so the server writes it that way on the wire
// (HTTP itself is case-insensitive, RFC 7230 §3.2).
func TestVersionHeaderSpelling(t *testing.T) {
	u, err := url.Parse(rootURL(t))
	require.NoError(t, err)
	if u.Scheme != "http" {
		t.Skip("raw header check needs a plain-HTTP server")
	}
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("GET " + u.Path + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nAccept: application/cdmi-container\r\nX-CDMI-Specification-Version: 1.1.1\r\nConnection: close\r\n\r\n"))
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, status, " 200 ")
	var names []string
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		n, _, _ := strings.Cut(line, ":")
		names = append(names, n)
	}
	assert.Contains(t, names, "X-CDMI-Specification-Version", "response header names: %v", names)
}

// A widely used QoS extension (and any read-modify-write client) sends
// capabilitiesURI back in an update. §9.5 / §8.5 list no such request field;
// the server ignores it rather than refusing the update.
func TestUpdateWithCapabilitiesURI(t *testing.T) {
	c := testContainer(t)
	_, o := get(t, c, ctContainer)
	resp, body := harness.Do(t, http.MethodPut, c, hdr(ctContainer, ""), jsonBody(t, map[string]any{
		"capabilitiesURI": o.str("capabilitiesURI"), "metadata": map[string]any{"qos": "gold"}}))
	expect(t, resp, body, http.StatusNoContent)
	_, o = get(t, c, ctContainer)
	assert.Equal(t, "gold", o.meta()["qos"])

	obj := c + "o.txt"
	putObject(t, obj, map[string]any{"value": "v"})
	resp, body = harness.Do(t, http.MethodPut, obj, hdr(ctObject, ""), jsonBody(t, map[string]any{
		"capabilitiesURI": "/cdmi_capabilities/dataobject/gold/", "metadata": map[string]any{"qos": "gold"}}))
	expect(t, resp, body, http.StatusNoContent)
}
