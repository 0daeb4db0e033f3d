package migrations

import (
	"time"

	"gorm.io/gorm"
)

// The linkage records which exports an OCCI "offline" action took offline
// (OCCI 1.2 Infrastructure 3.3: an offline storage is attached to no new
// compute), and the snapshots of exported containers (CDMI 1.1.1 clause
// 14): each is a CDMI container under the source's cdmi_snapshots/, with a
// frozen copy of the volume behind it.
func init() {
	type linkageExport struct {
		Offline bool `gorm:"not null;default:false"`
	}
	type linkageSnapshot struct {
		ContainerID string `gorm:"primaryKey;size:80"` // objectID of the snapshot's CDMI container
		SourceID    string `gorm:"size:80;not null;index:idx_linkage_snapshots_source"`
		Name        string `gorm:"size:255;not null"`
		Volume      string `gorm:"size:255;not null"`
		CreatedAt   time.Time
	}
	Register(Migration{ID: "0012_linkage_snapshots", Up: func(tx *gorm.DB) error {
		if !tx.Migrator().HasColumn("linkage_exports", "offline") {
			if err := tx.Table("linkage_exports").Migrator().AddColumn(&linkageExport{}, "Offline"); err != nil {
				return err
			}
		}
		return tx.Table("linkage_snapshots").AutoMigrate(&linkageSnapshot{})
	}})
}
