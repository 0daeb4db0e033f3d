package occi

import (
	"database/sql"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// The loader reads entities with everything their rendering shows in ONE
// statement: the entity rows, their attributes and mixins, and (for
// resources) the links out of them with their attributes and mixins, as
// the arms of a UNION ALL sorted by the entity they belong to. Rows of one
// entity arrive together, so an entity is complete, and handed on, as soon
// as the next one's rows begin: a listing holds one page, never the whole
// collection, and a GET is one query instead of eight.
//
// Every arm has the same columns: the owner (the listed entity's
// location), the link the row belongs to ("" for the owner itself), the
// part (what the row is), and seven values.
const (
	partEntity = iota
	partAttr
	partMixin
	partLink
	partLinkAttr
	partLinkMixin
)

// loadSQL is the statement for owners selected by a subquery ("?" below,
// repeated per arm); withLinks adds the links out of them.
func loadSQL(withLinks bool, sc scope) string {
	const ent = "id, kind, source, target, source_kind, target_kind, project"
	arms := []string{
		fmt.Sprintf("SELECT location AS owner, '' AS link, %d AS part, %s FROM occi_entities WHERE location IN (SELECT location FROM page)", partEntity, ent),
		fmt.Sprintf("SELECT location, '', %d, name, value, '', '', '', '', '' FROM occi_attributes WHERE location IN (SELECT location FROM page)", partAttr),
		fmt.Sprintf("SELECT location, '', %d, mixin, '', '', '', '', '', '' FROM occi_mixin_members WHERE location IN (SELECT location FROM page)", partMixin),
	}
	if withLinks {
		// A link is its source's project's; the caller sees the links of
		// the projects it sees.
		project := ""
		if !sc.all {
			project = " AND l.project = ?"
		}
		arms = append(arms,
			fmt.Sprintf("SELECT l.source, l.location, %d, l.%s FROM occi_entities l WHERE l.source IN (SELECT location FROM page)%s",
				partLink, strings.ReplaceAll(ent, ", ", ", l."), project),
			fmt.Sprintf("SELECT l.source, a.location, %d, a.name, a.value, '', '', '', '', '' FROM occi_attributes a "+
				"JOIN occi_entities l ON l.location = a.location WHERE l.source IN (SELECT location FROM page)%s", partLinkAttr, project),
			fmt.Sprintf("SELECT l.source, m.location, %d, m.mixin, '', '', '', '', '', '' FROM occi_mixin_members m "+
				"JOIN occi_entities l ON l.location = m.location WHERE l.source IN (SELECT location FROM page)%s", partLinkMixin, project))
	}
	return "WITH page AS MATERIALIZED (?) " + strings.Join(arms, " UNION ALL ") + " ORDER BY 1, 3, 2, 4"
}

// load reads the entities whose locations sub selects (a query of one
// column, location, with the caller's scope applied), in location order,
// and calls fn with each once it is complete; withLinks fills the links
// of resources.
func (store) load(db *gorm.DB, sc scope, sub *gorm.DB, withLinks bool, fn func(*Entity) error) error {
	vars := []any{sub}
	if withLinks && !sc.all {
		vars = append(vars, sc.project, sc.project, sc.project)
	}
	rows, err := db.Raw(loadSQL(withLinks, sc), vars...).Rows()
	if err != nil {
		return fmt.Errorf("read entities: %w", err)
	}
	defer rows.Close()
	var a assembler
	var col [10]sql.RawBytes
	dest := make([]any, len(col))
	for i := range col {
		dest[i] = &col[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read entities: %w", err)
		}
		if done := a.add(&col); done != nil {
			if err := fn(done); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read entities: %w", err)
	}
	if a.cur != nil {
		return fn(a.cur)
	}
	return nil
}

// assembler builds entities from the loader's rows.
type assembler struct {
	cur   *Entity
	links map[string]*Entity // the current owner's, by location
}

// add takes one row and answers the previous entity when the row begins
// the next one. Rows of an owner that is not (or no longer) there, such
// as an attribute whose entity row another request just deleted, are
// dropped.
func (a *assembler) add(col *[10]sql.RawBytes) *Entity {
	owner, link := string(col[0]), string(col[1])
	var done *Entity
	if a.cur != nil && a.cur.Location != owner {
		done, a.cur, a.links = a.cur, nil, nil
	}
	switch part := atoiBytes(col[2]); part {
	case partEntity:
		a.cur = entityOf(owner, col)
	case partLink:
		if a.cur != nil {
			l := entityOf(link, col)
			a.cur.Links = append(a.cur.Links, l)
			if a.links == nil {
				a.links = map[string]*Entity{}
			}
			a.links[link] = l
		}
	case partAttr, partMixin:
		addDetail(a.cur, part == partMixin, col)
	case partLinkAttr, partLinkMixin:
		addDetail(a.links[link], part == partLinkMixin, col)
	}
	return done
}

func entityOf(loc string, col *[10]sql.RawBytes) *Entity {
	return &Entity{Location: loc, ID: string(col[3]), Kind: string(col[4]), Source: string(col[5]),
		Target: string(col[6]), SourceKind: string(col[7]), TargetKind: string(col[8]), Project: string(col[9]),
		Attrs: map[string]any{}}
}

func addDetail(e *Entity, mixin bool, col *[10]sql.RawBytes) {
	switch {
	case e == nil:
	case mixin:
		e.Mixins = append(e.Mixins, string(col[3]))
	default:
		e.Attrs[string(col[3])] = decodeValue(string(col[4]))
	}
}

// atoiBytes reads the small non-negative part number.
func atoiBytes(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}
