package occi

import (
	"fmt"
	"sort"
	"strconv"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// The quotas a project's OCCI entities are held to.
const (
	QuotaCores     = "cores"     // occi.compute.cores of its computes
	QuotaMemory    = "memory"    // occi.compute.memory of its computes, GiB
	QuotaStorage   = "storage"   // occi.storage.size of its storage, GiB
	QuotaInstances = "instances" // how many computes
)

// QuotaNames are the quotas, in the order messages name them.
var QuotaNames = []string{QuotaCores, QuotaMemory, QuotaStorage, QuotaInstances}

// A compute without occi.compute.cores or occi.compute.memory counts as
// the machine the compute backends give it (libvirt: 1 core, 256 MiB), so
// leaving the attributes out does not escape the quota.
const (
	defaultCores     = 1
	defaultMemoryGiB = 0.25
)

// Limits are quota limits by quota name (QuotaCores, ...); a quota that is
// absent has no limit.
type Limits map[string]float64

// Quotas are the per-project limits on what OCCI entities use. Default
// holds for every project; Projects[p] overrides it for project p, quota
// by quota. A create, update, mixin association or resize that would take
// a project beyond a limit is Forbidden, and changes nothing; one that
// lowers what a project uses is allowed even when it stays above.
type Quotas struct {
	Default  Limits
	Projects map[string]Limits
}

// limit is project's limit for quota name.
func (q Quotas) limit(project, name string) (float64, bool) {
	if l, ok := q.Projects[project][name]; ok {
		return l, true
	}
	l, ok := q.Default[name]
	return l, ok
}

func (q Quotas) any() bool {
	if len(q.Default) > 0 {
		return true
	}
	for _, l := range q.Projects {
		if len(l) > 0 {
			return true
		}
	}
	return false
}

// usage is what entities use, by quota name.
type usage map[string]float64

func (u usage) add(v usage, sign float64) {
	for k, x := range v {
		u[k] += sign * x
	}
}

// usageOf is what one entity uses.
func (o *op) usageOf(e *Entity) usage {
	switch {
	case o.m.isA(e.Kind, KindCompute):
		return usage{QuotaInstances: 1, QuotaCores: computeCores(e.Attrs["occi.compute.cores"]),
			QuotaMemory: computeMemory(e.Attrs["occi.compute.memory"])}
	case o.m.isA(e.Kind, KindStorage):
		return usage{QuotaStorage: num64(e.Attrs["occi.storage.size"])}
	}
	return nil
}

func computeCores(v any) float64 {
	if n := num64(v); n > 0 {
		return n
	}
	return defaultCores
}

func computeMemory(v any) float64 {
	if n := num64(v); n > 0 {
		return n
	}
	return defaultMemoryGiB
}

// preCheckQuota refuses, before any backend call, a change that is over a
// quota already: entities are the entities as they will be. It takes no
// lock; checkQuota decides, in the transaction.
func (o *op) preCheckQuota(entities []*Entity) error {
	return o.quota(o.db, entities, false)
}

// checkQuota refuses, inside the change's transaction tx and before it
// writes, a change that would take a project beyond a quota: entities
// are the entities as they will be, compared with what the store holds
// for them now. It locks each project whose use grows (its row in
// occi_project_locks), so a concurrent change of the same project waits
// for this transaction and then counts what it wrote.
func (o *op) checkQuota(tx *gorm.DB, entities []*Entity) error {
	return o.quota(tx, entities, true)
}

func (o *op) quota(db *gorm.DB, entities []*Entity, lock bool) error {
	q := o.s.quotas
	if !q.any() || len(entities) == 0 {
		return nil
	}
	delta, err := o.quotaDelta(db, entities)
	if err != nil {
		return err
	}
	projects := make([]string, 0, len(delta))
	for p := range delta {
		projects = append(projects, p)
	}
	sort.Strings(projects) // one lock order for every transaction
	for _, p := range projects {
		grows := false
		for _, name := range QuotaNames {
			if _, limited := q.limit(p, name); limited && delta[p][name] > 0 {
				grows = true
			}
		}
		if !grows {
			continue
		}
		if lock {
			if err := o.s.st.lockProject(db, p); err != nil {
				return dbErr(err)
			}
		}
		used, err := o.s.st.usage(db, p, o.m.subKinds(KindCompute), o.m.subKinds(KindStorage))
		if err != nil {
			return dbErr(err)
		}
		if err := q.exceeded(p, used, delta[p]); err != nil {
			return err
		}
	}
	return nil
}

// quotaDelta is, by project, what entities use beyond what their stored
// versions use (a new entity's stored version uses nothing).
func (o *op) quotaDelta(db *gorm.DB, entities []*Entity) (map[string]usage, error) {
	locs := make([]string, len(entities))
	for i, e := range entities {
		locs[i] = e.Location
	}
	stored, err := o.s.st.entities(db, everyone, locs)
	if err != nil {
		return nil, dbErr(err)
	}
	delta := map[string]usage{}
	at := func(p string) usage {
		if delta[p] == nil {
			delta[p] = usage{}
		}
		return delta[p]
	}
	for _, e := range stored {
		at(e.Project).add(o.usageOf(e), -1)
	}
	for _, e := range entities {
		at(e.Project).add(o.usageOf(e), +1)
	}
	return delta, nil
}

// exceeded names the first quota that used plus delta goes beyond.
func (q Quotas) exceeded(project string, used, delta usage) error {
	for _, name := range QuotaNames {
		limit, limited := q.limit(project, name)
		if !limited || delta[name] <= 0 || used[name]+delta[name] <= limit+1e-9 {
			continue
		}
		return kind.Errorf(kind.Forbidden, "quota %s of project %q exceeded: the limit is %s%s, %s in use, this request adds %s",
			name, project, fmtQuota(limit), quotaUnit(name), fmtQuota(used[name]), fmtQuota(delta[name]))
	}
	return nil
}

func quotaUnit(name string) string {
	if name == QuotaMemory || name == QuotaStorage {
		return " GiB"
	}
	return ""
}

func fmtQuota(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// lockProject takes project's row in occi_project_locks for the rest of
// the transaction (made on first use).
func (store) lockProject(db *gorm.DB, project string) error {
	bump := func() (int64, error) {
		r := db.Exec("UPDATE occi_project_locks SET changes = changes + 1 WHERE project = ?", project)
		return r.RowsAffected, r.Error
	}
	n, err := bump()
	if err != nil || n > 0 {
		return err
	}
	if err := db.Exec("INSERT INTO occi_project_locks (project, changes) VALUES (?, 0) ON CONFLICT DO NOTHING", project).Error; err != nil {
		return fmt.Errorf("lock project: %w", err)
	}
	_, err = bump()
	return err
}

// usage adds up what project's entities use, streaming the attribute rows.
func (store) usage(db *gorm.DB, project string, computeKinds, storageKinds []string) (usage, error) {
	u := usage{}
	var computes int64
	if err := db.Model(&entityRow{}).Where("project = ? AND kind IN ?", project, computeKinds).Count(&computes).Error; err != nil {
		return nil, fmt.Errorf("count computes: %w", err)
	}
	u[QuotaInstances] = float64(computes)
	// Computes without the attribute count the default (computeCores).
	withCores, withMemory := int64(0), int64(0)
	err := scanRows(db.Table("occi_attributes AS a").Select("a.name", "a.value").
		Joins("JOIN occi_entities AS e ON e.location = a.location").
		Where("e.project = ? AND ((e.kind IN ? AND a.name IN ?) OR (e.kind IN ? AND a.name = ?))", project,
			computeKinds, []string{"occi.compute.cores", "occi.compute.memory"}, storageKinds, "occi.storage.size"),
		func(scan func(...any) error) error {
			var name, value string
			if err := scan(&name, &value); err != nil {
				return err
			}
			switch v := decodeValue(value); name {
			case "occi.compute.cores":
				u[QuotaCores] += computeCores(v)
				withCores++
			case "occi.compute.memory":
				u[QuotaMemory] += computeMemory(v)
				withMemory++
			default:
				u[QuotaStorage] += num64(v)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("add up quota use: %w", err)
	}
	u[QuotaCores] += float64(computes-withCores) * defaultCores
	u[QuotaMemory] += float64(computes-withMemory) * defaultMemoryGiB
	return u, nil
}
