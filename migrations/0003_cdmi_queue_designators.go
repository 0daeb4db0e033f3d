package migrations

import "gorm.io/gorm"

// CDMI 1.1.1 §11.3.6: every value enqueued gets a designator, a per-queue
// integer counting up from 0 that is never reused. The queue row keeps the
// next one; each value keeps its own.
func init() {
	type cdmiObject struct {
		QueueNext int64 `gorm:"not null;default:0"`
	}
	type cdmiQueueValue struct {
		Designator int64 `gorm:"not null;default:0"`
	}
	Register(Migration{ID: "0003_cdmi_queue_designators", Up: func(tx *gorm.DB) error {
		if err := tx.Table("cdmi_objects").Migrator().AddColumn(&cdmiObject{}, "QueueNext"); err != nil {
			return err
		}
		return tx.Table("cdmi_queue_values").Migrator().AddColumn(&cdmiQueueValue{}, "Designator")
	}})
}
