package cdmi

import (
	"context"
	"strconv"
)

// Reads the handlers render from, outside any transaction.

// metadataOf is o's metadata as a client reads it (§16): the stored user
// and data system metadata with the storage system metadata (cdmi_size,
// times, counts, owner, hash) added, limited to names starting with one of
// prefixes when any are given. What the context's principal may not read
// is left out (CDMI 2.0 access control, READ_METADATA and READ_ACL): all
// but cdmi_acl without READ_METADATA, cdmi_acl without READ_ACL.
func (s *Service) metadataOf(ctx context.Context, o *object, prefixes []string) (map[string]any, error) {
	md, err := s.renderMetadata(ctx, s.db, o, prefixes)
	if err != nil {
		return nil, err
	}
	who, ok := ctx.Value(viewerKey{}).(Principal)
	if !ok {
		return md, nil
	}
	may := s.access(who, o)
	if may&maskReadMeta == 0 {
		acl, had := md["cdmi_acl"]
		md = map[string]any{}
		if had {
			md["cdmi_acl"] = acl
		}
	}
	if may&maskReadACL == 0 {
		delete(md, "cdmi_acl")
	}
	if _, ok := md["cdmi_size"]; ok && o.ObjectID == s.rootID && !who.System && !who.Admin {
		// The root is everyone's: its size as the caller sees it is what
		// it can see in it, not every user's bytes.
		n, err := s.visibleSize(ctx, who, o)
		if err != nil {
			return nil, err
		}
		md["cdmi_size"] = strconv.FormatInt(n, 10)
	}
	return md, nil
}

// visibleSize sums the sizes of the subtrees of parent's children that
// who can see.
func (s *Service) visibleSize(ctx context.Context, who Principal, parent *object) (int64, error) {
	var total int64
	var err error
	ferr := s.eachVisibleChild(ctx, who, parent, nil, func(o object) bool {
		var n int64
		n, err = s.subtreeSize(ctx, s.db, o.ObjectID)
		total += n
		return err == nil
	})
	if ferr != nil {
		return 0, ferr
	}
	return total, err
}

// pathOf is the escaped path at which o is found (by name, else by ID).
func (s *Service) pathOf(ctx context.Context, o *object) (string, error) {
	return s.uriOf(ctx, s.db, o)
}

// parentOf is o's parent as its rendering needs it (its ID and URI): the
// root without reading its row, a container the request's path walk read
// without reading it again.
func (s *Service) parentOf(ctx context.Context, o *object) (*object, error) {
	if o.ParentID == s.rootID {
		return &object{ObjectID: s.rootID, Type: typeContainer, System: true}, nil
	}
	return s.cachedByID(ctx, s.db, o.ParentID)
}

// countChildren is the number of children a container lists to the
// context's principal: those it can see (Service.hidden).
func (s *Service) countChildren(ctx context.Context, parent *object) (int64, error) {
	who, ok := ctx.Value(viewerKey{}).(Principal)
	if !ok || who.System || who.Admin {
		return s.childCount(ctx, s.db, parent)
	}
	var n int64
	err := s.eachVisibleChild(ctx, who, parent, nil, func(object) bool { n++; return true })
	return n, err
}

// eachVisibleChild calls fn with parent's children that who can see, in
// listing order from the one following after (nil: the first), a page at a
// time (keyset), until fn returns false or the children run out.
func (s *Service) eachVisibleChild(ctx context.Context, who Principal, parent *object, after *object, fn func(object) bool) error {
	for {
		page, err := s.rawChildPage(ctx, parent, 0, after, childPage)
		if err != nil {
			return err
		}
		for i := range page {
			if !s.hidden(who, &page[i]) && !fn(page[i]) {
				return nil
			}
		}
		if int64(len(page)) < childPage {
			return nil
		}
		after = &page[len(page)-1]
	}
}

// oldestValues are the n oldest values of a queue.
func (s *Service) oldestValues(ctx context.Context, queueID string, n int) ([]queueValue, error) {
	return s.queueWindow(ctx, s.db, queueID, n)
}
