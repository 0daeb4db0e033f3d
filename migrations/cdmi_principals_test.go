package migrations_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/migrations"
)

// 0007_cdmi_principals on a database from before it: a root container
// with §16.1.6's inherited AUTHENTICATED@ READ gets the root-only entry;
// a root ACL an operator changed stays as it was. On SQLite, and on
// PostgreSQL with OCCICDMI_TEST_DB=postgres.
func TestCDMIPrincipalsMigration(t *testing.T) {
	old := `{"cdmi_acl":[{"acetype":"ALLOW","identifier":"OWNER@","aceflags":"OBJECT_INHERIT, CONTAINER_INHERIT","acemask":"ALL_PERMS"},` +
		`{"acetype":"ALLOW","identifier":"AUTHENTICATED@","aceflags":"OBJECT_INHERIT, CONTAINER_INHERIT","acemask":"READ_ALL"}],"colour":"red"}`
	custom := `{"cdmi_acl":[{"acetype":"ALLOW","identifier":"EVERYONE@","aceflags":"OBJECT_INHERIT","acemask":"READ_ALL"}]}`
	for name, md := range map[string]string{"default": old, "custom": custom} {
		t.Run(name, func(t *testing.T) {
			db := testsupport.DB(t)
			require.NoError(t, db.Exec(`INSERT INTO cdmi_objects (object_id, parent_id, name, type, system, metadata, owner)
				VALUES ('root', '', '', 'container', ?, ?, 'administrator')`, true, md).Error)
			// o inherited the old default; p was granted by a client.
			inherited := `{"cdmi_acl":[{"acetype":"0x00","identifier":"OWNER@","aceflags":"0x80","acemask":"0x001F07FF"},` +
				`{"acetype":"0x00","identifier":"AUTHENTICATED@","aceflags":"0x80","acemask":"0x00000009"}],"k":"v"}`
			granted := `{"cdmi_acl":[{"acetype":"ALLOW","identifier":"AUTHENTICATED@","aceflags":"NO_FLAGS","acemask":"READ_ALL"}]}`
			require.NoError(t, db.Exec(`INSERT INTO cdmi_objects (object_id, parent_id, name, type, metadata) VALUES ('o', 'root', 'o', 'dataobject', ?), ('p', 'root', 'p', 'dataobject', ?)`,
				inherited, granted).Error)
			require.NoError(t, db.Exec("DELETE FROM schema_migrations WHERE id = ?", "0007_cdmi_principals").Error)
			applied, err := migrations.Run(context.Background(), db)
			require.NoError(t, err)
			assert.Equal(t, []string{"0007_cdmi_principals"}, applied)

			var got string
			require.NoError(t, db.Raw("SELECT metadata FROM cdmi_objects WHERE object_id = 'root'").Scan(&got).Error)
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(got), &m))
			if name == "custom" {
				assert.JSONEq(t, custom, got)
				return
			}
			assert.Equal(t, "red", m["colour"], "the rest of the metadata is kept")
			acl := m["cdmi_acl"].([]any)
			require.Len(t, acl, 2)
			assert.Equal(t, "NO_PROPAGATE", acl[1].(map[string]any)["aceflags"])
			require.NoError(t, db.Raw("SELECT metadata FROM cdmi_objects WHERE object_id = 'o'").Scan(&got).Error)
			assert.JSONEq(t, `{"cdmi_acl":[{"acetype":"0x00","identifier":"OWNER@","aceflags":"0x80","acemask":"0x001F07FF"}],"k":"v"}`, got,
				"the inherited AUTHENTICATED@ READ_ALL goes")
			require.NoError(t, db.Raw("SELECT metadata FROM cdmi_objects WHERE object_id = 'p'").Scan(&got).Error)
			assert.JSONEq(t, granted, got, "a client's grant stays")
			var domain string
			require.NoError(t, db.Raw("SELECT domain_id FROM cdmi_objects WHERE object_id = 'o'").Scan(&domain).Error)
			assert.Equal(t, "", domain, "objects from before are in the default domain")
		})
	}
}
