// Package app wires occicdmi together: configuration, database, migrations,
// backends and the one HTTP router both protocols share. cmd/occicdmi is a
// thin main around it, and the spec-tests use it to run a server in process.
package app

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/linkage"
	"github.com/occicdmi/occicdmi/migrations"
	"github.com/occicdmi/occicdmi/occi"
	"github.com/occicdmi/occicdmi/storagebackends"

	// The embedded storage backend; others register from their own files.
	_ "github.com/occicdmi/occicdmi/storagebackends/fs"
)

// Version is the server's version, shown in the Server header.
var Version = "0.1.0"

// ServerHeader is sent on every response. OCCI 1.2 (GFD.223 §3.6) asks for
// the OCCI version in it.
func ServerHeader() string { return "occicdmi/" + Version + " OCCI/1.2" }

// App is a wired server: its handler and what must be closed with it.
type App struct {
	Handler http.Handler
	DB      *gorm.DB
	Compute computebackends.Backend
	Objects storagebackends.Objects
	Volumes storagebackends.Volumes
	closers []func() error
	ops     *ops // metrics, readiness, access log (ops.go)
	// wrap puts the middleware around a router (routes); benchmarks put
	// it around a trivial handler to see what it costs alone.
	wrap   func(http.Handler) http.Handler
	router http.Handler // a routeTable, or the gorilla router it could not compile
	// machines lists the compute backend's machines for start-up
	// recovery (recover.go); nil when the backend cannot.
	machines computebackends.Lister
	// resizer gives running machines new disk sizes (the linkage's live
	// RBD resize); nil when the backend cannot.
	resizer computebackends.DiskResizer
}

// IsPostgres tells whether a database setting names PostgreSQL.
func IsPostgres(dsn string) bool { return database.IsPostgres(dsn) }

// OpenDB opens the database the configuration names, without migrating it.
func OpenDB(cfg Config) (*gorm.DB, error) { return database.Open(cfg.Database) }

// Migrate opens the database and applies pending migrations.
func Migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	db, err := OpenDB(cfg)
	if err != nil {
		return err
	}
	defer closeDB(db)
	applied, err := migrations.Run(ctx, db)
	if err != nil {
		return err
	}
	log.Info("migrations applied", "applied", applied, "database", redact(cfg.Database))
	return nil
}

func closeDB(db *gorm.DB) { database.Close(db) }

// redact hides a password in a database URL before it reaches a log.
func redact(database string) string {
	if i := strings.Index(database, "://"); i >= 0 {
		if at := strings.LastIndex(database, "@"); at > i {
			userinfo := database[i+3 : at]
			if c := strings.Index(userinfo, ":"); c >= 0 {
				return database[:i+3] + userinfo[:c] + ":***" + database[at:]
			}
		}
	}
	return database
}

// New opens the database, applies migrations, opens the backends and builds
// the router.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	log = withRequestIDs(log)
	authn, err := newAuthenticator(cfg, log)
	if err != nil {
		return nil, err
	}
	g, err := newGuard(cfg, log)
	if err != nil {
		return nil, err
	}
	a := &App{}
	ok := false
	defer func() {
		if !ok {
			_ = a.Close()
		}
	}()
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("create the data folder: %w", err)
	}
	own, err := a.takeOwnership(cfg, log)
	if err != nil {
		return nil, err
	}
	db, err := OpenDB(cfg)
	if err != nil {
		return nil, err
	}
	a.DB = db
	a.closers = append(a.closers, func() error { closeDB(db); return nil })
	if _, err := migrations.Run(ctx, db); err != nil {
		return nil, err
	}

	if cfg.Compute == sim.Name {
		// sim keeps its machines in the server's database, so every
		// process on one PostgreSQL sees the same ones.
		a.Compute = sim.New(db)
	} else if a.Compute, err = computebackends.Open(ctx, cfg.Compute, computebackends.Options{
		DataDir: cfg.DataDir, URI: cfg.LibvirtURI, ImageDir: cfg.ImageDir, Logger: log,
	}); err != nil {
		return nil, fmt.Errorf("%w (or %s)", err, sim.Name)
	}
	a.closers = append(a.closers, a.Compute.Close)
	sopts := storagebackends.Options{
		DataDir: cfg.DataDir, S3Endpoint: cfg.S3Endpoint, S3Region: cfg.S3Region, S3Bucket: cfg.S3Bucket,
		S3AccessKey: cfg.S3AccessKey, S3SecretKey: cfg.S3SecretKey, S3ReadAhead: int(cfg.S3ReadAhead),
		CephConf: cfg.CephConf, CephPool: cfg.CephPool,
		Logger: log,
	}
	if a.Objects, err = storagebackends.OpenObjects(ctx, cfg.Objects, sopts); err != nil {
		return nil, err
	}
	a.closeIfCloser(a.Objects)
	if a.Volumes, err = storagebackends.OpenVolumes(ctx, cfg.Volumes, sopts); err != nil {
		return nil, err
	}
	a.closeIfCloser(a.Volumes)
	a.removeTemp(ctx, cfg, own, log)
	a.machines, _ = a.Compute.(computebackends.Lister) // before instrument wraps it
	a.resizer, _ = a.Compute.(computebackends.DiskResizer)
	a.instrument(cfg, log, authn.readyChecks()...)
	maxVolume, _ := storagebackends.ParseSize(cfg.MaxVolumeSize) // checked by Config.fill
	maxValue, _ := storagebackends.ParseSize(cfg.MaxValueSize)
	a.Volumes = storagebackends.LimitVolumes(a.Volumes, maxVolume)

	link, err := a.openLinkage(cfg, log)
	if err != nil {
		return nil, err
	}
	cdmiServer, err := cdmi.New(ctx, cdmi.Config{
		DB: db, Objects: a.Objects, BaseURL: cfg.BaseURL, Root: cfg.CDMIRoot,
		EnterpriseNumber: cfg.EnterpriseNumber, Logger: log,
		// CDMI bodies spool large values to disk; /tmp may be tmpfs, the
		// data folder is where the values go anyway.
		TempDir:    filepath.Join(cfg.DataDir, "tmp"),
		ExportHook: link, Disks: link, Snapshots: link,
		Principal:       cdmiPrincipal, // ACLs evaluated for the authenticated user (§16.1)
		MaxValueSize:    maxValue,
		ExclusiveValues: own.valuesAlone(cfg),
	})
	if err != nil {
		return nil, fmt.Errorf("cdmi: %w", err)
	}
	a.closers = append(a.closers, cdmiServer.Close) // pending access times, before the database closes
	occiServer, err := occi.New(ctx, occi.Config{
		DB: db, Compute: a.Compute, Volumes: link, Categories: linkage.Categories(),
		BaseURL: cfg.BaseURL, Catalogue: cfg.Catalogue, Quotas: cfg.quotas, Logger: log,
		Reserved:   []string{cfg.CDMIRoot}, // CDMI's router serves it: an OCCI entity there would be unreachable
		SoleWriter: own.database,           // we hold the SQLite file's lock (never on PostgreSQL): GETs may be cached
	})
	if err != nil {
		return nil, fmt.Errorf("occi: %w", err)
	}
	if err := link.Connect(ctx, occiServer.Service(), cdmiServer.Service()); err != nil {
		return nil, err
	}
	a.recoverMachines(ctx, cfg, occiServer.Service(), own, log)

	a.router = compiled(routes(cdmiServer, occiServer, a.ops))
	a.wrap = func(h http.Handler) http.Handler {
		return &front{ops: a.ops, guard: g, authn: authn, next: h, log: log, server: []string{ServerHeader()}}
	}
	a.Handler = a.wrap(a.router)
	log.Info("occicdmi ready",
		"compute", a.Compute.Name(), "compute_simulated", a.Compute.Simulated(),
		"objects", cfg.Objects, "volumes", cfg.Volumes,
		"database", redact(cfg.Database), "cdmi_root", cfg.CDMIRoot)
	ok = true
	return a, nil
}

// openLinkage joins OCCI storage and CDMI containers over the volume
// backend, serving volumes over NBD on a socket under the data folder.
func (a *App) openLinkage(cfg Config, log *slog.Logger) (*linkage.Linkage, error) {
	lc := linkage.Config{
		DB: a.DB, Volumes: a.Volumes, RBD: cfg.Volumes == "rbd", DiskResizer: a.resizer,
		NBDSocket: nbdSocketPath(cfg.DataDir), Logger: log,
		Principal: cdmiPrincipalOf, // owner of OCCI-first containers; deviceid attaches (§16.1)
	}
	if err := nbdConfig(cfg, &lc); err != nil {
		return nil, err
	}
	link, err := linkage.New(lc)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, link.Close)
	return link, nil
}

// nbdSocketPath is <data>/nbd/nbd.sock, or a folder of its own under the
// temporary folder when that path is too long for a Unix socket (108
// bytes on Linux).
func nbdSocketPath(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	p := filepath.Join(abs, "nbd", "nbd.sock")
	if len(p) < 100 {
		return p
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(os.TempDir(), "occicdmi-nbd-"+hex.EncodeToString(sum[:6]), "nbd.sock")
}

// routes builds the one router both protocols share. CDMI owns its root
// prefix; OCCI owns the rest (entities may live at client-chosen paths).
func routes(c *cdmi.Server, o *occi.Server, ops *ops) *mux.Router {
	r := mux.NewRouter()
	// Paths are matched as sent: CDMI names carry %2F, %25 and the like,
	// which must not be decoded or cleaned into other names.
	r.SkipClean(true)
	r.UseEncodedPath()
	ops.routes(r) // /metrics, /healthz, /readyz: before OCCI's catch-all
	c.Routes(r)
	o.Routes(r)
	return r
}

// compiled is r as a routeTable when it compiles, else r itself.
func compiled(r *mux.Router) http.Handler {
	if t := compileRoutes(r); t != nil {
		return t
	}
	return r
}

// route is the handler the router picks for r (benchmarks).
func (a *App) route(r *http.Request) http.Handler {
	if t, ok := a.router.(*routeTable); ok {
		return t.handler(r)
	}
	var m mux.RouteMatch
	if !a.router.(*mux.Router).Match(r, &m) {
		return nil
	}
	return m.Handler
}

// closeIfCloser arranges for a backend holding connections (Ceph's) to be
// closed with the app.
func (a *App) closeIfCloser(v any) {
	if c, ok := v.(io.Closer); ok {
		a.closers = append(a.closers, c.Close)
	}
}

// Close releases the backends and the database, in reverse order of opening.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// Serve runs the HTTP server until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.fill(); err != nil { // the parsed limits newHTTPServer uses
		return err
	}
	if err := startAuth(cfg, log); err != nil {
		return err
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return err
	}
	a, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	opsLn, err := a.listenOps(cfg, log)
	if err != nil {
		return err
	}
	defer opsLn.close()
	srv := newHTTPServer(cfg, a.Handler, tc)
	errc := make(chan error, 1)
	go func() { errc <- listenAndServe(srv, log) }()
	log.Info("listening", "address", cfg.Listen, "tls", tc != nil)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// newHTTPServer is the main listener's server. Bodies have no overall
// timeout (a large upload may take hours); the guard's minimum rate bounds
// them instead.
func newHTTPServer(cfg Config, h http.Handler, tc *tls.Config) *http.Server {
	return &http.Server{
		Addr:              cfg.Listen,
		Handler:           h,
		ReadHeaderTimeout: cfg.limits.headerTimeout,
		IdleTimeout:       cfg.limits.idleTimeout,
		MaxHeaderBytes:    1 << 20,
		TLSConfig:         tc,
	}
}

// NewLogger returns the slog logger the configuration asks for.
func NewLogger(format string, w *os.File) *slog.Logger {
	if format == "auto" {
		format = "json"
		if st, err := w.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
