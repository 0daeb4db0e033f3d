package migrations

import (
	"time"

	"gorm.io/gorm"
)

// A CDMI delete journals the values of the rows it deletes, in the
// transaction that deletes them: the values go from the backend after the
// commit, a page of keys at a time, so a delete of a container holding a
// million objects never holds a million keys in memory. A row left behind
// (a crash, a backend that failed) names a value no object names any more;
// the next start-up deletes it.
func init() {
	type cdmiDeletedValue struct {
		Batch     string `gorm:"size:40;not null;index"`
		ValueKey  string `gorm:"size:255;not null"`
		DeletedAt time.Time
	}
	Register(Migration{ID: "0017_cdmi_deleted_values", Up: func(tx *gorm.DB) error {
		return tx.Table("cdmi_deleted_values").AutoMigrate(&cdmiDeletedValue{})
	}})
}
