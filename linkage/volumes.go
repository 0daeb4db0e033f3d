package linkage

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/occicdmi/occicdmi/cdmi"
	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/occi"
)

// The occi.Volumes side: OCCI storage and storagelinks.

// Create makes the CDMI container of an OCCI-first storage, under
// StoragePath, exported to OCCI over the default transport; its volume is
// made by the export (PrepareExport). For a storage the CDMI side is
// making, the volume is there already. Either way the storage records the
// container's objectID and path.
func (l *Linkage) Create(ctx context.Context, storage string, size int64) (map[string]any, error) {
	if f, ok := originCDMI(ctx); ok {
		return linkAttrs(f.objectID, f.path), nil
	}
	proto, err := l.defaultProtocol()
	if err != nil {
		return nil, err
	}
	if err := l.ensureStoragePath(ctx); err != nil {
		return nil, err
	}
	path := l.cfg.StoragePath + storage + "/"
	c, _, err := l.cdmi.PutContainer(withFromOCCI(ctx, fromOCCI{storage: storage, size: size}), cdmi.OnBehalfOf(l.principal(ctx)), path,
		cdmi.ContainerChange{
			Exports:  map[string]any{"OCCI/" + proto: map[string]any{}},
			Metadata: map[string]any{"cdmi_assignedsize": sizeString(size)},
		})
	if err != nil {
		return nil, fmt.Errorf("create the CDMI container %s: %w", path, err)
	}
	return linkAttrs(c.ObjectID, c.Path), nil
}

// principal is who ctx's request acts for in CDMI.
func (l *Linkage) principal(ctx context.Context) cdmi.Principal {
	if l.cfg.Principal == nil {
		return cdmi.Administrator()
	}
	return l.cfg.Principal(ctx)
}

// storagePathACL is the ACL of the parent container of OCCI-first
// storage: its owner (the server) may do anything; every user may reach
// the containers in it (its own, by the ACL each has) but not list it,
// which would name every project's storage.
var storagePathACL = []any{
	map[string]any{"acetype": "ALLOW", "identifier": "OWNER@", "aceflags": "OBJECT_INHERIT, CONTAINER_INHERIT", "acemask": "ALL_PERMS"},
	map[string]any{"acetype": "ALLOW", "identifier": "AUTHENTICATED@", "aceflags": "NO_PROPAGATE", "acemask": "TRAVERSE_CONTAINER"},
}

// ensureStoragePath makes the parent container of OCCI-first storage.
// The first storages made at once race to make it: in this process they
// take turns (storagePathMu), and a create that fails because another
// server made it meanwhile is a success when the container is there on a
// second look.
func (l *Linkage) ensureStoragePath(ctx context.Context) error {
	admin := cdmi.Administrator()
	there := func() bool { _, err := l.cdmi.Container(ctx, admin, l.cfg.StoragePath); return err == nil }
	if there() {
		return nil
	}
	l.storagePathMu.Lock()
	defer l.storagePathMu.Unlock()
	if there() {
		return nil
	}
	_, _, err := l.cdmi.PutContainer(ctx, admin, l.cfg.StoragePath, cdmi.ContainerChange{
		Metadata: map[string]any{"cdmi_acl": storagePathACL}})
	if err != nil && !there() {
		return fmt.Errorf("create the CDMI container %s: %w", l.cfg.StoragePath, err)
	}
	return nil
}

// Delete deletes an OCCI storage's container (and so its volume), unless
// the CDMI side is deleting it.
func (l *Linkage) Delete(ctx context.Context, storage string) error {
	if _, ok := originCDMI(ctx); ok {
		return nil
	}
	row, err := l.byStorage(ctx, nil, storage)
	if err != nil {
		return err
	}
	err = l.cdmi.Delete(withFromOCCI(ctx, fromOCCI{storage: storage}), cdmi.Administrator(), row.Path)
	if err != nil && kind.Of(err) != kind.NotFound {
		return fmt.Errorf("delete the CDMI container %s: %w", row.Path, err)
	}
	return nil
}

// Resize gives the volume a new size and the container a new
// cdmi_assignedsize.
func (l *Linkage) Resize(ctx context.Context, storage string, size int64) error {
	if _, ok := originCDMI(ctx); ok {
		return nil // the CDMI side resized the volume already
	}
	row, err := l.byStorage(ctx, nil, storage)
	if err != nil {
		return err
	}
	if err := l.resizeVolume(ctx, row, size); err != nil {
		return err
	}
	_, _, err = l.cdmi.PutContainer(withFromOCCI(ctx, fromOCCI{storage: storage, size: size}), cdmi.Administrator(), row.Path, cdmi.ContainerChange{
		Metadata: map[string]any{"cdmi_assignedsize": sizeString(size)}, MetadataNames: []string{"cdmi_assignedsize"}})
	return err
}

// Snapshot takes the CDMI snapshot (clause 14) of the storage's container:
// OCCI's snapshot and backup actions (GFD.184 §3.3 Table 9) freeze the
// volume as <container>/cdmi_snapshots/<snapshot>/, whose disk is the
// volume's bytes at that time, readable through CDMI.
func (l *Linkage) Snapshot(ctx context.Context, storage, snapshot string) error {
	row, err := l.byStorage(ctx, nil, storage)
	if err != nil {
		return err
	}
	return l.cdmi.Snapshot(ctx, cdmi.Administrator(), row.Path, snapshot)
}

// exportOf is the export a storagelink attaches: the container whose
// objectID is its deviceid ("Linking to CDMI Managed Storage"), else its
// target storage's. A deviceid that is no objectID is a guest device hint.
func (l *Linkage) exportOf(ctx context.Context, link occi.StorageLink) (*export, error) {
	if link.DeviceID != "" && link.DeviceID != link.Storage {
		if row, err := l.byContainer(ctx, nil, strings.ToUpper(link.DeviceID)); err == nil {
			return row, nil
		}
	}
	return l.byStorage(ctx, nil, link.Storage)
}

// Authorize applies the export's permissions (CDMI 1.1.1 §13.6: the OCCI
// compute URIs that may attach it). Without a permissions list, ownership
// decides: of the link's target storage, which the OCCI side has let the
// caller reach, or, for a container named by deviceid, the caller's CDMI
// access to it (§16.1.6: it may read and write it; one it may not see is
// 404). With one, the compute must be in it; the OCCI side has let the
// caller reach that compute (its project's), and the export's storage
// must be of that project too: a compute URI of another project in the
// list grants nothing (see sameProject).
func (l *Linkage) Authorize(ctx context.Context, link occi.StorageLink) error {
	row, err := l.exportOf(ctx, link)
	if err != nil {
		return err
	}
	if err := refuseOffline(row, link); err != nil {
		return err
	}
	perms := row.permissions()
	if len(perms) == 0 {
		if row.StorageID == link.Storage {
			return nil
		}
		return l.cdmi.Authorize(ctx, l.principal(ctx), "/cdmi_objectid/"+row.ContainerID+"/", cdmi.AccessRead|cdmi.AccessWrite)
	}
	if err := l.sameProject(ctx, row, link); err != nil {
		return err
	}
	for _, p := range perms {
		if samePath(p, link.Compute) {
			return nil
		}
	}
	return kind.Errorf(kind.Forbidden, "the CDMI container %s (objectID %s) does not permit %s to attach it: add the compute to its OCCI/%s export's permissions (CDMI 13.1)",
		row.Path, row.ContainerID, link.Compute, row.Protocol)
}

// sameProject refuses, as if the container did not exist (404: nothing
// of it leaks), a caller of another project than the export's storage's
// (OCCI tenancy: the caller reaches only its own project's computes, so
// the compute is of the caller's project). An export's permissions are
// set by whoever may write the container, and its owners cannot see, let
// alone vouch for, another project's computes; a compute URI of another
// project in them grants nothing. Sharing a volume across projects takes
// a CDMI grant to the principal instead (an export without permissions,
// and an ACL letting the other user read and write the container), or an
// administrator, who is not held to projects.
func (l *Linkage) sameProject(ctx context.Context, row *export, link occi.StorageLink) error {
	c, ok := occi.CallerFrom(ctx)
	if !ok || c.Admin {
		return nil // the server itself, or an administrator
	}
	st, err := l.occi.Get(asAdmin(ctx), storageLocation(row.StorageID))
	if err != nil {
		return err
	}
	if st.Project == c.Project {
		return nil
	}
	return kind.Errorf(kind.NotFound, "%s does not exist", "/cdmi_objectid/"+row.ContainerID+"/")
}

// samePath compares a compute URI from an export's permissions with a
// compute location: absolute URIs are compared by their path.
func samePath(uri, location string) bool {
	if u, err := url.Parse(uri); err == nil && u.Path != "" {
		uri = u.Path
	}
	return strings.TrimRight(uri, "/") == strings.TrimRight(location, "/")
}

// Attachment tells the compute backend how QEMU reaches the volume: the
// Ceph image itself over OCCI/RBD, this server's NBD socket over OCCI/NBD.
func (l *Linkage) Attachment(ctx context.Context, link occi.StorageLink) (cb.VolumeSource, error) {
	row, err := l.exportOf(ctx, link)
	if err != nil {
		return cb.VolumeSource{}, err
	}
	switch row.Protocol {
	case "RBD":
		acc, err := l.cfg.Volumes.Access(ctx, row.Volume)
		if err != nil {
			return cb.VolumeSource{}, err
		}
		return cb.VolumeSource{Type: acc.Type, Path: acc.Path, Format: acc.Format, Pool: acc.Pool,
			Image: acc.Image, Monitors: acc.Monitors, User: acc.User, ConfigFile: acc.ConfigFile}, nil
	case "NBD":
		return l.exportNBD(row)
	}
	return cb.VolumeSource{}, kind.Errorf(kind.Unsupported, "OCCI/%s exports cannot be attached here", row.Protocol)
}

// Detached stops serving the volume over NBD when no storagelink is left
// to it.
func (l *Linkage) Detached(ctx context.Context, link occi.StorageLink) error {
	row, err := l.exportOf(ctx, link)
	if err != nil || row.Protocol != "NBD" {
		return nil
	}
	links, err := l.linksTo(ctx, row.StorageID)
	if err != nil {
		return err
	}
	for _, e := range links {
		if e.ID != link.ID {
			return nil
		}
	}
	l.unexportNBD(row.ContainerID)
	return nil
}
