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

// scanObject reads one row of objectColumns. Columns a row may hold NULL
// in (those migrations added without a default, and the optional text
// columns) read as their zero value, as gorm reads them.
func scanObject(rows *sql.Rows) (*object, error) {
	var o object
	var mimetype, encoding, valueKey, metadata, exports, reference, completion, owner, hash sql.NullString
	var ctime, atime, mtime sql.NullTime
	err := rows.Scan(&o.ObjectID, &o.ParentID, &o.Name, &o.Type, &o.System, &mimetype, &encoding,
		&valueKey, &o.Size, &metadata, &exports, &reference, &completion, &owner, &hash,
		&ctime, &atime, &mtime, &o.ACount, &o.MCount, &o.QueueNext, &o.DomainID)
	if err != nil {
		return nil, err
	}
	o.Mimetype, o.Encoding, o.ValueKey = mimetype.String, encoding.String, valueKey.String
	o.Metadata, o.Exports, o.Reference = metadata.String, exports.String, reference.String
	o.Completion, o.Owner, o.Hash = completion.String, owner.String, hash.String
	o.CTime, o.ATime, o.MTime = ctime.Time, atime.Time, mtime.Time
	return &o, nil
}

// statementHook, when set (by tests, before any request), sees each
// statement queryObjects runs: gorm's callbacks do not.
var statementHook func(query string)

// queryObjects runs query (written with '?' placeholders) on db's
// connection, or its transaction's, and scans every row.
func queryObjects(ctx context.Context, db *gorm.DB, query string, args ...any) ([]*object, error) {
	if statementHook != nil {
		statementHook(query)
	}
	rows, err := db.Statement.ConnPool.QueryContext(ctx, dialectSQL(db, query), args...)
	if err != nil {
		return nil, database.Classify(err)
	}
	defer rows.Close()
	var out []*object
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, database.Classify(err)
		}
		out = append(out, o)
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
	got, err := queryObjects(ctx, db, query, id)
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
	got, err := queryObjects(ctx, db, query, parentID, name)
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
const walkChunk = 32

// walkQueries holds walkQuery(n) for n = 1..walkChunk, built once.
var walkQueries = func() (q [walkChunk + 1]string) {
	for n := 1; n <= walkChunk; n++ {
		q[n] = walkQuery(n)
	}
	return q
}()

// walkQuery is the statement following n names down from an object: the
// names as a VALUES list of (depth, name), the walk as a recursive query
// that stops where a name is missing, and the rows it reached in depth
// order. The IDs are compared as text on both sides so PostgreSQL sees
// one type in both terms of the recursion.
func walkQuery(n int) string {
	var b strings.Builder
	b.WriteString("WITH RECURSIVE segs(d, name) AS (VALUES ")
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString("(" + strconv.Itoa(i) + ", CAST(? AS TEXT))")
	}
	b.WriteString("), walk(d, id) AS (SELECT 0, CAST(? AS TEXT) UNION ALL " +
		"SELECT w.d + 1, CAST(c.object_id AS TEXT) FROM walk w JOIN segs s ON s.d = w.d + 1 " +
		"JOIN cdmi_objects c ON c.parent_id = w.id AND c.name = s.name) ")
	b.WriteString("SELECT " + selectColumns("o") + " FROM walk w JOIN cdmi_objects o ON o.object_id = w.id WHERE w.d > 0 ORDER BY w.d")
	return b.String()
}

// walkNames reads the objects along names below the object fromID, in
// order, as far as they exist: fewer than len(names) when one is missing.
// It does not check what it walks through (containers, visibility): the
// caller does, on the rows in order.
func (s *Service) walkNames(ctx context.Context, db *gorm.DB, fromID string, names []string) ([]*object, error) {
	var out []*object
	for len(names) > 0 {
		n := min(len(names), walkChunk)
		args := make([]any, 0, n+1)
		for _, name := range names[:n] {
			args = append(args, name)
		}
		args = append(args, fromID)
		got, err := queryObjects(ctx, db, walkQueries[n], args...)
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
