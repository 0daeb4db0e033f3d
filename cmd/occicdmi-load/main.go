// Command occicdmi-load measures occicdmi under load, each figure beside a
// baseline measured in the same run on the same machine.
//
// Usage:
//
//	go run ./cmd/occicdmi-load [flags]
//
//	--url URL         target a running occicdmi (loopback only); default: start
//	                  one in process, configured from OCCICDMI_* like the server,
//	                  with a fresh data folder and SQLite file
//	--clients N       concurrent clients of the small-request rows (default 8)
//	--duration D      how long each round of a row runs against each server (default 5s)
//	--rounds N        rounds per row; figures are medians over them (default 3)
//	--computes N      size of the compute collection the listings read (default 10000)
//	--big-size N      bytes of a big transfer (default 268435456, 256 MiB)
//	--nginx PATH      nginx for the file-server baselines (default: found on PATH
//	                  or in /usr/sbin; "none": Go's http.FileServer)
//	--scenarios LIST  comma-separated subset of the rows below (default: all)
//	--keep            keep what this run created on an external server
//	--cpuprofile FILE write a CPU profile of the occicdmi rounds to FILE (the
//	                  baselines are not run then; the load client is in the
//	                  profile too, under net/http's client functions)
//
// Each round measures occicdmi and then its baseline for --duration, so a
// machine that gets busier mid-run shifts both; the table gives the median
// over the rounds of each rate and of each round's ratio occicdmi ÷ baseline.
// Baselines:
//
//	bare net/http   a handler answering the same status, type and number of
//	                bytes as occicdmi did (OCCI rows, listings)
//	nginx           nginx serving a file holding the same bytes (CDMI reads,
//	                big GET), or Go's http.FileServer without nginx
//	fsync           a net/http handler writing each body as the fs backend
//	                does: temporary file, fsync, rename, fsync of the folder
//	                (CDMI creates, big PUT)
//	S3 SDK direct   GetObject on the same S3 server (s3-get)
//
// Rows (--scenarios):
//
//	occi-get-text, occi-get-json   GET one compute, text/plain / application/occi+json
//	occi-create                    POST a new compute, text/plain
//	occi-action                    POST ?action=start and ?action=stop, alternating on
//	                               one compute per client (start needs it inactive)
//	list-uri, list-plain, list-json  GET the compute collection (>= --computes)
//	cdmi-read-cdmi, cdmi-read-plain  read a 4 KiB data object, CDMI JSON / its value
//	cdmi-create-cdmi, cdmi-create-plain  create a 4 KiB data object, CDMI / non-CDMI
//	big-put, big-get               one client moving --big-size bytes, non-CDMI
//	s3-get                         the same GET from a second in-process server whose
//	                               values are in S3 (OCCICDMI_S3_ENDPOINT, _BUCKET,
//	                               _ACCESS_KEY, _SECRET_KEY); skipped without them
//
// alloc/req is the heap allocated in this process per occicdmi request
// (server and load client together), shown when the server is in process.
// Below the table, the peak resident memory of the process in each row's
// occicdmi rounds (Linux; the kernel's count restarted before each round),
// e.g. --scenarios list-json --clients 64 for 64 concurrent listings.
// Only loopback addresses are used; every loop is bounded by --duration.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "occicdmi-load:", err)
		os.Exit(1)
	}
}

type options struct {
	url       string
	clients   int
	duration  time.Duration
	rounds    int
	computes  int
	bigSize   int64
	nginx     string
	scenarios []scenario
	keep      bool
	profile   string
}

func parseFlags(args []string) (options, error) {
	var o options
	var sc string
	fs := flag.NewFlagSet("occicdmi-load", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "", "base URL of a running occicdmi on loopback (default: start one in process)")
	fs.IntVar(&o.clients, "clients", 8, "concurrent clients of the small-request rows")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "duration of each round against each server")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds per row (figures are medians)")
	fs.IntVar(&o.computes, "computes", 10000, "computes in the listed collection")
	fs.Int64Var(&o.bigSize, "big-size", 256<<20, "bytes of a big transfer")
	fs.StringVar(&o.nginx, "nginx", findNginx(), `nginx binary for the file-server baselines ("none": Go's file server)`)
	fs.StringVar(&sc, "scenarios", strings.Join(scenarioNames(), ","), "rows to run")
	fs.BoolVar(&o.keep, "keep", false, "keep what this run created on an external server")
	fs.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the occicdmi rounds to this file (no baselines)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.clients < 1 || o.clients > 1024:
		return o, fmt.Errorf("--clients %d: want 1..1024", o.clients)
	case o.duration <= 0 || o.duration > 10*time.Minute:
		return o, fmt.Errorf("--duration %s: want (0, 10m]", o.duration)
	case o.rounds < 1 || o.rounds > 100:
		return o, fmt.Errorf("--rounds %d: want 1..100", o.rounds)
	case o.computes < 1 || o.computes > 1000000:
		return o, fmt.Errorf("--computes %d: want 1..1000000", o.computes)
	case o.bigSize < 1 || o.bigSize > 64<<30:
		return o, fmt.Errorf("--big-size %d: want 1..64 GiB", o.bigSize)
	}
	if o.nginx == "none" {
		o.nginx = ""
	}
	for _, name := range strings.Split(sc, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		s, ok := scenarioNamed(name)
		if !ok {
			return o, fmt.Errorf("unknown scenario %q (want %s)", name, strings.Join(scenarioNames(), ", "))
		}
		o.scenarios = append(o.scenarios, s)
	}
	return o, nil
}

func run(args []string, out io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	e, err := newEnv(o)
	if err != nil {
		return err
	}
	defer e.close(out)
	prof, err := newProfiler(o.profile)
	if err != nil {
		return err
	}
	defer prof.finish()
	fmt.Fprintf(out, "occicdmi at %s (%s), compute collection %s\n", e.target, map[bool]string{true: "external", false: "in process"}[e.external], e.computes)
	fmt.Fprintf(out, "clients %d, %d rounds of %s per row and server, CPUs %d, GOMAXPROCS %d\n\n", o.clients, o.rounds, o.duration, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	var rows []row
	for _, s := range o.scenarios {
		r, err := runScenario(e, s, prof)
		if errors.Is(err, errSkipped) {
			fmt.Fprintf(out, "%s: skipped: %v\n", s.name, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(os.Stderr, "%s done\n", s.name)
		rows = append(rows, r)
	}
	fmt.Fprintln(out)
	printTable(out, rows)
	return nil
}

// errSkipped marks a row that this environment cannot run.
var errSkipped = errors.New("skipped")

// runScenario prepares s and measures its pair for the rounds asked.
func runScenario(e *env, s scenario, prof *profiler) (row, error) {
	p, err := s.prepare(e)
	if err != nil {
		return row{}, err
	}
	defer p.stop()
	clients := e.o.clients
	if p.clients > 0 {
		clients = p.clients
	}
	r := row{work: s.work(e.o), baseline: p.baseName, bytes: p.bytes, inProcess: !e.external, clients: clients}
	if prof != nil {
		r.baseline = "not run with --cpuprofile"
	}
	for i := 0; i < e.o.rounds; i++ {
		if err := prof.start(); err != nil {
			return r, err
		}
		r.server = append(r.server, measure(clients, e.o.duration, p.server, p.onLocation))
		if prof == nil {
			r.base = append(r.base, measure(clients, e.o.duration, p.baseline, nil))
		}
	}
	return r, nil
}

// profiler writes one CPU profile from the first occicdmi round to the
// end of the run. pprof cannot pause, so with a profile the baselines are
// not run at all; the set-up of later rows (a listing's population) is in
// it too, so profile one row at a time.
type profiler struct {
	f       *os.File
	started bool
}

func newProfiler(path string) (*profiler, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &profiler{f: f}, nil
}

func (p *profiler) start() error {
	if p == nil || p.started {
		return nil
	}
	p.started = true
	return pprof.StartCPUProfile(p.f)
}

func (p *profiler) finish() {
	if p == nil {
		return
	}
	if p.started {
		pprof.StopCPUProfile()
	}
	_ = p.f.Close()
}
