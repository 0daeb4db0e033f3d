package migrations

import (
	"time"

	"gorm.io/gorm"
)

// OCCI keeps its entities (resources and links), their attribute values,
// mixin memberships and the user-defined mixins in four tables. Attribute
// values are rows of their own so that collection filters and pagination
// run in SQL on an index instead of in memory.
func init() {
	type occiEntity struct {
		Location   string `gorm:"primaryKey;size:760"`
		ID         string `gorm:"column:id;size:255;not null;uniqueIndex:idx_occi_entities_id"`
		Kind       string `gorm:"size:255;not null;index:idx_occi_entities_kind"`
		Source     string `gorm:"size:760;index:idx_occi_entities_source"`
		Target     string `gorm:"size:760;index:idx_occi_entities_target"`
		SourceKind string `gorm:"size:255"`
		TargetKind string `gorm:"size:255"`
		CreatedAt  time.Time
	}
	type occiAttribute struct {
		Location string `gorm:"primaryKey;size:760"`
		Name     string `gorm:"primaryKey;size:255;index:idx_occi_attributes_match,priority:1"`
		// ValueKey is the JSON value itself when short, a digest otherwise:
		// an index on the whole value would overflow PostgreSQL's row limit.
		ValueKey string `gorm:"size:255;not null;index:idx_occi_attributes_match,priority:2"`
		Value    string `gorm:"type:text;not null"` // JSON
	}
	type occiMixinMember struct {
		Location string `gorm:"primaryKey;size:760"`
		Mixin    string `gorm:"primaryKey;size:512;index:idx_occi_mixin_members_mixin"`
	}
	type occiUserMixin struct {
		ID         string `gorm:"column:id;primaryKey;size:512"`
		Scheme     string `gorm:"size:255;not null"`
		Term       string `gorm:"size:255;not null"`
		Title      string `gorm:"size:1024"`
		Location   string `gorm:"size:760;not null;uniqueIndex:idx_occi_user_mixins_location"`
		Depends    string `gorm:"type:text"`        // JSON list of type identifiers
		Applies    string `gorm:"type:text"`        // JSON list of type identifiers
		Attributes string `gorm:"type:text"`        // JSON list of attribute definitions
		Image      string `gorm:"type:text"`        // os_tpl made by "save": the image's source
		Origin     string `gorm:"size:16;not null"` // "user" (query interface) or "save"
		CreatedAt  time.Time
	}
	Register(Migration{ID: "0002_occi", Up: func(tx *gorm.DB) error {
		if err := tx.Table("occi_entities").AutoMigrate(&occiEntity{}); err != nil {
			return err
		}
		if err := tx.Table("occi_attributes").AutoMigrate(&occiAttribute{}); err != nil {
			return err
		}
		if err := tx.Table("occi_mixin_members").AutoMigrate(&occiMixinMember{}); err != nil {
			return err
		}
		return tx.Table("occi_user_mixins").AutoMigrate(&occiUserMixin{})
	}})
}
