package occi

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// An entity record is one entity read in ONE column of ONE row: its
// fields, its mixins and its attributes as a string of length-prefixed
// fields ("<bytes>:<field>"). Each write of an entity keeps its record in
// the row's doc column (migration 0015, refreshDocs, in the write's
// transaction), so a listing reads one column of one row per entity: the
// SQLite driver pays a cgo call per row and per column, and SQLite a
// B-tree search per attribute row, which made a listing of 10,000
// computes read 100,000 rows of three to eight columns. A row whose doc
// is empty (written by a path that does not keep it) is read by
// computing its record from the tables in the same statement. Length
// prefixes, not separators, keep any byte a client may have put in an id
// or a value from being read as structure.
//
// A record is
//
//	lp(location) lp(id) lp(kind) lp(source) lp(target) lp(source_kind)
//	lp(target_kind) lp(project), then in any order
//	"M" lp(mixin) for each mixin and "A" lp(name) lp(value) for each
//	attribute (value as stored: its JSON text, see encodeValue).

// sqlKit is the little SQL that differs between SQLite and PostgreSQL.
type sqlKit struct{ pg bool }

func kitOf(db *gorm.DB) sqlKit { return sqlKit{pg: db.Dialector.Name() == "postgres"} }

// lp is the SQL of expr as a length-prefixed field.
func (k sqlKit) lp(expr string) string {
	// octet_length: SQLite 3.43 and later (CAST AS BLOB, the older way
	// to count bytes, made a listing five times slower).
	expr = "COALESCE(" + expr + ", '')"
	return "CAST(octet_length(" + expr + ") AS TEXT) || ':' || " + expr
}

// concat is the SQL of the aggregate concatenating expr over a group, in
// the order of orderBy ("" for any).
func (k sqlKit) concat(expr, orderBy string) string { return k.join(expr, "''", orderBy) }

// join is concat with the separator sep (an SQL expression).
func (k sqlKit) join(expr, sep, orderBy string) string {
	fn := "group_concat"
	if k.pg {
		fn = "string_agg"
	}
	if orderBy != "" {
		orderBy = " ORDER BY " + orderBy
	}
	return "COALESCE(" + fn + "(" + expr + ", " + sep + orderBy + "), '')"
}

// bind turns the "?" placeholders of q into PostgreSQL's "$n" (q holds
// no "?" in a literal).
func (k sqlKit) bind(q string) string {
	if !k.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// computed is the SQL of the record of the occi_entities row named e
// (an alias, or the table's name), computed from the tables.
func (k sqlKit) computed(e string) string {
	var parts []string
	for _, c := range []string{"location", "id", "kind", "source", "target", "source_kind", "target_kind", "project"} {
		parts = append(parts, k.lp(e+"."+c))
	}
	parts = append(parts,
		"(SELECT "+k.concat("'M' || "+k.lp("m.mixin"), "")+" FROM occi_mixin_members m WHERE m.location = "+e+".location)",
		"(SELECT "+k.concat("'A' || "+k.lp("a.name")+" || "+k.lp("a.value"), "")+" FROM occi_attributes a WHERE a.location = "+e+".location)")
	return strings.Join(parts, " || ")
}

// kept is the record of the row named e: its doc, or computed.
func (k sqlKit) kept(e string) string {
	return "CASE WHEN " + e + ".doc <> '' THEN " + e + ".doc ELSE " + k.computed(e) + " END"
}

// kitSQL keeps the statements built from a kit, one set per dialect.
type kitSQL struct {
	record  string // the record of the row aliased e, kept or computed
	table   string // the same of the row of occi_entities unaliased
	refresh string // the UPDATE keeping the records of rows "IN ?"
	// One entity: with its links (Links) or alone, for a caller of one
	// project or one who sees every project (All).
	entity, entityAll, entityLinks, entityLinksAll string
	// With its links and the user mixins' version (a GET).
	entityGet, entityGetAll string
}

var kitCache sync.Map // sqlKit -> *kitSQL

func (k sqlKit) sql() *kitSQL {
	if v, ok := kitCache.Load(k); ok {
		return v.(*kitSQL)
	}
	rec := k.kept("e")
	one := "SELECT 0, " + rec + " FROM occi_entities e WHERE e.location = ?"
	links := " UNION ALL SELECT 1, " + rec + " FROM occi_entities e WHERE e.source = ?"
	own := " AND e.project = ?"
	version := " UNION ALL SELECT 2, CAST(version AS TEXT) FROM occi_mixin_versions WHERE id = 1"
	s := &kitSQL{record: rec, table: k.kept("occi_entities"),
		refresh: "UPDATE occi_entities AS e SET doc = " + k.computed("e") + " WHERE e.location IN ?",
		entity:  k.bind(one + own), entityAll: k.bind(one),
		entityLinks: k.bind(one + own + links + own), entityLinksAll: k.bind(one + links),
		entityGet: k.bind(one + own + links + own + version), entityGetAll: k.bind(one + links + version),
	}
	kitCache.Store(k, s)
	return s
}

// refreshDocs stores the records of the entities at locations, from
// what the tables hold now: every store helper that changes an entity's
// fields, attributes or mixins calls it in the same transaction.
func (store) refreshDocs(db *gorm.DB, locations ...string) error {
	q := kitOf(db).sql().refresh
	for i := 0; i < len(locations); i += chunk {
		if err := db.Exec(q, locations[i:min(i+chunk, len(locations))]).Error; err != nil {
			return fmt.Errorf("keep the entity records: %w", err)
		}
	}
	return nil
}

// recordOf is the record of e as the tables hold it once insert wrote it:
// what computed makes of them (parse does not mind the order).
func recordOf(e *Entity) string {
	var b strings.Builder
	lp := func(f string) {
		b.WriteString(strconv.Itoa(len(f)))
		b.WriteByte(':')
		b.WriteString(f)
	}
	for _, f := range []string{e.Location, e.ID, e.Kind, e.Source, e.Target, e.SourceKind, e.TargetKind, e.Project} {
		lp(f)
	}
	for _, m := range e.Mixins {
		b.WriteByte('M')
		lp(m)
	}
	for name, v := range e.Attrs {
		if v == nil {
			continue // not stored (upsertAttrs)
		}
		_, value := encodeValue(v)
		b.WriteByte('A')
		lp(name)
		lp(value)
	}
	return b.String()
}

// rawAttr is an attribute as a record holds it: its value is JSON text.
type rawAttr struct{ name, value []byte }

// record is a parsed entity record. Its slices point into the row's
// bytes: valid until the next row, unless copied (own).
type record struct {
	loc, id, kind, source, target, sourceKind, targetKind, project []byte
	mixins                                                         [][]byte
	attrs                                                          []rawAttr // in name order
	links                                                          []*record // a resource's, in location order
}

func (r *record) isLink() bool { return len(r.source) > 0 }

// parse reads b into r, reusing r's slices.
func (r *record) parse(b []byte) error {
	p := recParser{b: b}
	for _, f := range []*[]byte{&r.loc, &r.id, &r.kind, &r.source, &r.target, &r.sourceKind, &r.targetKind, &r.project} {
		*f = p.field()
	}
	r.mixins, r.attrs, r.links = r.mixins[:0], r.attrs[:0], r.links[:0]
	for p.err == nil && len(p.b) > 0 {
		tag := p.b[0]
		p.b = p.b[1:]
		switch tag {
		case 'M':
			r.mixins = append(r.mixins, p.field())
		case 'A':
			name := p.field()
			r.attrs = append(r.attrs, rawAttr{name: name, value: p.field()})
		default:
			p.err = fmt.Errorf("entity record: unknown part %q", tag)
		}
	}
	if p.err != nil {
		return p.err
	}
	sortBytes(r.mixins, func(x []byte) []byte { return x })
	sortBytes(r.attrs, func(a rawAttr) []byte { return a.name })
	return nil
}

// sortBytes sorts xs by key in byte order: an insertion sort, linear
// on the already sorted lists the database mostly answers.
func sortBytes[T any](xs []T, key func(T) []byte) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && string(key(xs[j])) < string(key(xs[j-1])); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

// own makes r's bytes its own, so that r outlives its row.
func (r *record) own() *record {
	n := len(r.loc) + len(r.id) + len(r.kind) + len(r.source) + len(r.target) + len(r.sourceKind) + len(r.targetKind) + len(r.project)
	for _, m := range r.mixins {
		n += len(m)
	}
	for _, a := range r.attrs {
		n += len(a.name) + len(a.value)
	}
	buf := make([]byte, 0, n)
	cp := func(b []byte) []byte {
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	out := &record{loc: cp(r.loc), id: cp(r.id), kind: cp(r.kind), source: cp(r.source), target: cp(r.target),
		sourceKind: cp(r.sourceKind), targetKind: cp(r.targetKind), project: cp(r.project),
		mixins: make([][]byte, len(r.mixins)), attrs: make([]rawAttr, len(r.attrs))}
	for i, m := range r.mixins {
		out.mixins[i] = cp(m)
	}
	for i, a := range r.attrs {
		out.attrs[i] = rawAttr{name: cp(a.name), value: cp(a.value)}
	}
	return out
}

type recParser struct {
	b   []byte
	err error
}

func (p *recParser) field() []byte {
	if p.err != nil {
		return nil
	}
	n, i := 0, 0
	for ; i < len(p.b) && p.b[i] != ':'; i++ {
		c := p.b[i]
		if c < '0' || c > '9' || i > 9 {
			p.err = fmt.Errorf("entity record: bad length")
			return nil
		}
		n = n*10 + int(c-'0')
	}
	if i == len(p.b) || len(p.b) < i+1+n {
		p.err = fmt.Errorf("entity record: cut short")
		return nil
	}
	f := p.b[i+1 : i+1+n : i+1+n]
	p.b = p.b[i+1+n:]
	return f
}

// entity turns the record into an Entity, attributes decoded, links
// included.
func (r *record) entity() *Entity {
	// Every string of the entity is a piece of one: two allocations
	// instead of one per field and attribute.
	n := len(r.loc) + len(r.id) + len(r.kind) + len(r.source) + len(r.target) + len(r.sourceKind) + len(r.targetKind) + len(r.project)
	for _, m := range r.mixins {
		n += len(m)
	}
	for _, a := range r.attrs {
		n += len(a.name) + len(a.value)
	}
	buf := make([]byte, 0, n)
	for _, f := range [][]byte{r.loc, r.id, r.kind, r.source, r.target, r.sourceKind, r.targetKind, r.project} {
		buf = append(buf, f...)
	}
	for _, m := range r.mixins {
		buf = append(buf, m...)
	}
	for _, a := range r.attrs {
		buf = append(append(buf, a.name...), a.value...)
	}
	all := string(buf)
	next := func(b []byte) string {
		s := all[:len(b)]
		all = all[len(b):]
		return s
	}
	e := &Entity{Location: next(r.loc), ID: next(r.id), Kind: next(r.kind), Source: next(r.source),
		Target: next(r.target), SourceKind: next(r.sourceKind), TargetKind: next(r.targetKind),
		Project: next(r.project), Attrs: make(map[string]any, len(r.attrs))}
	if len(r.mixins) > 0 {
		e.Mixins = make([]string, len(r.mixins))
		for i, m := range r.mixins {
			e.Mixins[i] = next(m)
		}
	}
	for _, a := range r.attrs {
		name := next(a.name)
		e.Attrs[name] = decodeValue(next(a.value))
	}
	for _, l := range r.links {
		e.Links = append(e.Links, l.entity())
	}
	return e
}

// state is the record's state attribute, as stateOf reads an Entity's.
func (r *record) state() []byte {
	for _, k := range []string{"occi.compute.state", "occi.network.state", "occi.storage.state"} {
		for _, a := range r.attrs {
			if string(a.name) != k {
				continue
			}
			if v := a.value; isJSONString(v) && bytes.IndexByte(v, '\\') < 0 {
				return v[1 : len(v)-1]
			}
			if s, ok := decodeValue(string(a.value)).(string); ok {
				return []byte(s)
			}
		}
	}
	return nil
}

// queryRows runs q (with "?" placeholders) on db's connection, its
// transaction's inside one, without gorm building anything.
func queryRows(db *gorm.DB, q string, args ...any) (*sql.Rows, error) {
	return db.Statement.ConnPool.QueryContext(steady(db.Statement.Context), q, args...)
}

// steady is ctx without its cancellation, for reads of at most a page:
// the SQLite driver steps each row on a goroutine of its own when the
// context can be cancelled (one per row of a listing), and a read of a
// page is short enough to finish when the client has gone.
func steady(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return context.WithoutCancel(ctx)
}

// entityRecord reads the entity at location that sc sees with its links
// (withLinks): one statement.
func (s store) entityRecord(db *gorm.DB, sc scope, location string, withLinks bool) (*record, error) {
	q := kitOf(db).sql()
	switch {
	case withLinks && sc.all:
		return s.readEntity(db, q.entityLinksAll, nil, location, location)
	case withLinks:
		return s.readEntity(db, q.entityLinks, nil, location, sc.project, location, sc.project)
	case sc.all:
		return s.readEntity(db, q.entityAll, nil, location)
	}
	return s.readEntity(db, q.entity, nil, location, sc.project)
}

// entityGet reads what a GET of location shows, in one statement: the
// entity sc sees, its links, and the user mixins' version (their cache
// is checked against it).
func (s store) entityGet(db *gorm.DB, sc scope, location string) (r *record, version int64, err error) {
	q := kitOf(db).sql()
	version = -1
	if sc.all {
		r, err = s.readEntity(db, q.entityGetAll, &version, location, location)
	} else {
		r, err = s.readEntity(db, q.entityGet, &version, location, sc.project, location, sc.project)
	}
	if err == nil && version < 0 {
		err = fmt.Errorf("read the mixin version: no row")
	}
	return r, version, err
}

// readEntity runs one of the entity statements: rows of part 0 are the
// entity, 1 its links, 2 the mixin version (into version).
func (store) readEntity(db *gorm.DB, stmt string, version *int64, args ...any) (*record, error) {
	rows, err := queryRows(db, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("read entity: %w", err)
	}
	defer rows.Close()
	var e *record
	var links []*record
	var part int
	var raw sql.RawBytes
	var r record
	for rows.Next() {
		if err := rows.Scan(&part, &raw); err != nil {
			return nil, fmt.Errorf("read entity: %w", err)
		}
		if part == 2 {
			if *version, err = strconv.ParseInt(string(raw), 10, 64); err != nil {
				return nil, fmt.Errorf("read the mixin version: %w", err)
			}
			continue
		}
		if err := r.parse(raw); err != nil {
			return nil, err
		}
		if part == 0 {
			e = r.own()
		} else {
			links = append(links, r.own())
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read entity: %w", err)
	}
	if e == nil {
		return nil, errNotFound
	}
	sortBytes(links, func(l *record) []byte { return l.loc })
	e.links = links
	return e, nil
}

// pageRecords calls fn with the record of each entity of one page of f,
// with (withLinks) each resource's links, in location order, each valid
// until fn returns. The page's records are read first, into one buffer
// (a page's worth of memory), then the links out of them in one more
// statement, then each is handed on.
func (s store) pageRecords(db *gorm.DB, sc scope, f filter, k keyset, withLinks bool, pg *pageBuf, fn func(*record) error) (last string, n int, err error) {
	page, err := s.readPage(db, sc, f, k, withLinks, pg)
	if err != nil {
		return "", 0, err
	}
	return page.each(&pg.rec, fn)
}

// recordPage is one page's records, as read: their bytes one after the
// other (ends: where each ends), and the links out of its resources.
type recordPage struct {
	buf   []byte
	ends  []int
	links map[string][]*record // by source; owned records
}

// readPage reads one page of f into pg's buffers (see pageRecords).
func (s store) readPage(db *gorm.DB, sc scope, f filter, k keyset, withLinks bool, pg *pageBuf) (*recordPage, error) {
	q := kitOf(db).sql()
	buf, ends, locs := pg.buf[:0], pg.ends[:0], pg.locs[:0]
	defer func() { pg.buf, pg.ends, pg.locs = buf, ends, locs }()
	err := scanRaw(s.pageQuery(db, sc, f, k).Select(q.table), func(raw []byte) error {
		buf = append(buf, raw...)
		ends = append(ends, len(buf))
		if withLinks {
			p := recParser{b: raw}
			locs = append(locs, string(p.field()))
			return p.err
		}
		return nil
	})
	if err != nil || len(ends) == 0 || !withLinks {
		return &recordPage{buf: buf, ends: ends}, err
	}
	// The links out of the page's resources: those whose source lies
	// between the page's first and last location (one range of the
	// source index; each page's range is its own), kept only when their
	// source is in the page.
	in := make(map[string]bool, len(locs))
	for _, l := range locs {
		in[l] = true
	}
	links := map[string][]*record{}
	linked := sc.where(db.Table("occi_entities AS e").Select(q.record).
		Where("e.source >= ? AND e.source <= ?", locs[0], locs[len(locs)-1])).Order("e.location")
	r := &pg.rec
	err = scanRaw(linked, func(raw []byte) error {
		if err := r.parse(raw); err != nil {
			return err
		}
		if !in[string(r.source)] {
			return nil
		}
		l := r.own()
		links[string(l.source)] = append(links[string(l.source)], l)
		return nil
	})
	return &recordPage{buf: buf, ends: ends, links: links}, err
}

// each calls fn with each record of the page, parsed into r, its links
// attached; answers the page's last location and its count.
func (p *recordPage) each(r *record, fn func(*record) error) (last string, n int, err error) {
	for i := range p.ends {
		if err := r.parse(p.buf[start(p.ends, i):p.ends[i]]); err != nil {
			return "", 0, err
		}
		last = string(r.loc)
		r.links = p.links[last]
		if err := fn(r); err != nil {
			return "", 0, err
		}
	}
	return last, len(p.ends), nil
}

// own is a copy of p that outlives the buffers it was read into (its
// links are owned already).
func (p *recordPage) own() *recordPage {
	return &recordPage{buf: append([]byte(nil), p.buf...), ends: append([]int(nil), p.ends...), links: p.links}
}

// size is about the memory p holds.
func (p *recordPage) size() int {
	n := len(p.buf) + 8*len(p.ends)
	for src, ls := range p.links {
		n += len(src) + 16
		for _, l := range ls {
			n += l.size()
		}
	}
	return n
}

// pageBuf is what reading pages reuses from one to the next.
type pageBuf struct {
	buf  []byte
	ends []int
	locs []string
	rec  record
}

func start(ends []int, i int) int {
	if i == 0 {
		return 0
	}
	return ends[i-1]
}

// scanRaw runs q, a query of one column, and calls fn with each row's
// bytes, valid until fn returns.
func scanRaw(q *gorm.DB, fn func([]byte) error) error {
	rows, err := q.WithContext(steady(q.Statement.Context)).Rows()
	if err != nil {
		return fmt.Errorf("read entities: %w", err)
	}
	defer rows.Close()
	var raw sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&raw); err != nil {
			return fmt.Errorf("read entities: %w", err)
		}
		if err := fn(raw); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read entities: %w", err)
	}
	return nil
}

// pageText answers one page of the locations of f rendered by the
// database: each as prefix, base, location, eol; with the page's last
// location and its count.
func (s store) pageText(db *gorm.DB, sc scope, f filter, k keyset, prefix, eol string, buf []byte) (text []byte, last string, n int, err error) {
	kit := kitOf(db)
	// SQLite concatenates in the order the page's subquery hands its rows
	// over, sorted (a subquery with a LIMIT is not flattened into the
	// aggregate); an ORDER BY in the aggregate would sort them again, and
	// doubled the cost. PostgreSQL is told. The database puts eol and
	// prefix between the locations, this the first prefix and the last
	// eol (a third of SQLite's work was the concatenations).
	order := ""
	if kit.pg {
		order = "location"
	}
	q := db.Raw("SELECT COUNT(*), COALESCE(MAX(location), ''), "+
		kit.join("location", "CAST(? AS TEXT)", order)+" FROM (?) AS page",
		eol+prefix, s.pageQuery(db, sc, f, k))
	rows, err := q.WithContext(steady(q.Statement.Context)).Rows()
	if err != nil {
		return nil, "", 0, fmt.Errorf("list entities: %w", err)
	}
	defer rows.Close()
	var raw sql.RawBytes
	if rows.Next() {
		err = rows.Scan(&n, &last, &raw)
	}
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return nil, "", 0, fmt.Errorf("list entities: %w", err)
	}
	if n > 0 {
		buf = append(append(append(buf[:0], prefix...), raw...), eol...)
	}
	return buf, last, n, nil
}
