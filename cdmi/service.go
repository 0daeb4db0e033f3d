package cdmi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// Service is CDMI as a Go API, under the HTTP handlers: containers, data
// objects, queues, metadata, exports and ACLs, over the metadata store (gorm)
// and the value backend. Every call takes a context and the Principal it
// acts for; values stream in as an io.Reader and out as an io.ReadCloser.
// Errors carry kinds (package internal/kind): NotFound, Exists, Invalid,
// Conflict, Forbidden, Unavailable, Unsupported.
//
// Paths name objects as URIs do below the CDMI root, percent-encoded segment
// by segment: "/box/" (a container ends in '/'), "/box/hello.txt", or
// "/cdmi_objectid/<ID>". The root itself may lead ("/cdmi/box/").
type Service struct {
	cfg  Config
	db   *gorm.DB
	objs storagebackends.Objects
	log  *slog.Logger
	root string // cfg.Root without a trailing slash

	rootID, capsID, domainsID, defaultDomainID string
	valueSpace                                 string            // prefix of this database's value keys (store.go)
	capIDs                                     map[string]string // by object type

	accesses *accessLog                // cdmi_atime and cdmi_acount not written yet (access.go)
	group    *groupCommit              // data object commits on SQLite (groupcommit.go); nil on PostgreSQL
	granted  map[string]map[string]any // capabilitiesFor each object type, built once for require
}

// NewService prepares the CDMI service: it creates the root container, the
// capability objects and the default domain when missing, and sweeps values
// left behind by a crash.
func NewService(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Objects == nil {
		return nil, errors.New("cdmi: DB and Objects are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.MaxBodyValue <= 0 {
		cfg.MaxBodyValue = DefaultMaxBodyValue
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	if cfg.EnterpriseNumber > 0xFFFFFF {
		return nil, fmt.Errorf("cdmi: enterprise number %d does not fit 3 bytes", cfg.EnterpriseNumber)
	}
	root := strings.TrimRight(cfg.Root, "/")
	if root != "" && !strings.HasPrefix(root, "/") {
		return nil, fmt.Errorf("cdmi: root %q must start with /", cfg.Root)
	}
	s := &Service{cfg: cfg, db: cfg.DB, objs: cfg.Objects, log: cfg.Logger, root: root}
	s.accesses = newAccessLog(cfg.DB, s.log.Warn)
	s.granted = map[string]map[string]any{}
	for _, typ := range []string{typeContainer, typeDataObject, typeQueue, typeDomain} {
		s.granted[typ] = s.capabilitiesFor(typ)
	}
	if cfg.DB.Dialector.Name() == "sqlite" {
		s.group = &groupCommit{db: cfg.DB}
	}
	if err := s.ensureSystem(ctx); err != nil {
		return nil, fmt.Errorf("cdmi: %w", err)
	}
	s.valueSpace = valueSpace(s.rootID)
	if err := s.ensureDisks(ctx); err != nil {
		return nil, fmt.Errorf("cdmi: %w", err)
	}
	s.deleteJournaled(ctx, "") // what deletes before a crash left (delete.go)
	if n, err := s.sweep(ctx); err != nil {
		s.log.Warn("cdmi: sweep of unreferenced values failed", "err", err)
	} else if n > 0 {
		s.log.Info("cdmi: swept unreferenced values", "count", n)
	}
	return s, nil
}

// Container is a container as the service sees it.
type Container struct {
	ObjectID string
	Path     string // escaped path under which it is found, the root included, ending in '/'
	ParentID string // "" for the root and containers reachable by ID only
	Name     string
	// Metadata holds the user metadata and the data system metadata set
	// on the container (cdmi_acl, cdmi_value_hash, cdmi_assignedsize).
	Metadata map[string]any
	// AssignedSize is cdmi_assignedsize (§16.4, Table 35) in bytes: the
	// size exported protocols report; 0 when not given.
	AssignedSize int64
	Exports      map[string]any // by export type ("OCCI/iSCSI", "Network/NFSv4")
	Owner        string
	Created      time.Time
	Modified     time.Time
}

// DataObject is a data object as the service sees it; its value is read
// with Service.ReadValue.
type DataObject struct {
	ObjectID  string
	Path      string // escaped path under which it is found, the root included
	ParentID  string // "" for objects reachable by ID only
	Name      string
	Mimetype  string
	Encoding  string // the valuetransferencoding it is read back in: utf-8, base64 or json
	Size      int64
	Hash      string // "<ALG>:<hex>" when cdmi_value_hash asks for one
	Reference string // the target of a reference object (§8.4); no value then
	Complete  bool   // false while a partial upload is in progress (X-CDMI-Partial)
	Metadata  map[string]any
	Owner     string
	Created   time.Time
	Modified  time.Time
}

func containerOf(o *object, path string) Container {
	md := o.metadata()
	size, _ := strconv.ParseInt(fmt.Sprint(md["cdmi_assignedsize"]), 10, 64)
	return Container{
		ObjectID: o.ObjectID, Path: path, ParentID: o.ParentID, Name: o.Name,
		Metadata: md, AssignedSize: size, Exports: o.exports(), Owner: o.Owner,
		Created: o.CTime, Modified: o.MTime,
	}
}

func dataObjectOf(o *object, path string) DataObject {
	return DataObject{
		ObjectID: o.ObjectID, Path: path, ParentID: o.ParentID, Name: o.Name,
		Mimetype: o.Mimetype, Encoding: o.Encoding, Size: o.Size, Hash: o.Hash,
		Reference: o.Reference, Complete: o.Completion == "" || o.Completion == "Complete",
		Metadata: o.metadata(), Owner: o.Owner, Created: o.CTime, Modified: o.MTime,
	}
}
