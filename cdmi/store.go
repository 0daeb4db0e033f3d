package cdmi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Object types, as stored.
const (
	typeContainer  = "container"
	typeDataObject = "dataobject"
	typeQueue      = "queue"
	typeDomain     = "domain"
	typeCapability = "capability"
)

// object is one row of cdmi_objects (see migrations/0003_cdmi_objects.go).
type object struct {
	ObjectID   string `gorm:"primaryKey"`
	ParentID   string // "" for the root and for objects reachable only by ID
	Name       string // "" for the root; the objectID for unparented objects
	Type       string
	System     bool // root, capability and domain objects the server made
	Mimetype   string
	Encoding   string // valuetransferencoding of the stored value
	ValueKey   string // key in the object backend; "" when there is no value
	Size       int64
	Metadata   string // JSON object: user and data system metadata
	Exports    string // JSON object: the container's exports
	Reference  string // target URI of a reference object
	Completion string // completionStatus
	Owner      string
	Hash       string // cdmi_hash, when cdmi_value_hash asks for one
	CTime      time.Time
	ATime      time.Time
	MTime      time.Time
	ACount     int64
	MCount     int64
	QueueNext  int64  // a queue's next value designator (§11.3.6)
	DomainID   string // the domain it belongs to (§10, domainURI); "" for the default domain

	parsed *parsedMetadata // Metadata decoded, for as long as Metadata is what was decoded
}

// parsedMetadata is an object's Metadata column decoded once: one request
// asks for it several times (the ACL for the access check, the metadata
// for the answer, the extra fields), and decoding it was a tenth of a
// small read's CPU. Nothing in it is changed after it is made: metadata()
// hands out copies of the top level, and no caller changes the values
// inside (ACLs are parsed into new values, merges build new maps).
type parsedMetadata struct {
	src   string         // the Metadata it was decoded from
	m     map[string]any // without extraKey
	extra map[string]json.RawMessage
	acl   []ace // cdmi_acl parsed; nil when absent or invalid
}

// decoded is o's Metadata decoded, from the memo while Metadata is
// unchanged (setMetadata and store replace it; so may a caller assigning
// the field, which the src comparison catches).
func (o *object) decoded() *parsedMetadata {
	if p := o.parsed; p != nil && p.src == o.Metadata {
		return p
	}
	p := &parsedMetadata{src: o.Metadata, m: map[string]any{}}
	var w struct {
		X map[string]json.RawMessage `json:"cdmi_x_fields"`
	}
	if o.Metadata != "" {
		_ = json.Unmarshal([]byte(o.Metadata), &p.m)
		if _, ok := p.m[extraKey]; ok {
			_ = json.Unmarshal([]byte(o.Metadata), &w)
		}
	}
	delete(p.m, extraKey)
	p.extra = w.X
	if raw, ok := p.m["cdmi_acl"]; ok {
		p.acl, _ = parseACL(raw)
	}
	o.parsed = p
	return p
}

func (object) TableName() string { return "cdmi_objects" }

// queueValue is one entry of a queue (cdmi_queue_values).
type queueValue struct {
	Seq        int64 `gorm:"primaryKey;autoIncrement"`
	QueueID    string
	ValueKey   string
	Mimetype   string
	Encoding   string
	Size       int64
	Designator int64 // per queue, from 0, never reused (§11.3.6)
}

func (queueValue) TableName() string { return "cdmi_queue_values" }

func (o *object) isContainerLike() bool {
	return o.Type == typeContainer || o.Type == typeDomain || o.Type == typeCapability
}

// extraKey holds, inside the Metadata column, the fields a client gave
// that the standard does not define (§8.1, §9.1, §11.1: they "shall be
// stored as part of the object"). It starts with cdmi_ and is no name of
// the standard's, so no client metadata item can take it (checkMetadata
// refuses unknown cdmi_ names).
const extraKey = "cdmi_x_fields"

func (o *object) metadata() map[string]any {
	return maps.Clone(o.decoded().m)
}

// setMetadata replaces the metadata, keeping the stored extra fields.
func (o *object) setMetadata(m map[string]any) {
	o.store(m, o.extraFields())
}

// extraFields are the non-standard fields stored with the object, by name.
func (o *object) extraFields() map[string]json.RawMessage {
	x := maps.Clone(o.decoded().extra)
	if x == nil {
		x = map[string]json.RawMessage{}
	}
	return x
}

// setExtraFields stores the given non-standard fields, replacing those of
// the same names and keeping the others.
func (o *object) setExtraFields(given map[string]json.RawMessage) {
	if len(given) == 0 {
		return
	}
	x := o.extraFields()
	for k, v := range given {
		x[k] = v
	}
	o.store(o.metadata(), x)
}

func (o *object) store(m map[string]any, extra map[string]json.RawMessage) {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	if len(extra) > 0 {
		out[extraKey] = extra
	}
	b, _ := json.Marshal(out)
	o.Metadata = string(b)
}

// errNotFound is what byID and child answer for a missing row; it is of
// kind NotFound.
var errNotFound = kind.New(kind.NotFound, "not found")

// children lists a container's children in name order.
// System objects (capabilities, domains) are listed only below system
// objects: the root container does not show cdmi_capabilities/ and
// cdmi_domains/ as children.
func (s *Service) childQuery(ctx context.Context, db *gorm.DB, parent *object) *gorm.DB {
	q := db.WithContext(ctx).Model(&object{}).Where("parent_id = ?", parent.ObjectID)
	if !parent.System || parent.ObjectID == s.rootID {
		q = q.Where("system = ?", false)
	}
	return q
}

func (s *Service) childCount(ctx context.Context, db *gorm.DB, parent *object) (int64, error) {
	var n int64
	if err := s.childQuery(ctx, db, parent).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count children: %w", database.Classify(err))
	}
	return n, nil
}

// children lists limit children from offset, in name order (the
// database's collation), which stays the same from one page to the next.
func (s *Service) children(ctx context.Context, db *gorm.DB, parent *object, offset, limit int64) ([]object, error) {
	var out []object
	// metadata and owner: what a filtered listing evaluates the ACL on.
	err := s.childQuery(ctx, db, parent).Select("object_id", "name", "type", "system", "reference", "metadata", "owner").
		Order("name").Order("object_id").Offset(int(offset)).Limit(int(limit)).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list children: %w", database.Classify(err))
	}
	return out, nil
}

// lineage returns the names from the root down to o (excluding the root).
// ok is false for objects that do not hang from the root (created by ID).
func (s *Service) lineage(ctx context.Context, db *gorm.DB, o *object) (names []string, ok bool, err error) {
	cur := o
	for depth := 0; depth < 4096; depth++ {
		if cur.ObjectID == s.rootID {
			for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
				names[i], names[j] = names[j], names[i]
			}
			return names, true, nil
		}
		if cur.ParentID == "" {
			return nil, false, nil
		}
		n := cur.Name
		if cur.isContainerLike() {
			n += "/"
		}
		names = append(names, n)
		if cur.ParentID == s.rootID {
			// The root's row tells nothing more: no need to read it.
			cur = &object{ObjectID: s.rootID}
			continue
		}
		p, err := s.cachedByID(ctx, db, cur.ParentID)
		if err != nil {
			return nil, false, err
		}
		cur = p
	}
	return nil, false, fmt.Errorf("object %s: parent chain too deep", o.ObjectID)
}

// uriOf is the absolute path at which o is found: by name when it hangs
// from the root, else by ID. Names are percent-encoded segment by segment.
func (s *Service) uriOf(ctx context.Context, db *gorm.DB, o *object) (string, error) {
	if o.ObjectID == s.rootID {
		return s.root + "/", nil
	}
	names, ok, err := s.lineage(ctx, db, o)
	if err != nil {
		return "", err
	}
	if !ok {
		u := s.root + "/cdmi_objectid/" + o.ObjectID
		if o.isContainerLike() {
			u += "/"
		}
		return u, nil
	}
	var b strings.Builder
	b.WriteString(s.root + "/")
	for _, n := range names {
		slash := strings.HasSuffix(n, "/")
		b.WriteString(escapeSegment(strings.TrimSuffix(n, "/")))
		if slash {
			b.WriteByte('/')
		}
	}
	return b.String(), nil
}

// newValueKey names a fresh value in the backend, under this database's
// value space. The creation time leads the random part so the start-up
// sweep can leave young keys alone: they may belong to a write another
// process has not committed yet.
func (s *Service) newValueKey(objectID string) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return s.valueSpace + strconv.FormatInt(time.Now().Unix(), 10) + "-" + objectID + "-" + hex.EncodeToString(r[:])
}

// valueSpace is the prefix of this database's value keys: "cdmi/", a
// digest of the root container's objectID (made once per database), "/".
// A bucket or a pool may hold the values of servers of other databases
// too (one S3 bucket named by default, one RADOS pool); the start-up sweep
// lists only this prefix, since this database cannot tell their values
// from leftovers.
func valueSpace(rootID string) string {
	sum := sha256.Sum256([]byte(rootID))
	return "cdmi/" + hex.EncodeToString(sum[:6]) + "/"
}

// valueKeyTime reads the creation time out of a value key: of this
// format, or of the one before value spaces ("cdmi/<unix>-...").
func valueKeyTime(key string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(key, "cdmi/")
	if !ok {
		return time.Time{}, false
	}
	rest = rest[strings.LastIndexByte(rest, '/')+1:]
	ts, _, ok := strings.Cut(rest, "-")
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// sweepAge is how old an unreferenced value must be before the start-up
// sweep deletes it; younger ones may be in-flight writes of another process.
const sweepAge = time.Hour

// sweep deletes values no row refers to: what a crash between a value's
// write and its row's commit (or a delete's commit and the value's removal)
// left behind.
func (s *Service) sweep(ctx context.Context) (int, error) {
	var keys []string
	if err := s.db.WithContext(ctx).Model(&object{}).Where("value_key <> ''").Pluck("value_key", &keys).Error; err != nil {
		return 0, err
	}
	var qkeys []string
	if err := s.db.WithContext(ctx).Model(&queueValue{}).Pluck("value_key", &qkeys).Error; err != nil {
		return 0, err
	}
	live := make(map[string]bool, len(keys)+len(qkeys))
	for _, k := range append(keys, qkeys...) {
		live[k] = true
	}
	var dead []string
	cutoff := time.Now().Add(-sweepAge)
	// Alone on its values (fs in its own data folder), every value key is
	// this database's, of either format; else only its value space is.
	prefix := s.valueSpace
	if s.cfg.ExclusiveValues {
		prefix = "cdmi/"
	}
	err := s.objs.List(ctx, prefix, func(key string, _ int64) error {
		if t, ok := valueKeyTime(key); ok && !live[key] && (s.cfg.ExclusiveValues || t.Before(cutoff)) {
			dead = append(dead, key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range dead {
		_ = s.objs.Delete(ctx, k)
	}
	return len(dead), nil
}

// ensureSystem creates the root container, the capability objects and the
// domains if they are missing. Several processes may start at once: the
// unique (parent, name) index makes the first insert win and the others
// read what it wrote.
func (s *Service) ensureSystem(ctx context.Context) error {
	now := time.Now().UTC()
	mk := func(parentID, name, typ string) (string, error) {
		id, err := newObjectID(s.cfg.EnterpriseNumber)
		if err != nil {
			return "", err
		}
		o := object{ObjectID: id, ParentID: parentID, Name: name, Type: typ, System: true,
			Completion: "Complete", Owner: adminPrincipal, CTime: now, ATime: now, MTime: now}
		if typ == typeContainer {
			o.setMetadata(map[string]any{"cdmi_acl": defaultRootACL()})
		}
		if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&o).Error; err != nil {
			return "", fmt.Errorf("create %s %q: %w", typ, name, err)
		}
		got, err := s.child(ctx, s.db, parentID, name)
		if err != nil {
			return "", err
		}
		return got.ObjectID, nil
	}
	var err error
	if s.rootID, err = mk("", "", typeContainer); err != nil {
		return err
	}
	if s.capsID, err = mk(s.rootID, "cdmi_capabilities", typeCapability); err != nil {
		return err
	}
	s.capIDs = map[string]string{}
	for _, c := range []string{typeContainer, typeDataObject, typeQueue, typeDomain} {
		if s.capIDs[c], err = mk(s.capsID, c, typeCapability); err != nil {
			return err
		}
	}
	if s.cfg.Snapshots != nil && s.cfg.Disks != nil {
		if _, err = mk(s.capIDs[typeContainer], occiCapabilities, typeCapability); err != nil {
			return err
		}
	}
	if s.domainsID, err = mk(s.rootID, "cdmi_domains", typeDomain); err != nil {
		return err
	}
	if s.defaultDomainID, err = mk(s.domainsID, "default", typeDomain); err != nil {
		return err
	}
	return nil
}

// inTx runs fn in one transaction and gives its error a kind
// (database.Classify): a lost race on a unique name is a Conflict, a
// database that cannot be reached Unavailable.
func (s *Service) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return database.Classify(s.db.WithContext(ctx).Transaction(fn))
}

// subtreeSize sums the value sizes below a container (or of a queue):
// data objects' values and queues' enqueued values.
func (s *Service) subtreeSize(ctx context.Context, db *gorm.DB, id string) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Raw(`WITH RECURSIVE t(id) AS (
		SELECT object_id FROM cdmi_objects WHERE object_id = ?
		UNION ALL SELECT o.object_id FROM cdmi_objects o JOIN t ON o.parent_id = t.id)
		SELECT COALESCE((SELECT SUM(size) FROM cdmi_objects WHERE object_id IN (SELECT id FROM t)), 0)
			+ COALESCE((SELECT SUM(size) FROM cdmi_queue_values WHERE queue_id IN (SELECT id FROM t)), 0)`, id).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("container size: %w", err)
	}
	return n, nil
}

// subtree lists every object below (and including) id.
func (s *Service) subtree(ctx context.Context, db *gorm.DB, id string) ([]object, error) {
	var out []object
	err := db.WithContext(ctx).Raw(`WITH RECURSIVE t(id) AS (
		SELECT object_id FROM cdmi_objects WHERE object_id = ?
		UNION ALL SELECT o.object_id FROM cdmi_objects o JOIN t ON o.parent_id = t.id)
		SELECT * FROM cdmi_objects WHERE object_id IN (SELECT id FROM t)`, id).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list the subtree: %w", err)
	}
	return out, nil
}
