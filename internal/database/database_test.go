package database

import (
	"errors"
	"fmt"
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

func TestOpenSQLiteEnablesForeignKeys(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "sub", "x.db"))
	require.NoError(t, err)
	defer Close(db)
	var on int
	require.NoError(t, db.Raw("PRAGMA foreign_keys").Scan(&on).Error)
	assert.Equal(t, 1, on)
}
