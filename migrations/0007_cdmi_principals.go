package migrations

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// CDMI for real principals (issue 10).
//
// CDMI objects belong to a domain (CDMI 1.1.1 §10, the domainURI field):
// domain_id holds its objectID, "" for the default domain (every object
// before this migration).
//
// ACLs are evaluated for the authenticated user from here on. The root
// container's default ACL used to be §16.1.6's as written: OWNER@
// ALL_PERMS and AUTHENTICATED@ READ, both inherited, which lets every
// authenticated user read every other user's objects. A root still
// carrying exactly that ACL gets the one new servers place (cdmi's
// defaultRootACL): AUTHENTICATED@ may list the root and create in it,
// without that entry being inherited. A root ACL an operator changed is
// left alone. Below the root, the entry every object inherited from the
// old default (ALLOW AUTHENTICATED@ READ_ALL with the INHERITED flag, as
// the server wrote it) is removed; entries a client set are kept.
func init() {
	Register(Migration{ID: "0007_cdmi_principals", Up: func(tx *gorm.DB) error {
		if !tx.Migrator().HasTable("cdmi_objects") {
			return nil
		}
		if err := cdmiAddDomainColumn(tx); err != nil {
			return err
		}
		if err := cdmiReplaceRootACL(tx); err != nil {
			return err
		}
		return cdmiDropInheritedReadAll(tx)
	}})
}

func cdmiAddDomainColumn(tx *gorm.DB) error {
	type cdmiObject struct {
		DomainID string `gorm:"size:80;not null;default:''"`
	}
	if !tx.Table("cdmi_objects").Migrator().HasColumn(&cdmiObject{}, "DomainID") {
		if err := tx.Table("cdmi_objects").Migrator().AddColumn(&cdmiObject{}, "DomainID"); err != nil {
			return err
		}
	}
	// A domain's delete finds the objects that belong to it.
	return tx.Exec("CREATE INDEX IF NOT EXISTS idx_cdmi_objects_domain_id ON cdmi_objects (domain_id)").Error
}

type cdmiACLRow struct {
	ObjectID string
	Metadata string
}

func cdmiACLEntry(who, flags, mask string) map[string]any {
	return map[string]any{"acetype": "ALLOW", "identifier": who, "aceflags": flags, "acemask": mask}
}

func cdmiReplaceRootACL(tx *gorm.DB) error {
	oldACL := []any{
		cdmiACLEntry("OWNER@", "OBJECT_INHERIT, CONTAINER_INHERIT", "ALL_PERMS"),
		cdmiACLEntry("AUTHENTICATED@", "OBJECT_INHERIT, CONTAINER_INHERIT", "READ_ALL"),
	}
	newACL := []any{
		cdmiACLEntry("OWNER@", "OBJECT_INHERIT, CONTAINER_INHERIT", "ALL_PERMS"),
		cdmiACLEntry("AUTHENTICATED@", "NO_PROPAGATE", "READ_ALL, ADD_OBJECT, ADD_SUBCONTAINER"),
	}
	var roots []cdmiACLRow
	err := tx.Raw("SELECT object_id, metadata FROM cdmi_objects WHERE parent_id = ? AND name = ? AND type = ? AND system = ?",
		"", "", "container", true).Scan(&roots).Error
	if err != nil {
		return err
	}
	for _, r := range roots {
		md, acl, ok := cdmiMetadataACL(r.Metadata)
		if !ok || !reflect.DeepEqual(acl, oldACL) {
			continue
		}
		md["cdmi_acl"] = newACL
		if err := cdmiSaveMetadata(tx, r.ObjectID, md); err != nil {
			return err
		}
	}
	return nil
}

// cdmiDropInheritedReadAll removes, below the root, the ACE the old default
// root ACL propagated: inheritedACL rendered it in hex, "0x00",
// "AUTHENTICATED@", flags with INHERITED (0x80) set, mask "0x00000009".
func cdmiDropInheritedReadAll(tx *gorm.DB) error {
	after := ""
	for {
		var rows []cdmiACLRow
		err := tx.Raw(`SELECT object_id, metadata FROM cdmi_objects WHERE object_id > ? AND parent_id <> '' AND metadata LIKE ?
			ORDER BY object_id LIMIT 500`, after, "%AUTHENTICATED@%").Scan(&rows).Error
		if err != nil || len(rows) == 0 {
			return err
		}
		for _, r := range rows {
			if err := cdmiDropInheritedReadAllFrom(tx, r); err != nil {
				return err
			}
		}
		after = rows[len(rows)-1].ObjectID
	}
}

func cdmiDropInheritedReadAllFrom(tx *gorm.DB, r cdmiACLRow) error {
	md, acl, ok := cdmiMetadataACL(r.Metadata)
	if !ok {
		return nil
	}
	kept := make([]any, 0, len(acl))
	for _, e := range acl {
		if !cdmiInheritedReadAll(e) {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(acl) {
		return nil
	}
	md["cdmi_acl"] = kept
	return cdmiSaveMetadata(tx, r.ObjectID, md)
}

func cdmiInheritedReadAll(e any) bool {
	m, ok := e.(map[string]any)
	if !ok || m["identifier"] != "AUTHENTICATED@" || m["acetype"] != "0x00" || m["acemask"] != "0x00000009" {
		return false
	}
	s, _ := m["aceflags"].(string)
	flags, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
	return err == nil && flags&0x80 != 0
}

// cdmiMetadataACL decodes a row's metadata and its cdmi_acl list.
func cdmiMetadataACL(raw string) (map[string]any, []any, bool) {
	var md map[string]any
	if json.Unmarshal([]byte(raw), &md) != nil {
		return nil, nil, false
	}
	acl, ok := md["cdmi_acl"].([]any)
	return md, acl, ok
}

func cdmiSaveMetadata(tx *gorm.DB, id string, md map[string]any) error {
	b, err := json.Marshal(md)
	if err != nil {
		return err
	}
	return tx.Exec("UPDATE cdmi_objects SET metadata = ? WHERE object_id = ?", string(b), id).Error
}
