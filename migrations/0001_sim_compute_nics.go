package migrations

import "gorm.io/gorm"

// 0001_sim_compute declared the interfaces column as field NICs without a
// column tag, so gorm named it "ni_cs", while the sim backend reads and
// writes "nics". This renames it (or adds it when neither exists); it is
// guarded so that it is a no-op where the column is already right.
func init() {
	Register(Migration{ID: "0001_sim_compute_nics", Up: func(tx *gorm.DB) error {
		m := tx.Migrator()
		if !m.HasTable("sim_machines") || m.HasColumn("sim_machines", "nics") {
			return nil
		}
		if m.HasColumn("sim_machines", "ni_cs") {
			return m.RenameColumn("sim_machines", "ni_cs", "nics")
		}
		return tx.Exec("ALTER TABLE sim_machines ADD COLUMN nics TEXT").Error
	}})
}
