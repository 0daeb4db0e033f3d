package cdmi

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzMultipartPut sends arbitrary bodies as CDMI multi-part MIME creates
// (§8.2.4) and holds the server to the bar: never a 5xx, and a refused
// body leaves no object behind (§8.1.2: as if the write never occurred).
func FuzzMultipartPut(f *testing.F) {
	for _, seed := range []string{
		"--b\r\nContent-Type: application/cdmi-object\r\n\r\n{\"metadata\":{\"colour\":\"blue\"}}\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\xff\r\n--b--\r\n",
		"--b\r\nContent-Type: application/cdmi-object\r\nContent-Length: 2\r\n\r\n{}\r\n--b\r\nContent-Length: 3\r\n\r\nabc\r\n--b--\r\n",
		"--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b\r\nContent-Range: bytes 4-5/6\r\n\r\nxy\r\n--b\r\n\r\nz\r\n--b--\r\n",
		"--b\r\nContent-Type: application/cdmi-object\r\n\r\n{}\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n--b--\r\n",
		"--b\r\nContent-Type: application/cdmi-object\r\n\r\n{\"valuetransferencoding\":\"utf-8\"}\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nh=C3=A9\r\n--b--\r\n",
		"--b\r\nContent-Type: application/cdmi-object\r\n\r\n{}\r\n--b\r\n\r\ncut",
		"--b\r\n\r\n{}\r\n--b--\r\n", "", "--b--",
	} {
		f.Add(seed)
	}
	ts := newTestServer(f)
	if resp, body := ts.do(http.MethodPut, "/cdmi/fz/", "{}", cdmiHdr(ctContainer)...); resp.StatusCode != http.StatusCreated {
		f.Fatalf("container: %d %s", resp.StatusCode, body)
	}
	n := 0
	f.Fuzz(func(t *testing.T, body string) {
		n++
		u := ts.URL + fmt.Sprintf("/cdmi/fz/o%d", n)
		status, msg := send(t, http.MethodPut, u, body, "multipart/mixed; boundary=b")
		switch {
		case status >= 500:
			t.Fatalf("%q: %d %s", body, status, msg)
		case status >= 400:
			if got, _ := send(t, http.MethodGet, u, "", ""); got != http.StatusNotFound {
				t.Fatalf("%q was refused (%d %s) but the object exists: GET %d", body, status, msg, got)
			}
		default:
			send(t, http.MethodDelete, u, "", "")
		}
	})
}

// send is one CDMI request of a fuzz target (ts.do reports to the F).
func send(t *testing.T, method, u, body, ct string) (int, string) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(v11, "1.1.1")
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
