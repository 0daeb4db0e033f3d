package cdmi

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// The service's exported API: what the HTTP handlers do, for Go callers
// (the linkage layer, tests). See Service for how paths are written.

// ContainerChange is what a create or update of a container sets; zero
// fields leave things as they are.
type ContainerChange struct {
	// Metadata replaces the user metadata (data system metadata not given
	// is kept); with MetadataNames, only those items change.
	Metadata      map[string]any
	MetadataNames []string
	// Exports are set by export type ("Network/NFSv4", "OCCI/iSCSI");
	// a nil value removes one, exports not named are kept (§9.5).
	Exports map[string]any
	// CopyFrom or MoveFrom name a container to copy (§9.2.5) or move here.
	CopyFrom, MoveFrom string
}

// DataObjectChange is what a create or update of a data object sets; zero
// fields leave things as they are.
type DataObjectChange struct {
	Mimetype *string
	// Metadata replaces the user metadata (data system metadata not given
	// is kept); with MetadataNames, only those items change.
	Metadata      map[string]any
	MetadataNames []string
	// Value is the new value, Size its length (-1 when unknown). With
	// Range, Value holds Range.Len() bytes written at Range.First, the
	// rest of the value kept.
	Value io.Reader
	Size  int64
	Range *Range
	// Encoding is the valuetransferencoding the value is read back in
	// ("utf-8", "base64", "json"); "" makes it utf-8 when the bytes are
	// valid UTF-8, else base64.
	Encoding string
	// CopyFrom, MoveFrom or Reference name another data object: to copy
	// its value and metadata, to move it here, or to refer to it.
	CopyFrom, MoveFrom, Reference string
	// Partial leaves the object "Processing" until a later write without
	// it completes it (X-CDMI-Partial, §8.2.3).
	Partial bool
}

// target resolves a path for the API: the CDMI root may lead or not.
func (s *Service) target(ctx context.Context, path string, read bool) (*target, error) {
	if !strings.HasPrefix(path, s.root+"/") {
		path = s.root + "/" + strings.TrimPrefix(path, "/")
	}
	return s.locate(ctx, path, read)
}

// existing resolves a path that must name an object of type typ.
func (s *Service) existing(ctx context.Context, path, typ string) (*target, error) {
	t, err := s.target(ctx, path, false)
	if err != nil {
		return nil, err
	}
	if t.obj == nil {
		return nil, kind.Errorf(kind.NotFound, "%s does not exist", path)
	}
	if t.obj.Type != typ {
		return nil, kind.Errorf(kind.Invalid, "%s is a %s, not a %s", path, t.obj.Type, typ)
	}
	return t, nil
}

// Container reads the container at path, if who may read it.
func (s *Service) Container(ctx context.Context, who Principal, path string) (Container, error) {
	ctx = withViewer(ctx, who) // what who may not see is not there for it
	t, err := s.existing(ctx, path, typeContainer)
	if err != nil {
		return Container{}, err
	}
	if err := s.allowed(who, t.obj, maskRead|maskReadMeta); err != nil {
		return Container{}, err
	}
	return s.containerValue(ctx, t.obj)
}

// PutContainer creates the container at path (ending in '/') or updates
// it; created tells which.
func (s *Service) PutContainer(ctx context.Context, who Principal, path string, ch ContainerChange) (c Container, created bool, err error) {
	ctx = withViewer(ctx, who) // what who may not see is not there for it
	t, err := s.target(ctx, path, false)
	if err != nil {
		return Container{}, false, err
	}
	if t.obj != nil && t.obj.Type != typeContainer {
		return Container{}, false, kind.Errorf(kind.Conflict, "%s is a %s", path, t.obj.Type)
	}
	if ch.Metadata != nil {
		ch.Metadata = withoutIgnored(ch.Metadata)
		if err := checkMetadata(ch.Metadata); err != nil {
			return Container{}, false, err
		}
	}
	cw := containerWrite{meta: ch.Metadata, metaNames: ch.MetadataNames, copyURI: ch.CopyFrom, moveURI: ch.MoveFrom}
	if ch.Exports != nil {
		if cw.exports, err = json.Marshal(ch.Exports); err != nil {
			return Container{}, false, kind.Wrap(kind.Invalid, err, "exports")
		}
	}
	o, created, err := s.putContainer(ctx, who, t, cw)
	if err != nil {
		return Container{}, false, err
	}
	c, err = s.containerValue(ctx, o)
	return c, created, err
}

// DataObject reads the data object at path (not its value), if who may
// read it.
func (s *Service) DataObject(ctx context.Context, who Principal, path string) (DataObject, error) {
	ctx = withViewer(ctx, who) // what who may not see is not there for it
	t, err := s.existing(ctx, path, typeDataObject)
	if err != nil {
		return DataObject{}, err
	}
	if err := s.allowed(who, t.obj, maskRead|maskReadMeta); err != nil {
		return DataObject{}, err
	}
	if _, err := s.openDisk(ctx, t.parent, t.obj); err != nil { // a disk shows its volume's size
		return DataObject{}, err
	}
	return s.dataObjectValue(ctx, t.obj)
}

// PutDataObject creates the data object at path or updates it; created
// tells which. The value streams to the backend and becomes visible only
// when the object's row commits.
func (s *Service) PutDataObject(ctx context.Context, who Principal, path string, ch DataObjectChange) (o DataObject, created bool, err error) {
	ctx = withViewer(ctx, who) // what who may not see is not there for it
	t, err := s.target(ctx, path, false)
	if err != nil {
		return DataObject{}, false, err
	}
	if t.obj == nil && t.byID && t.parent == nil {
		return DataObject{}, false, kind.Errorf(kind.NotFound, "%s does not exist", path)
	}
	if t.slash && !t.byID {
		return DataObject{}, false, kind.Errorf(kind.Invalid, "%s ends in '/', which names a container", path)
	}
	if ch.Encoding != "" {
		if err := checkEncoding(ch.Encoding); err != nil {
			return DataObject{}, false, err
		}
	}
	d := dataWrite{mimetype: ch.Mimetype, encoding: ch.Encoding, meta: ch.Metadata, metaNames: ch.MetadataNames,
		value: ch.Value, valueSize: ch.Size, rng: ch.Range, copyURI: ch.CopyFrom, moveURI: ch.MoveFrom,
		reference: ch.Reference, partial: ch.Partial, charset: ch.Encoding == ""}
	if ch.Range != nil && ch.Size >= 0 && ch.Size != ch.Range.Len() {
		return DataObject{}, false, kind.Errorf(kind.Invalid, "range %s is %d bytes but the value holds %d", ch.Range, ch.Range.Len(), ch.Size)
	}
	row, created, err := s.writeDataObject(ctx, who, t.parent, t.name, t.obj, d)
	if err != nil {
		return DataObject{}, false, err
	}
	o, err = s.dataObjectValue(ctx, row)
	return o, created, err
}

// ReadValue opens length bytes (-1: to the end) of the value of the data
// object at path, from offset, if who may read it. The caller closes it.
func (s *Service) ReadValue(ctx context.Context, who Principal, path string, offset, length int64) (io.ReadCloser, error) {
	ctx = withViewer(ctx, who) // what who may not see is not there for it
	t, err := s.existing(ctx, path, typeDataObject)
	if err != nil {
		return nil, err
	}
	o := t.obj
	if err := s.allowed(who, o, maskRead); err != nil {
		return nil, err
	}
	dk, err := s.openDisk(ctx, t.parent, o)
	if err != nil {
		return nil, err
	}
	if o.Completion == "Processing" {
		return nil, kind.Errorf(kind.Conflict, "the value of %s is still being uploaded", path)
	}
	if offset < 0 || offset > o.Size || offset == o.Size && o.Size > 0 {
		return nil, kind.Errorf(kind.Invalid, "offset %d is outside the %d-byte value", offset, o.Size)
	}
	if length < 0 || offset+length > o.Size {
		length = o.Size - offset
	}
	if dk != nil {
		s.touch(ctx, o)
		return io.NopCloser(&diskReader{ctx: ctx, d: dk, off: offset, end: offset + length}), nil
	}
	if o.ValueKey == "" || length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	s.touch(ctx, o)
	return s.openRange(ctx, o.ValueKey, Range{First: offset, Last: offset + length - 1})
}

// Delete deletes the object at path; a container goes with everything
// below it.
func (s *Service) Delete(ctx context.Context, who Principal, path string) error {
	ctx = withViewer(ctx, who) // what who may not see is not there for it
	t, err := s.target(ctx, path, false)
	if err != nil {
		return err
	}
	if t.obj == nil {
		return kind.Errorf(kind.NotFound, "%s does not exist", path)
	}
	return s.deleteObject(ctx, who, t.obj, path)
}

// Authorize evaluates the ACL of the object at path for who wanting want
// (§16.1.6): nil when granted, an error of kind Forbidden when not.
func (s *Service) Authorize(ctx context.Context, who Principal, path string, want Access) error {
	ctx = withViewer(ctx, who) // what who may not see is not there for it
	t, err := s.target(ctx, path, false)
	if err != nil {
		return err
	}
	if t.obj == nil {
		return kind.Errorf(kind.NotFound, "%s does not exist", path)
	}
	return s.allowed(who, t.obj, uint32(want))
}

// containerValue is the Container the API returns for row o.
func (s *Service) containerValue(ctx context.Context, o *object) (Container, error) {
	path, err := s.uriOf(ctx, s.db, o)
	if err != nil {
		return Container{}, err
	}
	return containerOf(o, path), nil
}

// dataObjectValue is the DataObject the API returns for row o.
func (s *Service) dataObjectValue(ctx context.Context, o *object) (DataObject, error) {
	path, err := s.uriOf(ctx, s.db, o)
	if err != nil {
		return DataObject{}, err
	}
	return dataObjectOf(o, path), nil
}
