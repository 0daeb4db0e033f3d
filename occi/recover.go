package occi

import (
	"context"
)

// HasMachine tells whether a compute entity (of any project) has id, so
// that start-up recovery can tell a backend's machine that belongs to OCCI
// from one a crash left between its creation and its entity's commit.
func (s *Service) HasMachine(ctx context.Context, id string) (bool, error) {
	m, err := s.loadModel(ctx, s.db.WithContext(ctx))
	if err != nil {
		return false, err
	}
	var kinds []string
	if err := s.db.WithContext(ctx).Model(&entityRow{}).Where("id = ?", id).Pluck("kind", &kinds).Error; err != nil {
		return false, dbErr(err)
	}
	for _, k := range kinds {
		if m.isA(k, KindCompute) {
			return true, nil
		}
	}
	return false, nil
}
