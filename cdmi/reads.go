package cdmi

import "context"

// Reads the handlers render from, outside any transaction.

// metadataOf is o's metadata as a client reads it (§16): the stored user
// and data system metadata with the storage system metadata (cdmi_size,
// times, counts, owner, hash) added, limited to names starting with one of
// prefixes when any are given.
func (s *Service) metadataOf(ctx context.Context, o *object, prefixes []string) (map[string]any, error) {
	return s.renderMetadata(ctx, s.db, o, prefixes)
}

// pathOf is the escaped path at which o is found (by name, else by ID).
func (s *Service) pathOf(ctx context.Context, o *object) (string, error) {
	return s.uriOf(ctx, s.db, o)
}

// objectByID reads one object's row.
func (s *Service) objectByID(ctx context.Context, id string) (*object, error) {
	return s.byID(ctx, s.db, id)
}

// countChildren is the number of children a container lists.
func (s *Service) countChildren(ctx context.Context, parent *object) (int64, error) {
	return s.childCount(ctx, s.db, parent)
}

// oldestValues are the n oldest values of a queue.
func (s *Service) oldestValues(ctx context.Context, queueID string, n int) ([]queueValue, error) {
	return s.queueWindow(ctx, s.db, queueID, n)
}
