package main

import (
	"fmt"
	"net/http"
	"strings"
)

// scenario is one row of the table.
type scenario struct {
	name    string
	work    func(o options) string
	prepare func(e *env) (*pair, error)
}

// pair is what a prepared row measures: occicdmi's op and its baseline's.
type pair struct {
	server, baseline op
	baseName         string
	clients          int  // 0: --clients
	bytes            bool // rates in MB/s
	onLocation       func(string)
	stops            []func()
}

func (p *pair) stop() {
	for i := len(p.stops) - 1; i >= 0; i-- {
		p.stops[i]()
	}
}

func label(s string) func(options) string { return func(options) string { return s } }

var scenarios = []scenario{
	{"occi-get-text", label("OCCI GET one compute, text/plain"), occiGet("text/plain")},
	{"occi-get-json", label("OCCI GET one compute, JSON"), occiGet("application/occi+json")},
	{"occi-create", label("OCCI create compute"), occiCreate},
	{"occi-action", label("OCCI action start/stop"), occiAction},
	{"list-uri", listLabel("text/uri-list"), occiList("text/uri-list")},
	{"list-plain", listLabel("text/plain"), occiList("text/plain")},
	{"list-json", listLabel("JSON"), occiList("application/occi+json")},
	{"cdmi-read-cdmi", label("CDMI read 4 KiB, CDMI JSON"), cdmiRead(true)},
	{"cdmi-read-plain", label("CDMI read 4 KiB, non-CDMI"), cdmiRead(false)},
	{"cdmi-create-cdmi", label("CDMI create 4 KiB, CDMI JSON"), cdmiCreate(true)},
	{"cdmi-create-plain", label("CDMI create 4 KiB, non-CDMI"), cdmiCreate(false)},
	{"big-put", bigLabel("PUT"), bigPut},
	{"big-get", bigLabel("GET"), bigGet},
	{"s3-get", bigLabel("S3 GET"), s3Get},
}

func scenarioNames() []string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.name)
	}
	return n
}

func scenarioNamed(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

func listLabel(what string) func(options) string {
	return func(o options) string { return fmt.Sprintf("list %d computes, %s", o.computes, what) }
}

func bigLabel(what string) func(options) string {
	return func(o options) string { return fmt.Sprintf("%s %s, 1 client", what, humanBytes(float64(o.bigSize))) }
}

func getter(u, accept string) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		r, err := http.NewRequest("GET", u, nil)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Accept", accept)
		return r, nil
	}
}

// againstBare pairs req with a bare net/http handler answering what
// occicdmi answered to one request first.
func againstBare(e *env, req func() (*http.Request, error), onLocation func(string)) (*pair, error) {
	s, err := once(e.client, req)
	if err != nil {
		return nil, err
	}
	if onLocation != nil {
		onLocation(s.location)
	}
	base, stop, err := startBaseline(s)
	if err != nil {
		return nil, err
	}
	return &pair{server: httpOp(e.client, req), baseline: httpOp(e.client, retarget(req, base)),
		baseName: "bare net/http", onLocation: onLocation, stops: []func(){stop}}, nil
}

func occiGet(accept string) func(e *env) (*pair, error) {
	return func(e *env) (*pair, error) {
		if e.entity == "" {
			loc, err := createCompute(e.client, e.computes, "load-entity")
			if err != nil {
				return nil, err
			}
			e.created.add(loc)
			e.entity = loc
		}
		return againstBare(e, getter(e.entity, accept), nil)
	}
}

func occiCreate(e *env) (*pair, error) {
	req := func() (*http.Request, error) {
		r, err := http.NewRequest("POST", e.computes, strings.NewReader(computeBody("load-create")))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Content-Type", "text/plain")
		return r, nil
	}
	return againstBare(e, req, e.created.add)
}

// occiAction alternates start and stop (GFD.224 table 5: start needs an
// inactive compute) on one compute per client, handed out through a
// channel so that no two clients act on the same compute at once.
func occiAction(e *env) (*pair, error) {
	type machine struct {
		loc  string
		stop bool // the next action
	}
	pool := make(chan *machine, e.o.clients)
	for i := 0; i < e.o.clients; i++ {
		loc, err := createCompute(e.client, e.computes, fmt.Sprintf("load-action-%d", i))
		if err != nil {
			return nil, err
		}
		e.created.add(loc)
		pool <- &machine{loc: loc}
	}
	act := func(loc, term string) func() (*http.Request, error) {
		return func() (*http.Request, error) {
			body := `Category: ` + term + `; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"` + "\r\n"
			r, err := http.NewRequest("POST", loc+"?action="+term, strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			r.Header.Set("Content-Type", "text/plain")
			return r, nil
		}
	}
	m := <-pool
	s, err := once(e.client, act(m.loc, "start"))
	if err != nil {
		return nil, err
	}
	m.stop = true
	pool <- m
	base, stop, err := startBaseline(s)
	if err != nil {
		return nil, err
	}
	server := func() (int64, string, error) {
		m := <-pool
		defer func() { pool <- m }()
		term := map[bool]string{false: "start", true: "stop"}[m.stop]
		n, loc, err := httpOp(e.client, act(m.loc, term))()
		if err == nil {
			m.stop = !m.stop
		}
		return n, loc, err
	}
	return &pair{server: server, baseline: httpOp(e.client, retarget(act(m.loc, "start"), base)),
		baseName: "bare net/http", stops: []func(){stop}}, nil
}

func occiList(accept string) func(e *env) (*pair, error) {
	return func(e *env) (*pair, error) {
		n, err := populate(e.client, e.computes, e.o.computes, e.o.clients, &e.created)
		if err != nil {
			return nil, err
		}
		if n < e.o.computes {
			return nil, fmt.Errorf("the collection holds %d computes, want %d", n, e.o.computes)
		}
		return againstBare(e, getter(e.computes, accept), nil)
	}
}
