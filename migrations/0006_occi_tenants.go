package migrations

import "gorm.io/gorm"

// OCCI entities and user mixins belong to a project (the tenant that made
// them; "" for rows from before tenancy, which only an administrator
// sees), and one row per project serialises the quota checks of concurrent
// requests of that project: a transaction that changes what a project uses
// updates its row first, so a second one waits until the first commits and
// then counts what it committed.
func init() {
	type occiEntity struct {
		Project string `gorm:"size:255;not null;default:'';index:idx_occi_entities_project"`
	}
	type occiUserMixin struct {
		Project string `gorm:"size:255;not null;default:'';index:idx_occi_user_mixins_project"`
	}
	type occiProjectLock struct {
		Project string `gorm:"primaryKey;size:255"`
		Changes int64  `gorm:"not null;default:0"`
	}
	Register(Migration{ID: "0006_occi_tenants", Up: func(tx *gorm.DB) error {
		for table, model := range map[string]any{"occi_entities": &occiEntity{}, "occi_user_mixins": &occiUserMixin{}} {
			m := tx.Table(table).Migrator()
			if !m.HasColumn(model, "Project") {
				if err := m.AddColumn(model, "Project"); err != nil {
					return err
				}
			}
			if !m.HasIndex(model, "idx_"+table+"_project") {
				if err := m.CreateIndex(model, "idx_"+table+"_project"); err != nil {
					return err
				}
			}
		}
		return tx.Table("occi_project_locks").AutoMigrate(&occiProjectLock{})
	}})
}
