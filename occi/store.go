package occi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// Rows of the tables created by migrations/0002_occi.go.
type entityRow struct {
	Location   string `gorm:"primaryKey"`
	ID         string `gorm:"column:id"`
	Kind       string
	Source     string
	Target     string
	SourceKind string
	TargetKind string
	Project    string
	CreatedAt  time.Time
}

func (entityRow) TableName() string { return "occi_entities" }

type attrRow struct {
	Location string `gorm:"primaryKey"`
	Name     string `gorm:"primaryKey"`
	ValueKey string
	Value    string
}

func (attrRow) TableName() string { return "occi_attributes" }

type memberRow struct {
	Location string `gorm:"primaryKey"`
	Mixin    string `gorm:"primaryKey"`
}

func (memberRow) TableName() string { return "occi_mixin_members" }

type userMixinRow struct {
	ID         string `gorm:"column:id;primaryKey"`
	Scheme     string
	Term       string
	Title      string
	Location   string
	Depends    string
	Applies    string
	Attributes string
	Image      string
	Origin     string
	Project    string
	CreatedAt  time.Time
}

func (userMixinRow) TableName() string { return "occi_user_mixins" }

// store reads and writes OCCI's tables. Every method takes the *gorm.DB to
// use, so that the service can run several in one transaction.
type store struct{}

// chunk bounds IN lists (SQLite allows 32766 parameters, PostgreSQL 65535).
const chunk = 500

func encodeValue(v any) (key, value string) {
	raw, _ := json.Marshal(v)
	value = string(raw)
	if len(value) <= 200 {
		return value, value
	}
	sum := sha256.Sum256(raw)
	return "#" + hex.EncodeToString(sum[:]), value
}

func decodeValue(s string) any {
	// Fast paths: most values are plain strings and numbers.
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.ContainsAny(s[1:len(s)-1], `\"`) {
		return s[1 : len(s)-1]
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && len(s) > 0 && s[0] != '+' {
		return f
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	return v
}

// userMixins loads the user mixins sc sees.
func (store) userMixins(db *gorm.DB, sc scope) ([]*Category, error) {
	var rows []userMixinRow
	if err := sc.where(db).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read user mixins: %w", err)
	}
	out := make([]*Category, 0, len(rows))
	for _, r := range rows {
		c := &Category{Scheme: r.Scheme, Term: r.Term, Title: r.Title, Class: ClassMixin,
			Location: r.Location, User: true, Image: r.Image, project: r.Project}
		_ = json.Unmarshal([]byte(r.Depends), &c.Depends)
		_ = json.Unmarshal([]byte(r.Applies), &c.Applies)
		_ = json.Unmarshal([]byte(r.Attributes), &c.Attributes)
		out = append(out, c)
	}
	return out, nil
}

// userMixinTaken tells whether a user mixin of any project has the type
// identifier id or the location loc ("" matches nothing).
func (store) userMixinTaken(db *gorm.DB, id, loc string) (bool, error) {
	var n int64
	q := db.Model(&userMixinRow{})
	switch {
	case id != "" && loc != "":
		q = q.Where("id = ? OR location = ?", id, loc)
	case id != "":
		q = q.Where("id = ?", id)
	case loc != "":
		q = q.Where("location = ?", loc)
	default:
		return false, nil
	}
	err := q.Count(&n).Error
	return n > 0, err
}

func (s store) addUserMixin(db *gorm.DB, c *Category, origin string) error {
	dep, _ := json.Marshal(c.Depends)
	app, _ := json.Marshal(c.Applies)
	attrs, _ := json.Marshal(c.Attributes)
	if err := db.Create(&userMixinRow{ID: c.ID(), Scheme: c.Scheme, Term: c.Term, Title: c.Title, Location: c.Location,
		Depends: string(dep), Applies: string(app), Attributes: string(attrs), Image: c.Image, Origin: origin,
		Project: c.project, CreatedAt: time.Now().UTC()}).Error; err != nil {
		return err
	}
	return s.bumpMixinVersion(db)
}

func (s store) deleteUserMixin(db *gorm.DB, id string) error {
	var members []string
	if err := db.Model(&memberRow{}).Where("mixin = ?", id).Pluck("location", &members).Error; err != nil {
		return err
	}
	if err := db.Where("mixin = ?", id).Delete(&memberRow{}).Error; err != nil {
		return err
	}
	if err := s.refreshDocs(db, members...); err != nil {
		return err
	}
	if err := db.Where("id = ?", id).Delete(&userMixinRow{}).Error; err != nil {
		return err
	}
	return s.bumpMixinVersion(db)
}

// bumpMixinVersion moves the user mixins' version (migration 0014) in
// the transaction that changes them: every server process sharing the
// database re-reads the mixins when it sees the version move (mixinCache).
func (store) bumpMixinVersion(db *gorm.DB) error {
	if err := db.Exec("UPDATE occi_mixin_versions SET version = version + 1 WHERE id = 1").Error; err != nil {
		return fmt.Errorf("bump the mixin version: %w", err)
	}
	return nil
}

// mixinVersion reads the user mixins' version.
func (store) mixinVersion(db *gorm.DB) (int64, error) {
	var v int64
	// Read by every request: straight to the connection, gorm would
	// cost more than the read.
	rows, err := queryRows(db, "SELECT version FROM occi_mixin_versions WHERE id = 1")
	if err == nil {
		defer rows.Close()
		if !rows.Next() {
			err = rows.Err()
			if err == nil {
				err = errNotFound
			}
		} else {
			err = rows.Scan(&v)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("read the mixin version: %w", err)
	}
	return v, nil
}

// errNotFound is the store's "no such row"; the service names what is missing.
var errNotFound = kind.New(kind.NotFound, "not found")

// entity loads one entity that sc sees, with its attributes and mixins
// and, withLinks, a resource's links with theirs: one query.
func (s store) entity(db *gorm.DB, sc scope, location string, withLinks bool) (*Entity, error) {
	r, err := s.entityRecord(db, sc, location, withLinks)
	if err != nil {
		return nil, err
	}
	return r.entity(), nil
}

// entities loads entities in bulk, in the order of locations, skipping
// missing ones and those sc does not see: three queries per chunk, never
// one per entity.
func (s store) entities(db *gorm.DB, sc scope, locations []string) ([]*Entity, error) {
	byLoc := make(map[string]*Entity, len(locations))
	for i := 0; i < len(locations); i += chunk {
		part := locations[i:min(i+chunk, len(locations))]
		es, err := s.entitiesWhere(db, sc, "location IN ?", part)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			byLoc[e.Location] = e
		}
	}
	out := make([]*Entity, 0, len(byLoc))
	for _, l := range locations {
		if e := byLoc[l]; e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// entitiesWhere loads, in location order, the entities sc sees whose
// location meets cond ("location IN ?" with a list or a subquery), with
// their attributes and mixins: three queries.
func (store) entitiesWhere(db *gorm.DB, sc scope, cond string, arg any) ([]*Entity, error) {
	var out []*Entity
	byLoc := map[string]*Entity{}
	// Rows are scanned by hand: listings read many thousands, and
	// gorm's reflective scan doubled the time of a 10k JSON listing.
	err := scanRows(sc.where(db.Model(&entityRow{}).Select("location", "id", "kind", "source", "target", "source_kind", "target_kind", "project").
		Where(cond, arg)).Order("location"), func(scan func(...any) error) error {
		e := &Entity{Attrs: map[string]any{}}
		if err := scan(&e.Location, &e.ID, &e.Kind, &e.Source, &e.Target, &e.SourceKind, &e.TargetKind, &e.Project); err != nil {
			return err
		}
		byLoc[e.Location] = e
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read entities: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	err = scanRows(db.Model(&attrRow{}).Select("location", "name", "value").Where(cond, arg),
		func(sc func(...any) error) error {
			var loc, name, value string
			if err := sc(&loc, &name, &value); err != nil {
				return err
			}
			if e := byLoc[loc]; e != nil {
				e.Attrs[name] = decodeValue(value)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read attributes: %w", err)
	}
	err = scanRows(db.Model(&memberRow{}).Select("location", "mixin").Where(cond, arg).Order("mixin"),
		func(sc func(...any) error) error {
			var loc, mixin string
			if err := sc(&loc, &mixin); err != nil {
				return err
			}
			if e := byLoc[loc]; e != nil {
				e.Mixins = append(e.Mixins, mixin)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read mixins: %w", err)
	}
	return out, nil
}

// scanRows runs q and calls fn for each row with a scan function.
func scanRows(q *gorm.DB, fn func(scan func(...any) error) error) error {
	rows, err := q.Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// locationByID finds the location of the entity with id that sc sees.
func (store) locationByID(db *gorm.DB, sc scope, id string) (string, error) {
	var r entityRow
	err := sc.where(db.Select("location").Where("id = ?", id)).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", errNotFound
	}
	return r.Location, err
}

// links lists the locations of the links sc sees whose source (or
// target, when targets is true) is one of locations.
func (store) links(db *gorm.DB, sc scope, locations []string, targets bool) ([]string, error) {
	var out []string
	col := "source"
	if targets {
		col = "target"
	}
	for i := 0; i < len(locations); i += chunk {
		part := locations[i:min(i+chunk, len(locations))]
		var ls []string
		if err := sc.where(db.Model(&entityRow{}).Where(col+" IN ?", part)).Order("location").Pluck("location", &ls).Error; err != nil {
			return nil, fmt.Errorf("read links: %w", err)
		}
		out = append(out, ls...)
	}
	return out, nil
}

// filter selects entities for a listing.
type filter struct {
	Kinds  []string       // kind IN (...)
	Mixin  string         // member of this mixin
	Prefix string         // location starts with (unbound paths)
	ID     string         // occi.core.id
	Source string         // occi.core.source
	Target string         // occi.core.target
	Attrs  map[string]any // attribute equals
	Only   string         // OnlyResources, OnlyLinks or "" for both
	Limit  int            // 0 for all
	Offset int
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// selection is the query of the entities f selects that sc sees (no
// order, no page).
func (store) selection(db *gorm.DB, sc scope, f filter) *gorm.DB {
	q := sc.where(db.Model(&entityRow{}))
	if f.Kinds != nil {
		q = q.Where("kind IN ?", f.Kinds)
	}
	if f.Prefix != "" && f.Prefix != "/" {
		q = q.Where(`location LIKE ? ESCAPE '\'`, escapeLike(f.Prefix)+"%")
	}
	if f.ID != "" {
		q = q.Where("id = ?", f.ID)
	}
	if f.Source != "" {
		q = q.Where("source = ?", f.Source)
	}
	if f.Target != "" {
		q = q.Where("target = ?", f.Target)
	}
	switch f.Only {
	case OnlyResources:
		q = q.Where("source = ''")
	case OnlyLinks:
		q = q.Where("source <> ''")
	}
	if f.Mixin != "" {
		q = q.Where("location IN (?)", db.Model(&memberRow{}).Select("location").Where("mixin = ?", f.Mixin))
	}
	names := make([]string, 0, len(f.Attrs))
	for k := range f.Attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		key, value := encodeValue(f.Attrs[name])
		q = q.Where("location IN (?)", db.Model(&attrRow{}).Select("location").
			Where("name = ? AND value_key = ? AND value = ?", name, key, value))
	}
	return q
}

// list returns the locations of matching entities sc sees, in location
// order.
func (s store) list(db *gorm.DB, sc scope, f filter) ([]string, error) {
	q := s.selection(db, sc, f).Order("location")
	if f.Limit > 0 {
		q = q.Limit(f.Limit).Offset(f.Offset)
	}
	var out []string
	if err := q.Pluck("location", &out).Error; err != nil {
		return nil, fmt.Errorf("list entities: %w", err)
	}
	return out, nil
}

// keyset is one page of a listing read by location: the entities after
// location After (all when ""), skipping Offset of them, at most Limit.
type keyset struct {
	After         string
	Offset, Limit int
}

// pageQuery selects the locations of one page of f.
func (s store) pageQuery(db *gorm.DB, sc scope, f filter, k keyset) *gorm.DB {
	q := s.selection(db, sc, f).Select("location")
	if k.After != "" {
		q = q.Where("location > ?", k.After)
	}
	return q.Order("location").Limit(k.Limit).Offset(k.Offset)
}

// pageLocations answers one page of the locations f selects.
func (s store) pageLocations(db *gorm.DB, sc scope, f filter, k keyset) ([]string, error) {
	out := make([]string, 0, k.Limit)
	err := scanRows(s.pageQuery(db, sc, f, k), func(scan func(...any) error) error {
		var l string
		err := scan(&l)
		out = append(out, l)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list entities: %w", err)
	}
	return out, nil
}

// taken answers which of locations and ids entities of any project have
// already: one indexed query per chunk.
func (store) taken(db *gorm.DB, locations, ids []string) (locs, idSet map[string]bool, err error) {
	locs, idSet = map[string]bool{}, map[string]bool{}
	for i := 0; i < len(locations); i += chunk / 2 {
		end := min(i+chunk/2, len(locations))
		err := scanRows(db.Raw("SELECT location, id FROM occi_entities WHERE location IN ? OR id IN ?", locations[i:end], ids[i:end]),
			func(scan func(...any) error) error {
				var l, id string
				if err := scan(&l, &id); err != nil {
					return err
				}
				locs[l], idSet[id] = true, true
				return nil
			})
		if err != nil {
			return nil, nil, fmt.Errorf("look for existing entities: %w", err)
		}
	}
	return locs, idSet, nil
}

// insertAll writes new entities, in order.
func (s store) insertAll(db *gorm.DB, es []*Entity) error {
	for _, e := range es {
		if err := s.insert(db, e); err != nil {
			return err
		}
	}
	return nil
}

// insert writes a new entity with its attributes and mixins: three
// statements, written out and run past gorm's builder (database.Exec): a
// create's statements are most of its work.
func (s store) insert(db *gorm.DB, e *Entity) error {
	// The record goes in with the row: it is made from e, which is what
	// the row and writeDetails store (a refreshDocs after it would
	// compute the same from the tables, at a cost under the one writer).
	_, err := database.Exec(db, "INSERT INTO occi_entities (location, id, kind, source, target, source_kind, target_kind, project, created_at, doc) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.Location, e.ID, e.Kind, e.Source, e.Target, e.SourceKind, e.TargetKind, e.Project, time.Now().UTC(), recordOf(e))
	if err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return kind.Errorf(kind.Conflict, "an entity already exists at %s or with id %s", e.Location, e.ID)
		}
		return fmt.Errorf("insert entity: %w", err)
	}
	return s.writeDetails(db, e)
}

// attrBatch bounds the rows of one multi-row attribute statement (four
// parameters each).
const attrBatch = 200

// writeDetails writes e's attributes and mixins (its record is the
// caller's to keep).
func (s store) writeDetails(db *gorm.DB, e *Entity) error {
	if err := upsertAttrs(db, "INSERT INTO occi_attributes (location, name, value_key, value) VALUES ", "", e.Location, e.Attrs); err != nil {
		return fmt.Errorf("insert attributes: %w", err)
	}
	if len(e.Mixins) > 0 {
		var sb strings.Builder
		args := make([]any, 0, 2*len(e.Mixins))
		sb.WriteString("INSERT INTO occi_mixin_members (location, mixin) VALUES ")
		for i, m := range e.Mixins {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?)")
			args = append(args, e.Location, m)
		}
		if _, err := database.Exec(db, sb.String(), args...); err != nil {
			return fmt.Errorf("insert mixins: %w", err)
		}
	}
	return nil
}

// upsertAttrs writes attrs of location (nil values skipped) in multi-row
// statements: head, the rows, then tail. Names go in sorted order, so that
// the same names give the same statement (kept prepared).
func upsertAttrs(db *gorm.DB, head, tail, location string, attrs map[string]any) error {
	names := make([]string, 0, len(attrs))
	for k, v := range attrs {
		if v != nil {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for i := 0; i < len(names); i += attrBatch {
		part := names[i:min(i+attrBatch, len(names))]
		var sb strings.Builder
		sb.Grow(len(head) + len(tail) + 14*len(part))
		sb.WriteString(head)
		args := make([]any, 0, 4*len(part))
		for j, k := range part {
			if j > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?)")
			key, value := encodeValue(attrs[k])
			args = append(args, location, k, key, value)
		}
		sb.WriteString(tail)
		if _, err := database.Exec(db, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// replace rewrites an existing entity's attributes, mixins and link ends.
func (s store) replace(db *gorm.DB, e *Entity) error {
	if err := db.Model(&entityRow{}).Where("location = ?", e.Location).Updates(map[string]any{
		"source": e.Source, "target": e.Target, "source_kind": e.SourceKind, "target_kind": e.TargetKind,
	}).Error; err != nil {
		return fmt.Errorf("update entity: %w", err)
	}
	if err := db.Where("location = ?", e.Location).Delete(&attrRow{}).Error; err != nil {
		return fmt.Errorf("update attributes: %w", err)
	}
	if err := db.Where("location = ?", e.Location).Delete(&memberRow{}).Error; err != nil {
		return fmt.Errorf("update mixins: %w", err)
	}
	if err := s.writeDetails(db, e); err != nil {
		return err
	}
	return s.refreshDocs(db, e.Location)
}

// setAttrs updates some attributes of one entity (nil deletes): one
// statement for the deletions, one upsert for the rest.
func (s store) setAttrs(db *gorm.DB, location string, attrs map[string]any) error {
	var gone []string
	for k, v := range attrs {
		if v == nil {
			gone = append(gone, k)
		}
	}
	if len(gone) > 0 {
		sort.Strings(gone)
		if err := db.Exec("DELETE FROM occi_attributes WHERE location = ? AND name IN ?", location, gone).Error; err != nil {
			return fmt.Errorf("update attributes %s: %w", strings.Join(gone, ", "), err)
		}
	}
	err := upsertAttrs(db, "INSERT INTO occi_attributes (location, name, value_key, value) VALUES ",
		" ON CONFLICT (location, name) DO UPDATE SET value_key = excluded.value_key, value = excluded.value", location, attrs)
	if err != nil {
		return fmt.Errorf("update attributes: %w", err)
	}
	return s.refreshDocs(db, location)
}

// delete removes entities and everything attached to them.
func (store) delete(db *gorm.DB, locations []string) error {
	for i := 0; i < len(locations); i += chunk {
		part := locations[i:min(i+chunk, len(locations))]
		for _, m := range []any{&attrRow{}, &memberRow{}, &entityRow{}} {
			if err := db.Where("location IN ?", part).Delete(m).Error; err != nil {
				return fmt.Errorf("delete entities: %w", err)
			}
		}
	}
	return nil
}
