package migrations

import (
	"encoding/json"
	"reflect"

	"gorm.io/gorm"
)

// CDMI objects belong to a domain (CDMI 1.1.1 §10, the domainURI field):
// domain_id holds its objectID, "" for the default domain (every object
// before this migration).
//
// CDMI ACLs are evaluated for real principals from here on (issue 10). The
// root container's default ACL used to be §16.1.6's as written: OWNER@
// ALL_PERMS and AUTHENTICATED@ READ, both inherited, which lets every
// authenticated user read every other user's objects. A root still
// carrying exactly that ACL gets the one new servers place (cdmi's
// defaultRootACL): AUTHENTICATED@ may list the root and create in it,
// without that entry being inherited. A root ACL an operator changed is
// left alone. Objects created before keep the ACL they inherited then.
func init() {
	type row struct {
		ObjectID string
		Metadata string
	}
	entry := func(who, flags, mask string) map[string]any {
		return map[string]any{"acetype": "ALLOW", "identifier": who, "aceflags": flags, "acemask": mask}
	}
	oldACL := []any{
		entry("OWNER@", "OBJECT_INHERIT, CONTAINER_INHERIT", "ALL_PERMS"),
		entry("AUTHENTICATED@", "OBJECT_INHERIT, CONTAINER_INHERIT", "READ_ALL"),
	}
	newACL := []any{
		entry("OWNER@", "OBJECT_INHERIT, CONTAINER_INHERIT", "ALL_PERMS"),
		entry("AUTHENTICATED@", "NO_PROPAGATE", "READ_ALL, ADD_OBJECT, ADD_SUBCONTAINER"),
	}
	type cdmiObject struct {
		DomainID string `gorm:"size:80;not null;default:''"`
	}
	Register(Migration{ID: "0007_cdmi_principals", Up: func(tx *gorm.DB) error {
		if !tx.Migrator().HasTable("cdmi_objects") {
			return nil
		}
		if !tx.Table("cdmi_objects").Migrator().HasColumn(&cdmiObject{}, "DomainID") {
			if err := tx.Table("cdmi_objects").Migrator().AddColumn(&cdmiObject{}, "DomainID"); err != nil {
				return err
			}
		}
		// A domain's delete finds the objects that belong to it.
		if err := tx.Exec("CREATE INDEX IF NOT EXISTS idx_cdmi_objects_domain_id ON cdmi_objects (domain_id)").Error; err != nil {
			return err
		}
		var roots []row
		err := tx.Raw("SELECT object_id, metadata FROM cdmi_objects WHERE parent_id = ? AND name = ? AND type = ? AND system = ?",
			"", "", "container", true).Scan(&roots).Error
		if err != nil {
			return err
		}
		for _, r := range roots {
			var md map[string]any
			if json.Unmarshal([]byte(r.Metadata), &md) != nil {
				continue
			}
			var acl []any
			b, _ := json.Marshal(md["cdmi_acl"])
			if json.Unmarshal(b, &acl) != nil || !reflect.DeepEqual(acl, oldACL) {
				continue
			}
			md["cdmi_acl"] = newACL
			b, err := json.Marshal(md)
			if err != nil {
				return err
			}
			if err := tx.Exec("UPDATE cdmi_objects SET metadata = ? WHERE object_id = ?", string(b), r.ObjectID).Error; err != nil {
				return err
			}
		}
		return nil
	}})
}
