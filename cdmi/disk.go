package cdmi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// The disk of an exported container. A container with an OCCI export
// (§13.6) has a block volume behind it; the volume's bytes are one data
// object inside the container, named DiskName, so that a CDMI client can
// fill a disk before a VM boots from it and back it up after:
//
//   - its value IS the volume: a GET reads the volume (a Range header on a
//     non-CDMI GET answers 206, §6.3; ?value:<first>-<last> on a CDMI GET
//     reads that range, §8.3), cdmi_size is the volume's size, and it is
//     listed among the container's children;
//   - a range write (a non-CDMI PUT with Content-Range, §6.4; a CDMI update
//     with ?value:<first>-<last>, §8.4) writes the volume in place at that
//     offset; a whole-value PUT must hold exactly the volume's size and
//     writes it from offset 0. A write reaching past the end is refused
//     (400) and writes nothing. Disk semantics, not object semantics: a
//     write is not staged and becomes visible as it goes (as on a disk; a
//     body that ends early leaves the bytes that came written), and a
//     compute attached to the volume sees it at once;
//   - its size is the volume's: it changes with the container's
//     cdmi_assignedsize (or occi.storage.size on the OCCI side), never by a
//     write;
//   - a copy onto it ({"copy": "<another disk>"}) copies that disk's
//     bytes in place when the sizes match: how a snapshot (snapshot.go) is
//     restored; any other copy source is refused (409);
//   - it cannot be deleted (409: delete the container, or remove its OCCI
//     export), moved, copied into another object, made a reference or
//     uploaded in parts (X-CDMI-Partial), and it keeps no metadata of its
//     own: an update setting metadata is refused (409); the storage system
//     metadata a read returns (cdmi_size, times, ...) is ignored in an
//     update, as everywhere, and so are mimetype and valuetransferencoding
//     (the disk is application/octet-stream, read back base64);
//   - the container's OCCI export makes it and removing the export (or
//     deleting the container) removes it; exporting a container that holds
//     another object of that name is refused (409). A copy of the container
//     (§9.2.5) is not exported and leaves the disk out. Containers exported
//     before disks existed get theirs when the server starts.
//
// Bytes move between the HTTP body and the volume in chunks of at most
// diskChunk; nothing is buffered whole.

// DiskName is the name of the data object that is the volume of a
// container exported to OCCI.
const DiskName = "disk"

// diskMimetype is the disk's mimetype; its value reads back base64.
const diskMimetype = "application/octet-stream"

// diskChunk bounds every read and write between HTTP and a disk: 1 MiB.
const diskChunk = 1 << 20

// Disks finds the volume behind a container exported to OCCI; the linkage
// layer implements it. ok is false when the container has no volume.
// Errors keep their kinds (an unreachable volume backend is Unavailable).
type Disks interface {
	Disk(ctx context.Context, containerID string) (d Disk, ok bool, err error)
}

// Disk is a block volume, read and written in place. ReadAt follows
// io.ReaderAt (a read reaching past the end returns the bytes there and
// io.EOF); WriteAt writes all of p or fails, and refuses a write reaching
// past the end.
type Disk interface {
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	WriteAt(ctx context.Context, p []byte, off int64) (int, error)
	Size(ctx context.Context) (int64, error)
}

// isDiskRow tells whether o has the shape of a disk's row: a data object
// named DiskName with no stored value and no reference. It is a disk only
// inside a container with an OCCI export (diskParent).
func isDiskRow(o *object) bool {
	return o != nil && o.Type == typeDataObject && o.Name == DiskName && o.ParentID != "" &&
		o.ValueKey == "" && o.Reference == ""
}

// hasOCCIExport tells whether the container row o is exported to OCCI.
func hasOCCIExport(o *object) bool {
	return o != nil && o.Type == typeContainer && len(occiExports(o.exports(), o.ObjectID)) > 0
}

// diskParent is the exported container whose disk o is, nil when o is no
// disk. parent is o's parent when the caller has its row (nil otherwise).
func (s *Service) diskParent(ctx context.Context, db *gorm.DB, o, parent *object) (*object, error) {
	if s.cfg.Disks == nil || !isDiskRow(o) {
		return nil, nil
	}
	if parent == nil || parent.ObjectID != o.ParentID || parent.ObjectID == s.rootID {
		// Reads walk through a stand-in for the root: read its row.
		p, err := s.byID(ctx, db, o.ParentID)
		if errors.Is(err, errNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		parent = p
	}
	if !hasOCCIExport(parent) {
		if ok, err := s.isSnapshot(ctx, db, parent); err != nil || !ok {
			return nil, err
		}
	}
	return parent, nil
}

// openedDisk is the disk of an exported container, ready for I/O.
type openedDisk struct {
	Disk
	size      int64
	container string // objectID of the exported container
}

// openDisk opens the disk o is (nil when o is no disk) and makes o show
// it: its size is the volume's, its mimetype application/octet-stream,
// its value read back base64.
func (s *Service) openDisk(ctx context.Context, parent, o *object) (*openedDisk, error) {
	p, err := s.diskParent(ctx, s.db, o, parent)
	if err != nil || p == nil {
		return nil, err
	}
	d, ok, err := s.cfg.Disks.Disk(ctx, p.ObjectID)
	if err != nil {
		return nil, fmt.Errorf("the disk of the container %s: %w", p.ObjectID, err)
	}
	if !ok {
		return nil, kind.Errorf(kind.Conflict, "the container %s is exported to OCCI but has no volume behind it", p.ObjectID)
	}
	size, err := d.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("the size of the disk of the container %s: %w", p.ObjectID, err)
	}
	if o.Size != size {
		// The volume was resized (or its size was not known when the row
		// was made): the row follows, so the container's cdmi_size does.
		err := s.db.WithContext(ctx).Model(&object{}).Where("object_id = ?", o.ObjectID).Update("size", size).Error
		if err != nil {
			s.log.Warn("cdmi: record the size of a disk", "object", o.ObjectID, "err", err)
		}
	}
	o.Size, o.Mimetype, o.Encoding, o.Hash, o.Completion = size, diskMimetype, "base64", "", "Complete"
	return &openedDisk{Disk: d, size: size, container: p.ObjectID}, nil
}

// writeDisk is a write of a data object that is a disk (see above): bytes
// go to the volume in place; nothing else changes but the times.
func (s *Service) writeDisk(ctx context.Context, who Principal, o *object, dk *openedDisk, d dataWrite) (*object, error) {
	what := fmt.Sprintf("%s is the disk of the container %s (its OCCI volume)", DiskName, dk.container)
	switch {
	case d.moveURI != "" || d.reference != "":
		return nil, kind.Errorf(kind.Conflict, "%s: its value is the volume's bytes; write them (a whole value of %d bytes, or a range), or copy another disk of that size (a snapshot's); it cannot take move or reference", what, dk.size)
	case d.partial:
		return nil, kind.Errorf(kind.Conflict, "%s: a write goes to the volume at once; X-CDMI-Partial does not apply (write ranges instead)", what)
	}
	if meta := withoutIgnored(d.meta); len(meta) > 0 {
		return nil, kind.Errorf(kind.Conflict, "%s: it keeps no metadata of its own, so metadata cannot be set on it (set it on the container; cdmi_assignedsize there resizes the disk)", what)
	}
	if d.copyURI != "" {
		return s.restoreDisk(ctx, who, o, dk, d.copyURI, what)
	}
	if d.value == nil {
		// Nothing the disk has changes (storage system metadata, mimetype
		// and encoding are ignored): a no-op, after the access check.
		if err := s.allowed(who, o, writeMask(false, nil)); err != nil {
			return nil, err
		}
		return o, nil
	}
	if err := s.require(typeDataObject, "cdmi_modify_value"); err != nil {
		return nil, err
	}
	if err := s.allowed(who, o, writeMask(true, nil)); err != nil {
		return nil, err
	}
	off, n := int64(0), dk.size
	if d.rng != nil {
		off, n = d.rng.First, d.rng.Len()
		if d.rng.Last >= dk.size {
			return nil, kind.Errorf(kind.Invalid, "%s: bytes %s reach past its end (it is %d bytes, the last is %d); nothing was written (its size changes with the container's cdmi_assignedsize)",
				what, d.rng, dk.size, dk.size-1)
		}
	} else {
		switch {
		case d.valueSize < 0:
			return nil, kind.Errorf(kind.Invalid, "%s: a whole-value write must say its length (Content-Length: %d) or write a range (Content-Range); nothing was written", what, dk.size)
		case d.valueSize != dk.size:
			return nil, kind.Errorf(kind.Invalid, "%s: it is %d bytes, so a whole-value write must hold exactly %d bytes (this one holds %d); write part of it with a range (Content-Range, or ?value:<first>-<last>); nothing was written",
				what, dk.size, dk.size, d.valueSize)
		}
	}
	if err := copyToDisk(ctx, dk, d.value, off, n); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return s.touchDisk(ctx, o), nil
}

// restoreDisk copies another disk of the same size onto the disk o: how a
// snapshot is restored (clause 14: "restored ... using a CDMI copy
// operation", {"copy": ".../cdmi_snapshots/<name>/disk"}), or a disk is
// cloned. Disk semantics: the bytes land as they are copied.
func (s *Service) restoreDisk(ctx context.Context, who Principal, o *object, dk *openedDisk, uri, what string) (*object, error) {
	src, err := s.sourceDataObject(ctx, who, uri, "copy", "cdmi_copy_dataobject", maskRead)
	if err != nil {
		return nil, err
	}
	from, err := s.openDisk(ctx, nil, src)
	if err != nil {
		return nil, err
	}
	switch {
	case from == nil:
		return nil, kind.Errorf(kind.Conflict, "%s: it takes a copy of another disk only (a snapshot's, or another exported container's); %s is a stored value: write its bytes instead", what, uri)
	case from.size != dk.size:
		return nil, kind.Errorf(kind.Conflict, "%s: it is %d bytes and %s is %d: give the container the same cdmi_assignedsize first; nothing was written", what, dk.size, uri, from.size)
	}
	if err := s.require(typeDataObject, "cdmi_modify_value"); err != nil {
		return nil, err
	}
	if err := s.allowed(who, o, writeMask(true, nil)); err != nil {
		return nil, err
	}
	if src.ObjectID != o.ObjectID {
		if err := copyToDisk(ctx, dk, &diskReader{ctx: ctx, d: from, end: from.size}, 0, dk.size); err != nil {
			return nil, fmt.Errorf("%s: copy %s: %w", what, uri, err)
		}
	}
	return s.touchDisk(ctx, o), nil
}

// touchDisk records a write of the disk o (its times and count).
func (s *Service) touchDisk(ctx context.Context, o *object) *object {
	now := time.Now().UTC()
	err := s.db.WithContext(ctx).Model(&object{}).Where("object_id = ?", o.ObjectID).
		Updates(map[string]any{"m_time": now, "a_time": now, "m_count": gorm.Expr("m_count + 1"), "a_count": gorm.Expr("a_count + 1")}).Error
	if err != nil {
		s.log.Warn("cdmi: record the write of a disk", "object", o.ObjectID, "err", err)
	}
	out := *o
	out.MTime, out.ATime, out.MCount, out.ACount = now, now, o.MCount+1, o.ACount+1 // a write is an access (§16.3)
	return &out
}

// copyToDisk writes n bytes of r to d at off, a chunk at a time.
func copyToDisk(ctx context.Context, d Disk, r io.Reader, off, n int64) error {
	buf := make([]byte, min(n, diskChunk))
	var done int64
	for done < n {
		k, err := io.ReadFull(r, buf[:min(n-done, diskChunk)])
		if k > 0 {
			if _, werr := d.WriteAt(ctx, buf[:k], off+done); werr != nil {
				return fmt.Errorf("write %d bytes at offset %d: %w", k, off+done, werr)
			}
			done += int64(k)
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return kind.Errorf(kind.Invalid, "the value ended after %d of %d bytes; the %d bytes received are written (a disk write is not staged)", done, n, done)
		case kind.Of(err) != kind.Internal:
			return fmt.Errorf("after %d of %d bytes were written: %w", done, n, err)
		default:
			return err // the client went away, or its body failed
		}
	}
	var one [1]byte
	if k, _ := io.ReadFull(r, one[:]); k > 0 {
		return kind.Errorf(kind.Invalid, "the value holds more than the %d bytes given; those %d bytes are written, the rest is not", n, n)
	}
	return nil
}

// diskReader reads bytes [off, end) of a disk, a chunk at a time.
type diskReader struct {
	ctx      context.Context
	d        Disk
	off, end int64
}

func (r *diskReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.end-r.off, diskChunk)
	n, err := r.d.ReadAt(r.ctx, p[:want], r.off)
	r.off += int64(n)
	if errors.Is(err, io.EOF) {
		if n > 0 {
			return n, nil
		}
		return 0, io.ErrUnexpectedEOF // the volume shrank under the read
	}
	return n, err
}

// WriteTo makes io.Copy move whole chunks (not its 32 KiB buffer's).
func (r *diskReader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, min(max(r.end-r.off, 1), diskChunk))
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// diskSeeker is an io.ReadSeeker over a disk for http.ServeContent, which
// reads in small pieces: it reads ahead, doubling from the first read's
// size up to diskChunk, so a short range costs little and a long one goes
// in whole chunks.
type diskSeeker struct {
	ctx    context.Context
	d      Disk
	size   int64
	off    int64
	buf    []byte // the bytes at bufOff
	bufOff int64
	next   int // size of the next read-ahead
	err    error
}

// failure is the volume's error that cut a read short, if any.
func (r *diskSeeker) failure() error { return r.err }

func (r *diskSeeker) Seek(offset int64, whence int) (int64, error) {
	abs, err := seekOffset(r.off, r.size, offset, whence)
	if err != nil {
		return 0, err
	}
	if abs != r.off {
		r.next = 0
	}
	r.off = abs
	return abs, nil
}

func (r *diskSeeker) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.off < r.bufOff || r.off >= r.bufOff+int64(len(r.buf)) {
		chunk := min(max(r.next, len(p)), diskChunk)
		chunk = int(min(int64(chunk), r.size-r.off))
		if cap(r.buf) < chunk {
			r.buf = make([]byte, chunk)
		}
		n, err := r.d.ReadAt(r.ctx, r.buf[:chunk], r.off)
		if errors.Is(err, io.EOF) && n > 0 {
			err = nil
		} else if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			r.err = err
			return 0, err
		}
		r.buf, r.bufOff, r.next = r.buf[:n], r.off, 2*chunk
	}
	n := copy(p, r.buf[r.off-r.bufOff:])
	r.off += int64(n)
	return n, nil
}

// syncDiskRow makes the disk row of the container row c, in tx, when c has
// an OCCI export, and removes it when c has none (the export went away);
// a disk row that is there gets the container's cdmi_assignedsize as its
// size. Another object named DiskName in an exported container is a
// conflict.
func (s *Service) syncDiskRow(ctx context.Context, tx *gorm.DB, c *object, path string) error {
	if s.cfg.Disks == nil || c.Type != typeContainer {
		return nil
	}
	cur, err := s.child(ctx, tx, c.ObjectID, DiskName)
	if errors.Is(err, errNotFound) {
		cur = nil
	} else if err != nil {
		return err
	}
	if !hasOCCIExport(c) {
		if ok, err := s.isSnapshot(ctx, tx, c); err != nil || ok {
			return err // a snapshot keeps its disk
		}
		if cur != nil && isDiskRow(cur) {
			return tx.Delete(&object{}, "object_id = ?", cur.ObjectID).Error
		}
		return nil
	}
	size := containerOf(c, path).AssignedSize
	if cur != nil {
		if !isDiskRow(cur) {
			return kind.Errorf(kind.Conflict, "exports: %s holds a %s named %q, the name of the data object that is the disk of a container exported to OCCI: rename or delete it first; the container was not changed",
				path, cur.Type, DiskName)
		}
		if size > 0 && cur.Size != size {
			return tx.Model(&object{}).Where("object_id = ?", cur.ObjectID).Update("size", size).Error
		}
		return nil
	}
	id, err := newObjectID(s.cfg.EnterpriseNumber)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	o := object{ObjectID: id, ParentID: c.ObjectID, Name: DiskName, Type: typeDataObject,
		Mimetype: diskMimetype, Encoding: "base64", Size: max(size, 0), Owner: c.Owner,
		Completion: "Complete", CTime: now, ATime: now, MTime: now}
	o.setMetadata(map[string]any{"cdmi_acl": s.inheritedACL(ctx, tx, c, false)})
	return tx.Create(&o).Error
}

// refuseDiskSource refuses to move a disk away (or copy it into another
// object): its value is a volume, not a stored value.
func (s *Service) refuseDiskSource(ctx context.Context, o *object, field string) error {
	p, err := s.diskParent(ctx, s.db, o, nil)
	if err != nil || p == nil {
		return err
	}
	return kind.Errorf(kind.Conflict, "%s: %s is the disk of the container %s (its OCCI volume): read its value instead (GET, ranges welcome)", field, DiskName, p.ObjectID)
}

// ensureDisks gives the containers exported to OCCI before disks existed
// their disk row. A container holding another object named DiskName keeps
// it (and has no disk): that is logged.
func (s *Service) ensureDisks(ctx context.Context) error {
	if s.cfg.Disks == nil {
		return nil
	}
	var rows []object
	err := s.db.WithContext(ctx).Where("type = ? AND exports LIKE ?", typeContainer, `%"OCCI/%`).Find(&rows).Error
	if err != nil {
		return fmt.Errorf("list the containers exported to OCCI: %w", err)
	}
	for i := range rows {
		c := &rows[i]
		if !hasOCCIExport(c) {
			continue
		}
		err := s.inTx(ctx, func(tx *gorm.DB) error { return s.syncDiskRow(ctx, tx, c, c.ObjectID) })
		if kind.Of(err) == kind.Conflict {
			if cur, cerr := s.child(ctx, s.db, c.ObjectID, DiskName); cerr == nil && isDiskRow(cur) {
				continue // another server starting made it first
			}
			s.log.Warn("cdmi: an exported container holds an object named like its disk; it has no disk object", "container", c.ObjectID, "name", DiskName)
		} else if err != nil {
			return err
		}
	}
	return nil
}
