package migrations

import "gorm.io/gorm"

// The simulated compute backend keeps its machines and networks in the
// database so that its state survives restarts and is shared by every server
// process on one PostgreSQL database.
func init() {
	type simMachine struct {
		ID       string `gorm:"primaryKey;size:255"`
		State    string `gorm:"size:32;not null"`
		Message  string `gorm:"size:1024"`
		Spec     string `gorm:"type:text"` // JSON of computebackends.Machine
		Disks    string `gorm:"type:text"` // JSON list of attached disks
		NICs     string `gorm:"type:text"` // JSON list of attached interfaces
		Revision int64
	}
	type simNetwork struct {
		ID    string `gorm:"primaryKey;size:255"`
		State string `gorm:"size:32;not null"`
		Spec  string `gorm:"type:text"`
	}
	Register(Migration{ID: "0001_sim_compute", Up: func(tx *gorm.DB) error {
		if err := tx.Table("sim_machines").AutoMigrate(&simMachine{}); err != nil {
			return err
		}
		return tx.Table("sim_networks").AutoMigrate(&simNetwork{})
	}})
}
