package migrations

import "gorm.io/gorm"

// idx_occi_entities_kind (0002) and idx_occi_entities_project (0006) are
// prefixes of the (kind, location) and (project, kind, location) indexes
// of 0014, which serve every lookup they served; each costs a B-tree
// insert under the one writer for every entity created (issue 13).
func init() {
	Register(Migration{ID: "0018_occi_prefix_indexes", Up: func(tx *gorm.DB) error {
		for _, stmt := range []string{
			"DROP INDEX IF EXISTS idx_occi_entities_kind",
			"DROP INDEX IF EXISTS idx_occi_entities_project",
		} {
			if err := tx.Exec(stmt).Error; err != nil {
				return err
			}
		}
		return nil
	}})
}
