package occi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"gorm.io/gorm"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// Service is OCCI's Go API: the entities, links, actions, collections and
// user-defined mixins of GFD.223, without HTTP. Every method takes a
// context first and plain values, and answers domain values (*Entity,
// *Category, locations) or an error whose kind (package internal/kind)
// says what went wrong: kind.NotFound, kind.Invalid, kind.Conflict,
// kind.Forbidden, kind.Unavailable (a backend or the database is down),
// kind.Unsupported; an error without a kind is a bug.
//
// Locations are paths on this server ("/compute/<id>"). Inputs may carry
// absolute URIs instead; see WithBaseURL. Calls made with a context from
// WithTx run inside the caller's database transaction.
//
// A failed call leaves the store and the backends as they were: backend
// calls made before the failure are undone.
type Service struct {
	db      *gorm.DB
	compute cb.Backend
	volumes Volumes
	reg     *registry
	st      store
	mixins  mixinCache
	quotas  Quotas
	log     *slog.Logger
	// group commits the writes of concurrent calls together (SQLite).
	group *database.GroupCommit
	// joins is true when the compute backend keeps its state in this
	// database (computebackends.TxJoiner): its calls then run in the
	// transaction that records their outcome.
	joins bool
	// reserved are path prefixes other routers own (Config.Reserved).
	reserved []string
	// cache keeps what GETs read, when this process is the only writer of
	// its database (Config.SoleWriter); nil otherwise.
	cache *entityCache
	// pages keeps pages of listings, under the same rule.
	pages *memo
}

// NewService prepares the OCCI service: it reads the template catalogue
// and builds the registry of provider categories. Config.BaseURL is not
// used by the service (see WithBaseURL).
func NewService(_ context.Context, cfg Config) (*Service, error) {
	if cfg.DB == nil {
		return nil, fmt.Errorf("occi: a database is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cat, err := LoadCatalogue(cfg.Catalogue)
	if err != nil {
		return nil, err
	}
	cats := standard()
	kinds := map[string]*Category{}
	for _, c := range cats {
		kinds[c.ID()] = c
	}
	cats = append(cats, cat.categories(kinds)...)
	cats = append(cats, cfg.Categories...)
	s := &Service{db: cfg.DB, compute: cfg.Compute, volumes: cfg.Volumes, reg: newRegistry(cats),
		quotas: cfg.Quotas, reserved: cfg.Reserved, log: cfg.Logger,
		group: database.NewGroupCommit(cfg.DB), joins: cfg.Compute != nil && cb.JoinsTransactions(cfg.Compute)}
	if cfg.SoleWriter {
		// nil on PostgreSQL (NewWatch): no cache there.
		w := database.NewWatch(cfg.DB, "occi_")
		s.cache, s.pages = newEntityCache(w), newMemo(w, pageEntries, pageBytes)
		if s.joins {
			// A backend that joins our transactions keeps its state in
			// our database, of which we are then the only writer too.
			cb.CacheStatus(cfg.Compute)
		}
	}
	return s, nil
}

// ---- context values -----------------------------------------------------

type (
	txKey    struct{}
	baseKey  struct{}
	modelKey struct{}
)

// joined is a caller's transaction and the compensations of the backend
// calls made by service calls that joined it.
type joined struct {
	tx   *gorm.DB
	mu   sync.Mutex
	undo []func()
}

// WithTx returns a context under which service calls run inside the
// caller's transaction tx (each call's own writes become a savepoint in
// it, gorm's nested Transaction), so a caller can make several OCCI
// changes, and changes of its own, commit or fail together:
//
//	err := db.Transaction(func(tx *gorm.DB) error {
//		ctx := occi.WithTx(ctx, tx)
//		// svc.Create(ctx, ...), svc.Update(ctx, ...), ...
//	})
//	if err != nil {
//		occi.Undo(ctx) // the ctx WithTx returned: undo backend calls
//	}
//
// The database cannot take back what the compute and volume backends
// did: a caller that rolls the transaction back after service calls
// succeeded calls Undo to delete the machines and volumes they made.
// A call that fails undoes its own backend calls itself.
func WithTx(ctx context.Context, tx *gorm.DB) context.Context {
	return context.WithValue(ctx, txKey{}, &joined{tx: tx})
}

// Undo runs, newest first, the compensations of the backend calls made by
// successful service calls under ctx (from WithTx); call it after rolling
// the transaction back. It does nothing for a context without WithTx.
func Undo(ctx context.Context) {
	j, _ := ctx.Value(txKey{}).(*joined)
	if j == nil {
		return
	}
	j.mu.Lock()
	undo := j.undo
	j.undo = nil
	j.mu.Unlock()
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
}

// WithBaseURL tells service calls under ctx the server's public base URL
// (scheme and authority, e.g. "https://cloud.example.org"): absolute URIs
// on it that inputs carry (link sources and targets, member locations,
// filters) are read as local paths. Without it, only paths are local.
func WithBaseURL(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, baseKey{}, strings.TrimRight(base, "/"))
}

// withModel loads the categories (with the user-defined mixins) once for
// a request: calls under the returned context share them, and see the
// mixins calls add. Handlers render with the same model.
func (s *Service) withModel(ctx context.Context) (context.Context, *model, error) {
	m, err := s.loadModel(ctx, s.handle(ctx))
	if err != nil {
		return ctx, nil, err
	}
	return context.WithValue(ctx, modelKey{}, m), m, nil
}

func (s *Service) handle(ctx context.Context) *gorm.DB {
	if j, _ := ctx.Value(txKey{}).(*joined); j != nil {
		return j.tx.WithContext(ctx)
	}
	return s.db.WithContext(ctx)
}

// loadModel loads the model: the provider's categories and the user
// mixins the context's caller sees.
func (s *Service) loadModel(ctx context.Context, db *gorm.DB) (*model, error) {
	if m, _ := ctx.Value(modelKey{}).(*model); m != nil {
		return m, nil
	}
	_, joined := ctx.Value(txKey{}).(*joined)
	users, err := s.mixins.get(db, s.st, !joined)
	if err != nil {
		return nil, dbErr(err)
	}
	return s.modelOf(callerOf(ctx).scope(), users), nil
}

// modelOf is the model of a request of a caller who sees sc, given every
// project's user mixins.
func (s *Service) modelOf(sc scope, users []*Category) *model {
	// The maps are the request's own: calls add the mixins they create.
	m := &model{registry: s.reg, user: map[string]*Category{}, ulo: map[string]*Category{}}
	for _, c := range users {
		if sc.all || c.project == sc.project {
			m.user[c.ID()] = c
			m.ulo[c.Location] = c
		}
	}
	return m
}

// mixinCache keeps every project's user mixins in memory with the version
// (migration 0014) they were read at; a request reads the version, one
// cheap statement, and the mixins only when it moved. Every change bumps
// the version in its own transaction, so another server process's change
// is seen by the first request after it commits. The Categories are
// shared between requests and never changed.
type mixinCache struct {
	mu      sync.Mutex
	loaded  bool
	version int64
	all     []*Category
}

// get answers every project's user mixins. keep is false inside a
// caller's transaction: what it reads there may be uncommitted, so it is
// neither taken from the cache nor kept in it.
func (c *mixinCache) get(db *gorm.DB, st store, keep bool) ([]*Category, error) {
	if !keep {
		return st.userMixins(db, everyone)
	}
	v, err := st.mixinVersion(db)
	if err != nil {
		return nil, err
	}
	return c.at(db, st, v)
}

// at answers every project's user mixins as of version v, which the
// caller read: from the cache when it was loaded at v.
func (c *mixinCache) at(db *gorm.DB, st store, v int64) ([]*Category, error) {
	c.mu.Lock()
	if c.loaded && c.version == v {
		all := c.all
		c.mu.Unlock()
		return all, nil
	}
	c.mu.Unlock()
	// Read after the version: a change committed in between makes the
	// next request, which sees a newer version, read them again.
	all, err := st.userMixins(db, everyone)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.loaded, c.version, c.all = true, v, all
	c.mu.Unlock()
	return all, nil
}

// ---- one call's work ---------------------------------------------------------

// op is one service call's work: the database handle bound to the call's
// context (the caller's transaction when joined), the model with user
// mixins, the base URL of local URIs.
type op struct {
	s    *Service
	ctx  context.Context
	db   *gorm.DB
	m    *model
	base string
	j    *joined // the caller's transaction, nil when none
	who  Caller  // whom the call acts for
	sc   scope   // the entities who sees
	// undo holds compensations for backend calls made so far, run in
	// reverse when a later step fails.
	undo []func()
	// inTx is true while backend calls run in the call's transaction
	// (inBackendTx): their changes need no compensation.
	inTx bool
}

func (s *Service) begin(ctx context.Context) (*op, error) {
	who := callerOf(ctx)
	if err := who.check(); err != nil {
		return nil, err
	}
	db := s.handle(ctx)
	m, err := s.loadModel(ctx, db)
	if err != nil {
		return nil, err
	}
	base, _ := ctx.Value(baseKey{}).(string)
	j, _ := ctx.Value(txKey{}).(*joined)
	return &op{s: s, ctx: ctx, db: db, m: m, base: base, j: j, who: who, sc: who.scope()}, nil
}

func (o *op) rollback() {
	for i := len(o.undo) - 1; i >= 0; i-- {
		o.undo[i]()
	}
	o.undo = nil
}

// done ends a successful call: its compensations are dropped, or kept for
// Undo when the call joined a caller's transaction.
func (o *op) done() {
	if o.j != nil && len(o.undo) > 0 {
		o.j.mu.Lock()
		o.j.undo = append(o.j.undo, o.undo...)
		o.j.mu.Unlock()
	}
	o.undo = nil
}

// tx runs fn in one database transaction (a savepoint in the caller's,
// else committed with the writes of concurrent calls, see
// database.GroupCommit); when it fails, backend calls made so far are
// undone. fn uses tx alone for the database: on SQLite the group's
// transaction holds the one writer connection.
func (o *op) tx(fn func(tx *gorm.DB) error) error {
	var err error
	if o.j != nil {
		err = o.db.Transaction(fn)
	} else {
		err = o.s.group.Run(o.ctx, fn)
	}
	if err == nil {
		o.done()
		return nil
	}
	o.rollback()
	if kind.Of(err) != kind.Internal {
		return err
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// Another request (perhaps another server process) took the same
		// location or id between our checks and our write.
		return &kind.Error{Kind: kind.Conflict, Msg: "a concurrent request created the same entity or category; retry", Err: err}
	}
	return fmt.Errorf("store the change: %w", dbErr(err))
}

// inBackendTx runs fn, whose compute backend calls then make their changes
// in tx (the backend joins transactions, Service.joins): they commit with
// what the call stores, and a failure rolls them back with it, so they
// register no compensation. Backend calls under it use o.ctx, which
// carries tx without the request's cancellation: a statement cut short
// inside a group's transaction would take the others' writes with it.
func (o *op) inBackendTx(tx *gorm.DB, fn func() error) error {
	ctx := o.ctx
	o.ctx, o.inTx = database.WithTx(context.WithoutCancel(ctx), tx), true
	defer func() { o.ctx, o.inTx = ctx, false }()
	return fn()
}

// dbErr gives a database error its kind (unreachable: Unavailable).
func dbErr(err error) error { return database.Classify(err) }

// localPath turns a URI a client sent into a location on this server: an
// absolute URI on our base (same host) becomes its path; other absolute
// URIs stay.
func (o *op) localPath(uri string) string {
	uri = strings.TrimSpace(uri)
	if strings.HasPrefix(uri, "/") || o.base == "" {
		return uri
	}
	if strings.HasPrefix(uri, o.base+"/") {
		return uri[len(o.base):]
	}
	u, err := url.Parse(uri)
	if err == nil && u.Scheme != "" && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
		if b, err := url.Parse(o.base); err == nil && strings.EqualFold(b.Host, u.Host) {
			return u.EscapedPath()
		}
	}
	return uri
}

// backendErr names what failed around a backend's error; its kind passes
// through (a backend that is down answers Unavailable), and an error
// without a kind stays internal.
func backendErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if kind.Of(err) == kind.Conflict {
		return kind.Errorf(kind.Conflict, "%s: the current state does not allow this: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// entityAt loads the entity at loc (NotFound "no entity at loc", also
// when it is another project's), withLinks with a resource's links.
func (o *op) entityAt(loc string, withLinks bool) (*Entity, error) {
	e, err := o.s.st.entity(o.db, o.sc, loc, withLinks)
	if errors.Is(err, errNotFound) {
		return nil, kind.Errorf(kind.NotFound, "no entity at %s", loc)
	} else if err != nil {
		return nil, dbErr(err)
	}
	return e, nil
}

// entities loads entities in bulk (missing ones and other projects' are
// skipped).
func (o *op) entities(locs []string) ([]*Entity, error) {
	es, err := o.s.st.entities(o.db, o.sc, locs)
	return es, dbErr(err)
}

// linksOf loads the caller's links whose source (or target, with
// targets) is one of locs.
func (o *op) linksOf(locs []string, targets bool) ([]*Entity, error) {
	ls, err := o.s.st.links(o.db, o.sc, locs, targets)
	if err != nil {
		return nil, dbErr(err)
	}
	return o.entities(ls)
}

// list lists the locations f selects among the caller's entities.
func (o *op) list(f filter) ([]string, error) {
	locs, err := o.s.st.list(o.db, o.sc, f)
	return locs, dbErr(err)
}
