package migrations

import "gorm.io/gorm"

// The linkage records which CDMI container (by objectID) is which OCCI
// storage, the export's protocol, the volume behind both, and the export's
// permissions (CDMI 1.1.1 §13.6).
func init() {
	type linkageExport struct {
		ContainerID string `gorm:"primaryKey;size:80"`
		StorageID   string `gorm:"size:255;not null;uniqueIndex:idx_linkage_exports_storage"`
		Path        string `gorm:"size:4096;not null"`
		Protocol    string `gorm:"size:32;not null"`
		Volume      string `gorm:"size:255;not null"`
		Permissions string `gorm:"type:text;not null"` // JSON list of compute URIs; "null" for none given
		Origin      string `gorm:"size:8;not null"`    // "cdmi" or "occi": which side created it
	}
	Register(Migration{ID: "0004_linkage", Up: func(tx *gorm.DB) error {
		return tx.Table("linkage_exports").AutoMigrate(&linkageExport{})
	}})
}
