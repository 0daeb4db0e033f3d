package occi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// Benchmarks put each OCCI rendering or parser beside a baseline measured
// in the same run: the cheapest thing that touches the same bytes
// (splitting the lines, writing the same string with a strings.Builder) or
// encoding/json on a plain struct of the same data. The ratio is the cost
// of OCCI's own work.

func benchModel() *model {
	return &model{registry: newRegistry(append(standard(), DefaultCatalogue.categories(map[string]*Category{KindCompute: standard()[3]})...))}
}

func benchEntity(i int) *Entity {
	id := fmt.Sprintf("8f2c6a1e-0000-4000-8000-%012d", i)
	return &Entity{ID: id, Location: "/compute/" + id, Kind: KindCompute,
		Mixins: []string{SchemeOSTemplate + "cirros", SchemeResourceTplate + "small"},
		Attrs: map[string]any{AttrTitle: "web server", "occi.compute.architecture": "x64", "occi.compute.cores": 2.0,
			"occi.compute.memory": 4.0, "occi.compute.hostname": "web-1.example.org", "occi.compute.state": "active",
			"occi.compute.state.message": "running"},
		Actions: []string{SchemeComputeAction + "stop", SchemeComputeAction + "restart", SchemeComputeAction + "suspend", SchemeComputeAction + "save"}}
}

// plainEntity is the same data as a plain struct, for encoding/json.
type plainEntity struct {
	Kind       string         `json:"kind"`
	Mixins     []string       `json:"mixins"`
	Attributes map[string]any `json:"attributes"`
	Actions    []string       `json:"actions"`
	ID         string         `json:"id"`
	Title      string         `json:"title"`
}

func plainOf(e *Entity) plainEntity {
	return plainEntity{Kind: e.Kind, Mixins: e.Mixins, Attributes: e.Attrs, Actions: e.Actions, ID: e.ID, Title: "web server"}
}

var sink any

func BenchmarkRenderEntity(b *testing.B) {
	r := &renderer{base: "http://cloud.example.org", m: benchModel()}
	e := benchEntity(1)
	var sb strings.Builder
	r.entityText(e).writePlain(&sb)
	plain := sb.String()
	b.Run("text-plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var sb strings.Builder
			r.entityText(e).writePlain(&sb)
			sink = sb.String()
		}
	})
	b.Run("baseline-builder-same-bytes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var sb strings.Builder
			sb.WriteString(plain)
			sink = sb.String()
		}
	})
	b.Run("text-occi-headers", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := make(map[string][]string)
			r.entityText(e).setHeaders(h)
			sink = h
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = marshal(r.entityJSON(e))
		}
	})
	b.Run("baseline-encoding-json-plain-struct", func(b *testing.B) {
		p := plainOf(e)
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = json.Marshal(p)
		}
	})
}

func BenchmarkParseEntity(b *testing.B) {
	r := &renderer{base: "http://cloud.example.org", m: benchModel()}
	e := benchEntity(1)
	var sb strings.Builder
	r.entityText(e).writePlain(&sb)
	text := []byte(sb.String())
	js := marshal(r.entityJSON(e))
	b.Run("text-plain", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := parseTextBody(text)
			if err != nil {
				b.Fatal(err)
			}
			sink = p
		}
	})
	b.Run("baseline-split-lines-same-bytes", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			sc := bufio.NewScanner(bytes.NewReader(text))
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			sink = lines
		}
	})
	b.Run("json", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := parseJSON(js)
			if err != nil {
				b.Fatal(err)
			}
			sink = p
		}
	})
	b.Run("baseline-encoding-json-plain-struct", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		for b.Loop() {
			var p plainEntity
			if err := json.Unmarshal(js, &p); err != nil {
				b.Fatal(err)
			}
			sink = p
		}
	})
}

// A collection of 1000 computes: text renders locations, JSON full entities.
func BenchmarkRenderCollection(b *testing.B) {
	r := &renderer{base: "http://cloud.example.org", m: benchModel()}
	es := make([]*Entity, 1000)
	locs := make([]string, len(es))
	plains := make([]plainEntity, len(es))
	for i := range es {
		es[i] = benchEntity(i)
		locs[i] = es[i].Location
		plains[i] = plainOf(es[i])
	}
	var sb strings.Builder
	r.locationsText(locs).writePlain(&sb)
	plain := sb.String()
	b.Run("text-plain-1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var sb strings.Builder
			r.locationsText(locs).writePlain(&sb)
			sink = sb.String()
		}
	})
	b.Run("uri-list-1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = r.uriList(locs)
		}
	})
	b.Run("baseline-builder-same-bytes-1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var sb strings.Builder
			sb.WriteString(plain)
			sink = sb.String()
		}
	})
	b.Run("json-1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = marshal(r.collectionJSON(es, true, false))
		}
	})
	b.Run("baseline-encoding-json-plain-structs-1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = json.Marshal(map[string]any{"resources": plains})
		}
	})
}

func BenchmarkParseCollection(b *testing.B) {
	r := &renderer{base: "http://cloud.example.org", m: benchModel()}
	locs := make([]string, 1000)
	es := make([]*Entity, 1000)
	for i := range locs {
		es[i] = benchEntity(i)
		locs[i] = es[i].Location
	}
	var sb strings.Builder
	r.locationsText(locs).writePlain(&sb)
	text := []byte(sb.String())
	js := marshal(r.collectionJSON(es, true, false))
	b.Run("text-plain-1000", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := parseTextBody(text)
			if err != nil || len(p.Locations) != 1000 {
				b.Fatal(err)
			}
			sink = p
		}
	})
	b.Run("baseline-split-lines-same-bytes-1000", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			sc := bufio.NewScanner(bytes.NewReader(text))
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			sink = lines
		}
	})
	b.Run("json-1000", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := parseJSON(js)
			if err != nil || len(p.Entities) != 1000 {
				b.Fatal(err)
			}
			sink = p
		}
	})
	b.Run("baseline-encoding-json-plain-structs-1000", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		for b.Loop() {
			var p struct {
				Resources []plainEntity `json:"resources"`
			}
			if err := json.Unmarshal(js, &p); err != nil {
				b.Fatal(err)
			}
			sink = p
		}
	})
}

// BenchmarkGetEntity GETs one compute (with a network interface link)
// over HTTP in text/plain and JSON, beside a bare net/http handler
// answering the same bytes and headers.
func BenchmarkGetEntity(b *testing.B) {
	r := newRig(b, Config{})
	loc := r.create("/compute/", "Category: compute; scheme=\""+SchemeInfra+"\"; class=\"kind\"\n"+
		"X-OCCI-Attribute: occi.core.title=\"web server\"\nX-OCCI-Attribute: occi.compute.cores=2\n")
	net := r.create("/network/", "Category: network; scheme=\""+SchemeInfra+"\"; class=\"kind\"\n")
	r.create("/networkinterface/", "Category: networkinterface; scheme=\""+SchemeInfra+"\"; class=\"kind\"\n"+
		"X-OCCI-Attribute: occi.core.source=\""+loc+"\"\nX-OCCI-Attribute: occi.core.target=\""+net+"\"\n")
	for _, accept := range []string{"text/plain", "application/occi+json"} {
		resp, body := r.do("GET", loc, "", "Accept: "+accept)
		if resp.StatusCode != 200 || !strings.Contains(body, net) {
			b.Fatalf("%s: %s", resp.Status, body)
		}
		name := strings.ReplaceAll(accept, "/", "-")
		b.Run(name, func(b *testing.B) { benchGet(b, r.url+loc, accept) })
		b.Run("baseline-bare-handler-same-bytes-"+name, func(b *testing.B) {
			benchBare(b, resp.Header, body)
		})
	}
}

// benchGet GETs url in the media type accept, the body read and
// dropped as it comes (allocations are the server's, not a copy of the
// body).
func benchGet(b *testing.B, url, accept string) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// benchBare GETs body from a bare handler that sets the same headers.
func benchBare(b *testing.B, h http.Header, body string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range h {
			if k != "Content-Length" && k != "Date" {
				w.Header()[k] = v
			}
		}
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func BenchmarkList10k(b *testing.B) { benchList(b, 10000) }
func BenchmarkList50k(b *testing.B) { benchList(b, 50000) }

// benchList lists n computes over HTTP in each rendering, beside the
// floor: the same SELECT of locations straight from the database, and a
// bare handler writing each rendering's bytes with no database at all.
func benchList(b *testing.B, n int) {
	r := newRig(b, Config{})
	st := store{}
	require := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	require(r.db.Transaction(func(tx *gorm.DB) error {
		for i := 0; i < n; i++ {
			e := benchEntity(i)
			e.Actions = nil
			if err := st.insert(tx, e); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, accept := range []string{"text/uri-list", "text/plain", "application/occi+json"} {
		resp, body := r.do("GET", "/compute/", "", "Accept: "+accept)
		entry := "/compute/"
		if accept == "application/occi+json" {
			entry = `"kind":"` + KindCompute + `"`
		}
		if got := strings.Count(body, entry); resp.StatusCode != 200 || got != n {
			b.Fatalf("%s listing: %s, %d entries", accept, resp.Status, got)
		}
		name := strings.ReplaceAll(accept, "/", "-")
		b.Run(name, func(b *testing.B) { benchGet(b, r.url+"/compute/", accept) })
		b.Run("baseline-bare-handler-same-bytes-"+name, func(b *testing.B) {
			benchBare(b, resp.Header, body)
		})
	}
	b.Run("baseline-sql-select-locations", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var locs []string
			require(r.db.Model(&entityRow{}).Where("kind IN ?", []string{KindCompute}).Order("location").Pluck("location", &locs).Error)
			sink = locs
		}
	})
}
