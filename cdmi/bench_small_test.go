package cdmi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"
)

// BenchmarkSmall measures 4 KiB creates and reads over loopback, 8 clients
// at once, each beside a baseline in the same run on the same disk:
//
//	go test -run '^$' -bench Small -benchmem -count 5 ./cdmi/
//
// read-4KiB/{cdmi,noncdmi} against a bare handler serving the same 4 KiB
// file with http.ServeContent; create-4KiB/{cdmi,noncdmi} against a bare
// handler writing the body to a new file and fsyncing it and its folder
// (what an acknowledged-is-durable value write costs at the least).
// sql/op is the SQL statements the server ran per request.
func BenchmarkSmall(b *testing.B) {
	ts := newTestServer(b)
	var stmts atomic.Int64
	countStatements(b, ts.cdmi.svc.db, &stmts)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	value := strings.Repeat("x", 4096)
	cdmiBody := `{"mimetype":"application/octet-stream","value":"` + value + `"}`
	cdmiHdr := []string{"Content-Type", ctObject, "Accept", ctObject, v11, "1.1.1"}
	rawHdr := []string{"Content-Type", "application/octet-stream"}
	send := func(b *testing.B, method, url, body string, want int, hdr []string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, url, rd)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Errorf("%s %s: %s", method, url, resp.Status)
		}
	}
	parallel := func(name string, fn func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(4096)
			b.SetParallelism(4) // 8 clients on 2 cores
			stmts.Store(0)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					fn(b)
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			b.ReportMetric(float64(stmts.Load())/float64(b.N), "sql/op")
		})
	}

	base := baselineServer(b)
	var seq atomic.Int64 // names stay fresh across the benchmark's runs
	parallel("create-4KiB/cdmi", func(b *testing.B) {
		send(b, "PUT", fmt.Sprintf("%s/cdmi/s%d", ts.URL, seq.Add(1)), cdmiBody, 201, cdmiHdr)
	})
	parallel("create-4KiB/noncdmi", func(b *testing.B) {
		send(b, "PUT", fmt.Sprintf("%s/cdmi/s%d", ts.URL, seq.Add(1)), value, 201, rawHdr)
	})
	parallel("create-4KiB/baseline-write-fsync", func(b *testing.B) {
		send(b, "PUT", fmt.Sprintf("%s/new/s%d", base.URL, seq.Add(1)), value, 201, rawHdr)
	})
	send(b, "PUT", ts.URL+"/cdmi/r", cdmiBody, 201, cdmiHdr)
	parallel("read-4KiB/cdmi", func(b *testing.B) {
		send(b, "GET", ts.URL+"/cdmi/r", "", 200, cdmiHdr)
	})
	parallel("read-4KiB/noncdmi", func(b *testing.B) {
		send(b, "GET", ts.URL+"/cdmi/r", "", 200, nil)
	})
	parallel("read-4KiB/baseline-ServeContent", func(b *testing.B) {
		send(b, "GET", base.URL+"/r", "", 200, nil)
	})
}

// baselineServer is the bare net/http handler the small benchmarks compare
// with: GET /r serves a 4 KiB file through http.ServeContent (open, stat,
// serve, as a file server does); PUT /new/<name> writes the body to a new
// file, fsyncs it and fsyncs the folder.
func baselineServer(b *testing.B) *httptest.Server {
	dir := b.TempDir() // the same disk as the server's data
	if err := os.WriteFile(filepath.Join(dir, "r"), []byte(strings.Repeat("x", 4096)), 0o600); err != nil {
		b.Fatal(err)
	}
	newDir := filepath.Join(dir, "new")
	if err := os.Mkdir(newDir, 0o750); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			if err := writeSynced(filepath.Join(newDir, filepath.Base(r.URL.Path)), r.Body); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.WriteHeader(http.StatusCreated)
			return
		}
		f, err := os.Open(filepath.Join(dir, "r"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		http.ServeContent(w, r, "", st.ModTime(), f)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func writeSynced(name string, r io.Reader) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// countStatements adds one to n for every SQL statement db runs.
func countStatements(t testing.TB, db *gorm.DB, n *atomic.Int64) {
	t.Helper()
	count := func(*gorm.DB) { n.Add(1) }
	statementHook = func(string) { n.Add(1) } // what bypasses gorm (rows.go)
	t.Cleanup(func() { statementHook = nil })
	cb := db.Callback()
	for _, err := range []error{
		cb.Query().After("gorm:query").Register("test:count", count),
		cb.Row().After("gorm:row").Register("test:count", count),
		cb.Raw().After("gorm:raw").Register("test:count", count),
		cb.Create().After("gorm:create").Register("test:count", count),
		cb.Update().After("gorm:update").Register("test:count", count),
		cb.Delete().After("gorm:delete").Register("test:count", count),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}
