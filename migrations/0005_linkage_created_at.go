package migrations

import (
	"time"

	"gorm.io/gorm"
)

// The linkage records when each export was made, so that its start-up
// sweep can tell a crash's leftover from a create still under way in
// another process.
func init() {
	type linkageExport struct {
		CreatedAt time.Time
	}
	Register(Migration{ID: "0005_linkage_created_at", Up: func(tx *gorm.DB) error {
		if tx.Migrator().HasColumn("linkage_exports", "created_at") {
			return nil
		}
		return tx.Table("linkage_exports").Migrator().AddColumn(&linkageExport{}, "CreatedAt")
	}})
}
