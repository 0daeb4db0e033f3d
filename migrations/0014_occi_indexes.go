package migrations

import "gorm.io/gorm"

// OCCI listings read a collection in keyset pages ("kind IN (...) AND
// location > ? ORDER BY location LIMIT n", issue 13): without an index on
// (kind, location) each page sorted the whole kind, so a listing cost the
// square of its size. A tenant's listing narrows by project first.
//
// occi_mixin_versions holds one counter that every change of the user
// mixins bumps in the same transaction, so that each server process can
// keep the mixins in memory and re-read them only when the counter moved,
// which another process sharing the database may have done.
func init() {
	Register(Migration{ID: "0014_occi_indexes", Up: func(tx *gorm.DB) error {
		for _, stmt := range []string{
			"CREATE INDEX IF NOT EXISTS idx_occi_entities_kind_location ON occi_entities (kind, location)",
			"CREATE INDEX IF NOT EXISTS idx_occi_entities_project_kind_location ON occi_entities (project, kind, location)",
			"CREATE TABLE IF NOT EXISTS occi_mixin_versions (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)",
			"INSERT INTO occi_mixin_versions (id, version) SELECT 1, 0 WHERE NOT EXISTS (SELECT 1 FROM occi_mixin_versions WHERE id = 1)",
		} {
			if err := tx.Exec(stmt).Error; err != nil {
				return err
			}
		}
		return nil
	}})
}
