package database

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

func TestClassify(t *testing.T) {
	assert.Nil(t, Classify(nil))
	assert.Equal(t, kind.NotFound, kind.Of(Classify(fmt.Errorf("read: %w", gorm.ErrRecordNotFound))))
	assert.Equal(t, kind.Conflict, kind.Of(Classify(gorm.ErrDuplicatedKey)))
	down := Classify(&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
	assert.Equal(t, kind.Unavailable, kind.Of(down))
	assert.NotContains(t, down.Error(), "57P01", "the driver's detail is not for the client")
	assert.Equal(t, kind.Internal, kind.Of(Classify(&pgconn.PgError{Code: "42601", Message: "syntax error"})))
	kept := kind.New(kind.Invalid, "bad size")
	assert.Same(t, kept, Classify(kept), "an error with a kind keeps it")
	assert.Equal(t, kind.Internal, kind.Of(Classify(errors.New("boom"))))
}

// SQLite is opened with foreign keys on, synchronous FULL (2: an
// acknowledged commit survives power loss), and a file only the server
// reads.
func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.db")
	db, err := Open(path)
	require.NoError(t, err)
	defer Close(db)
	var on, sync int
	require.NoError(t, db.Raw("PRAGMA foreign_keys").Scan(&on).Error)
	assert.Equal(t, 1, on)
	require.NoError(t, db.Raw("PRAGMA synchronous").Scan(&sync).Error)
	assert.Equal(t, 2, sync)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}
