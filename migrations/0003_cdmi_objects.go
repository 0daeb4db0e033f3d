package migrations

import (
	"time"

	"gorm.io/gorm"
)

// CDMI keeps every object's metadata in one table (containers, data
// objects, queues, domains and capability objects share the tree and the
// object-ID space), and queue entries in a second one. Values live in the
// object backend under ValueKey; a row points at the value it shows, so a
// value becomes visible when its row commits.
func init() {
	type cdmiObject struct {
		ObjectID   string `gorm:"primaryKey;size:80"`
		ParentID   string `gorm:"size:80;not null;uniqueIndex:idx_cdmi_objects_parent_name,priority:1"`
		Name       string `gorm:"size:1024;not null;uniqueIndex:idx_cdmi_objects_parent_name,priority:2"`
		Type       string `gorm:"size:16;not null"`
		System     bool   `gorm:"not null;default:false"`
		Mimetype   string `gorm:"size:255"`
		Encoding   string `gorm:"size:16"`
		ValueKey   string `gorm:"size:255;index"`
		Size       int64  `gorm:"not null;default:0"`
		Metadata   string `gorm:"type:text"`
		Exports    string `gorm:"type:text"`
		Reference  string `gorm:"type:text"`
		Completion string `gorm:"size:1024"`
		Owner      string `gorm:"size:255"`
		Hash       string `gorm:"size:255"`
		CTime      time.Time
		ATime      time.Time
		MTime      time.Time
		ACount     int64 `gorm:"not null;default:0"`
		MCount     int64 `gorm:"not null;default:0"`
	}
	type cdmiQueueValue struct {
		Seq      int64  `gorm:"primaryKey;autoIncrement"`
		QueueID  string `gorm:"size:80;not null;index"`
		ValueKey string `gorm:"size:255;not null"`
		Mimetype string `gorm:"size:255"`
		Encoding string `gorm:"size:16"`
		Size     int64  `gorm:"not null;default:0"`
	}
	Register(Migration{ID: "0003_cdmi_objects", Up: func(tx *gorm.DB) error {
		if err := tx.Table("cdmi_objects").AutoMigrate(&cdmiObject{}); err != nil {
			return err
		}
		return tx.Table("cdmi_queue_values").AutoMigrate(&cdmiQueueValue{})
	}})
}
