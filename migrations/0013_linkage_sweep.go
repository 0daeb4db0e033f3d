package migrations

import (
	"time"

	"gorm.io/gorm"
)

// The linkage journals the volumes it is making (an export's, a
// snapshot's): a row written before the volume is made and deleted in the
// transaction that records what names the volume. A row left behind is a
// crash between the two; the start-up sweep removes its volume (issue 9
// item 5). Only journaled volumes are removed, so a volume pool or bucket
// shared with another deployment loses nothing.
func init() {
	type linkagePendingVolume struct {
		Volume    string `gorm:"primaryKey;size:255"`
		CreatedAt time.Time
	}
	Register(Migration{ID: "0013_linkage_sweep", Up: func(tx *gorm.DB) error {
		return tx.Table("linkage_pending_volumes").AutoMigrate(&linkagePendingVolume{})
	}})
}
