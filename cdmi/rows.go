package cdmi

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/database"
)

// The lookups every request makes (an object by ID, a path walked from the
// root) go to the connection pool gorm sits on, with fixed SQL and a
// hand-written scan: through gorm they cost about 30 µs of CPU each
// (building the statement, reflecting the row into the struct), more than
// SQLite takes to answer them. A path is walked in one statement.

// objectColumns are cdmi_objects' columns in scanObject's order.
var objectColumns = []string{"object_id", "parent_id", "name", "type", "system", "mimetype", "encoding",
	"value_key", "size", "metadata", "exports", "reference", "completion", "owner", "hash",
	"c_time", "a_time", "m_time", "a_count", "m_count", "queue_next", "domain_id"}

// selectColumns is objectColumns for a SELECT list, each prefixed with
// table (a name or alias).
func selectColumns(table string) string {
	var b strings.Builder
	for i, c := range objectColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(table + "." + c)
	}
	return b.String()
}

// objectScan holds the scan destinations of one object's columns. Every
// column is read as nullable: the columns migrations added without a
// default and the optional text columns may hold NULL (read as the zero
// value, as gorm reads them), and a walk's missing levels are all NULL.
type objectScan struct {
	objectID, parentID, name, typ, mimetype, encoding, valueKey, metadata, exports,
	reference, completion, owner, hash, domainID sql.NullString
	system                          sql.NullBool
	size, acount, mcount, queueNext sql.NullInt64
	ctime, atime, mtime             sql.NullTime
}

// dests are the destinations in objectColumns' order.
func (d *objectScan) dests() []any {
	return []any{&d.objectID, &d.parentID, &d.name, &d.typ, &d.system, &d.mimetype, &d.encoding,
		&d.valueKey, &d.size, &d.metadata, &d.exports, &d.reference, &d.completion, &d.owner, &d.hash,
		&d.ctime, &d.atime, &d.mtime, &d.acount, &d.mcount, &d.queueNext, &d.domainID}
}

// object is what was scanned; nil when the columns were NULL (a walk's
// level that does not exist).
func (d *objectScan) object() *object {
	if !d.objectID.Valid {
		return nil
	}
	return &object{ObjectID: d.objectID.String, ParentID: d.parentID.String, Name: d.name.String,
		Type: d.typ.String, System: d.system.Bool, Mimetype: d.mimetype.String, Encoding: d.encoding.String,
		ValueKey: d.valueKey.String, Size: d.size.Int64, Metadata: d.metadata.String, Exports: d.exports.String,
		Reference: d.reference.String, Completion: d.completion.String, Owner: d.owner.String, Hash: d.hash.String,
		CTime: d.ctime.Time, ATime: d.atime.Time, MTime: d.mtime.Time, ACount: d.acount.Int64,
		MCount: d.mcount.Int64, QueueNext: d.queueNext.Int64, DomainID: d.domainID.String}
}

// statementHook, when set (by tests, before any request), sees each
// statement queryObjects runs: gorm's callbacks do not.
var statementHook func(query string)

// queryObjects runs query (written with '?' placeholders) on db's
// connection, or its transaction's, and scans every row, each holding
// perRow objects side by side (objectColumns each); a NULL object ends a
// row. On SQLite the statement runs without the request's cancellation:
// the driver watches a cancellable context with a goroutine per statement
// and per row (a third of a point lookup's CPU), and these statements are
// index lookups that end in microseconds anyway.
func queryObjects(ctx context.Context, db *gorm.DB, perRow int, query string, args ...any) ([]*object, error) {
	if statementHook != nil {
		statementHook(query)
	}
	if db.Dialector.Name() == "sqlite" {
		ctx = context.WithoutCancel(ctx)
	}
	rows, err := db.Statement.ConnPool.QueryContext(ctx, dialectSQL(db, query), args...)
	if err != nil {
		return nil, database.Classify(err)
	}
	defer rows.Close()
	scans := make([]objectScan, perRow)
	dests := make([]any, 0, perRow*len(objectColumns))
	for i := range scans {
		dests = append(dests, scans[i].dests()...)
	}
	var out []*object
	for rows.Next() {
		if err := rows.Scan(dests...); err != nil {
			return nil, database.Classify(err)
		}
		for i := range scans {
			o := scans[i].object()
			if o == nil {
				break
			}
			out = append(out, o)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, database.Classify(err)
	}
	return out, nil
}

// numbered caches the PostgreSQL spelling of queries ('?' become $1, $2,
// ...); the texts are this file's, a few dozen at most.
var numbered sync.Map

// dialectSQL is query with the placeholders db's database takes. No query
// here holds a '?' inside a literal.
func dialectSQL(db *gorm.DB, query string) string {
	if db.Dialector.Name() != "postgres" {
		return query
	}
	if q, ok := numbered.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	numbered.Store(query, b.String())
	return b.String()
}

var (
	byIDQuery  = "SELECT " + selectColumns("o") + " FROM cdmi_objects o WHERE o.object_id = ?"
	childQuery = "SELECT " + selectColumns("o") + " FROM cdmi_objects o WHERE o.parent_id = ? AND o.name = ?"
)

func (s *Service) byID(ctx context.Context, db *gorm.DB, id string) (*object, error) {
	return s.oneByID(ctx, db, byIDQuery, id)
}

// lockedByID is byID inside a transaction, with the row locked until the
// commit on PostgreSQL (SQLite's transactions run one at a time).
func (s *Service) lockedByID(ctx context.Context, tx *gorm.DB, id string) (*object, error) {
	return s.oneByID(ctx, tx, forUpdate(tx, byIDQuery), id)
}

// lockedChild is child with the row locked, as lockedByID.
func (s *Service) lockedChild(ctx context.Context, tx *gorm.DB, parentID, name string) (*object, error) {
	return s.oneChild(ctx, tx, forUpdate(tx, childQuery), parentID, name)
}

func forUpdate(tx *gorm.DB, query string) string {
	if tx.Dialector.Name() == "postgres" {
		return query + " FOR UPDATE"
	}
	return query
}

func (s *Service) oneByID(ctx context.Context, db *gorm.DB, query, id string) (*object, error) {
	got, err := queryObjects(ctx, db, 1, query, id)
	if err != nil {
		return nil, fmt.Errorf("read object %s: %w", id, err)
	}
	if len(got) == 0 {
		return nil, errNotFound
	}
	return got[0], nil
}

func (s *Service) child(ctx context.Context, db *gorm.DB, parentID, name string) (*object, error) {
	return s.oneChild(ctx, db, childQuery, parentID, name)
}

func (s *Service) oneChild(ctx context.Context, db *gorm.DB, query, parentID, name string) (*object, error) {
	got, err := queryObjects(ctx, db, 1, query, parentID, name)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", name, err)
	}
	if len(got) == 0 {
		return nil, errNotFound
	}
	return got[0], nil
}

// walkChunk is how many names one walk statement follows; a deeper path
// takes one more statement per walkChunk names.
const walkChunk = 8

// walkQueries holds walkQuery(n) for n = 1..walkChunk, built once.
var walkQueries = func() (q [walkChunk + 1]string) {
	for n := 1; n <= walkChunk; n++ {
		q[n] = walkQuery(n)
	}
	return q
}()

// walkQuery is the statement following n names down from an object: one
// row holding the object at each level side by side, each level joined to
// the one above by (parent_id, name), the unique index; from the first
// missing level on, the columns are NULL. n index lookups, one row.
func walkQuery(n int) string {
	var cols, from strings.Builder
	for i := 1; i <= n; i++ {
		t := "o" + strconv.Itoa(i)
		if i > 1 {
			cols.WriteString(", ")
			from.WriteString(" LEFT JOIN cdmi_objects " + t + " ON " + t + ".parent_id = o" + strconv.Itoa(i-1) + ".object_id AND " + t + ".name = ?")
		} else {
			from.WriteString("cdmi_objects o1")
		}
		cols.WriteString(selectColumns(t))
	}
	return "SELECT " + cols.String() + " FROM " + from.String() + " WHERE o1.parent_id = ? AND o1.name = ?"
}

// walkNames reads the objects along names below the object fromID, in
// order, as far as they exist: fewer than len(names) when one is missing.
// It does not check what it walks through (containers, visibility): the
// caller does, on the rows in order.
func (s *Service) walkNames(ctx context.Context, db *gorm.DB, fromID string, names []string) ([]*object, error) {
	var out []*object
	for len(names) > 0 {
		n := min(len(names), walkChunk)
		// The joins' names (levels 2..n), then the first level's parent and name.
		args := make([]any, 0, n+1)
		for _, name := range names[1:n] {
			args = append(args, name)
		}
		args = append(args, fromID, names[0])
		got, err := queryObjects(ctx, db, n, walkQueries[n], args...)
		if err != nil {
			return nil, fmt.Errorf("walk the path: %w", err)
		}
		out = append(out, got...)
		if len(got) < n {
			return out, nil
		}
		fromID, names = got[n-1].ObjectID, names[n:]
	}
	return out, nil
}

var insertObjectSQL = func() string {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(objectColumns)), ", ")
	return "INSERT INTO cdmi_objects (" + strings.Join(objectColumns, ", ") + ") VALUES (" + marks + ")"
}()

// insertObject adds o's row in tx, as gorm's Create would (errors
// translated the same way: a taken name is gorm.ErrDuplicatedKey), for a
// fraction of its CPU: the statement is fixed, nothing is reflected.
func insertObject(ctx context.Context, tx *gorm.DB, o *object) error {
	if statementHook != nil {
		statementHook(insertObjectSQL)
	}
	_, err := tx.Statement.ConnPool.ExecContext(ctx, dialectSQL(tx, insertObjectSQL),
		o.ObjectID, o.ParentID, o.Name, o.Type, o.System, o.Mimetype, o.Encoding,
		o.ValueKey, o.Size, o.Metadata, o.Exports, o.Reference, o.Completion, o.Owner, o.Hash,
		o.CTime, o.ATime, o.MTime, o.ACount, o.MCount, o.QueueNext, o.DomainID)
	return translate(tx, err)
}

// translate gives a driver's error gorm's meaning (TranslateError), so
// errors.Is(err, gorm.ErrDuplicatedKey) holds for a unique violation.
func translate(db *gorm.DB, err error) error {
	if err == nil {
		return nil
	}
	if t, ok := db.Dialector.(gorm.ErrorTranslator); ok {
		return t.Translate(err)
	}
	return err
}

// exists tells whether the row id is there, reading it in tx; on
// PostgreSQL with lock ("SHARE", "UPDATE") held until the commit.
func exists(ctx context.Context, tx *gorm.DB, id, lock string) (bool, error) {
	q := "SELECT object_id FROM cdmi_objects WHERE object_id = ?"
	if lock != "" && tx.Dialector.Name() == "postgres" {
		q += " FOR " + lock
	}
	if statementHook != nil {
		statementHook(q)
	}
	rows, err := tx.Statement.ConnPool.QueryContext(ctx, dialectSQL(tx, q), id)
	if err != nil {
		return false, database.Classify(translate(tx, err))
	}
	defer rows.Close()
	found := rows.Next()
	return found, database.Classify(rows.Err())
}
