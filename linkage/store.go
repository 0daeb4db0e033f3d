package linkage

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// export is one container exported to OCCI: the row of linkage_exports.
type export struct {
	ContainerID string `gorm:"primaryKey"`
	StorageID   string
	Path        string
	Protocol    string
	Volume      string
	Permissions string // JSON list, "null" when the export gives none
	Origin      string
	// Offline is set by OCCI's offline action and cleared by online: an
	// offline volume is attached to no compute (see SetOnline).
	Offline   bool
	CreatedAt time.Time
}

func (export) TableName() string { return "linkage_exports" }

const (
	originOfCDMI = "cdmi"
	originOfOCCI = "occi"
)

// permissions are the compute URIs the export allows; nil when it names
// none (then ownership decides).
func (e *export) permissions() []string {
	var out []string
	_ = json.Unmarshal([]byte(e.Permissions), &out)
	return out
}

func encodePermissions(p []string) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// db is the transaction when given, else the linkage's database.
func (l *Linkage) db(ctx context.Context, tx *gorm.DB) *gorm.DB {
	if tx != nil {
		return tx.WithContext(ctx)
	}
	return l.cfg.DB.WithContext(ctx)
}

// byContainer finds the export of a container (NotFound when none).
func (l *Linkage) byContainer(ctx context.Context, tx *gorm.DB, containerID string) (*export, error) {
	var e export
	err := l.db(ctx, tx).Where("container_id = ?", containerID).Take(&e).Error
	return l.found(&e, err, "no container %s is exported to OCCI", containerID)
}

// byStorage finds the export behind an OCCI storage (NotFound when none).
func (l *Linkage) byStorage(ctx context.Context, tx *gorm.DB, storageID string) (*export, error) {
	var e export
	err := l.db(ctx, tx).Where("storage_id = ?", storageID).Take(&e).Error
	return l.found(&e, err, "the OCCI storage %s is no CDMI container's", storageID)
}

func (l *Linkage) found(e *export, err error, format string, arg string) (*export, error) {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, kind.Errorf(kind.NotFound, format, arg)
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	return e, nil
}
