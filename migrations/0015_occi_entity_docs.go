package migrations

import (
	"strings"

	"gorm.io/gorm"
)

// Each OCCI entity keeps its whole record (fields, mixins, attributes as
// length-prefixed fields) in occi_entities.doc, written in the
// transaction of each change, so that a listing reads one column of one
// row per entity (issue 13: a 10,000-compute listing read 100,000 rows).
// An empty doc is computed at read time: the backfill below only makes
// the entities already there fast. The expression is the one
// occi/records.go (sqlKit.computed) writes, for both databases.
func init() {
	Register(Migration{ID: "0015_occi_entity_docs", Up: func(tx *gorm.DB) error {
		if err := tx.Exec("ALTER TABLE occi_entities ADD COLUMN doc TEXT NOT NULL DEFAULT ''").Error; err != nil {
			return err
		}
		agg := "group_concat"
		if tx.Dialector.Name() == "postgres" {
			agg = "string_agg"
		}
		lp := func(x string) string {
			x = "COALESCE(" + x + ", '')"
			return "CAST(octet_length(" + x + ") AS TEXT) || ':' || " + x
		}
		var parts []string
		for _, c := range []string{"location", "id", "kind", "source", "target", "source_kind", "target_kind", "project"} {
			parts = append(parts, lp("e."+c))
		}
		parts = append(parts,
			"(SELECT COALESCE("+agg+"('M' || "+lp("m.mixin")+", ''), '') FROM occi_mixin_members m WHERE m.location = e.location)",
			"(SELECT COALESCE("+agg+"('A' || "+lp("a.name")+" || "+lp("a.value")+", ''), '') FROM occi_attributes a WHERE a.location = e.location)")
		return tx.Exec("UPDATE occi_entities AS e SET doc = " + strings.Join(parts, " || ")).Error
	}})
}
