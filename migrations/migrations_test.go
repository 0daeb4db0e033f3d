package migrations

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// grandfathered are version numbers two migrations share from before the
// rule: renaming either would re-run it on every database that has it.
var grandfathered = map[string]bool{"0001": true, "0003": true}

var idRe = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+$`)

// TestVersionsUnique: from 0004 on, each version number belongs to one
// migration, and every migration lives in a file named by its ID, so two
// branches that both add "the next" migration collide here, not on a
// database.
func TestVersionsUnique(t *testing.T) {
	byVersion := map[string][]string{}
	for _, m := range List() {
		match := idRe.FindStringSubmatch(m.ID)
		require.NotNil(t, match, "migration ID %q is not NNNN_name", m.ID)
		byVersion[match[1]] = append(byVersion[match[1]], m.ID)
		_, err := os.Stat(m.ID + ".go")
		assert.NoError(t, err, "migration %s lives in %s.go", m.ID, m.ID)
	}
	for version, ids := range byVersion {
		if len(ids) > 1 && !grandfathered[version] {
			t.Errorf("version %s is claimed by %s", version, strings.Join(ids, " and "))
		}
	}
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	files := 0
	for _, e := range entries {
		if idRe.MatchString(strings.TrimSuffix(e.Name(), ".go")) {
			files++
		}
	}
	assert.Equal(t, len(List()), files, "every NNNN_*.go file registers one migration")
}
