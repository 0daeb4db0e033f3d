package kind

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOfAndIs(t *testing.T) {
	base := errors.New("connection refused")
	unavailable := Wrap(Unavailable, base, "storage backend")
	wrapped := fmt.Errorf("write value: %w", unavailable)

	assert.Equal(t, Unavailable, Of(wrapped))
	assert.ErrorIs(t, wrapped, Unavailable)
	assert.ErrorIs(t, wrapped, base, "the backend's own error stays reachable")
	assert.NotErrorIs(t, wrapped, NotFound)
	assert.Equal(t, "write value: storage backend: connection refused", wrapped.Error())

	assert.Equal(t, Internal, Of(base))
	assert.Equal(t, Internal, Of(nil))
	assert.Equal(t, NotFound, Of(fmt.Errorf("get: %w", NotFound)), "a bare Kind is a sentinel")
	assert.Nil(t, Wrap(Invalid, nil, "x"))
}

func TestOuterKindWins(t *testing.T) {
	inner := New(NotFound, "no volume v1")
	outer := Errorf(Conflict, "attach: %w", inner)
	assert.Equal(t, Conflict, Of(outer))
	assert.ErrorIs(t, outer, NotFound, "the inner kind is still visible to errors.Is")
	assert.Equal(t, "attach: no volume v1", outer.Error())
}

func TestJoined(t *testing.T) {
	err := errors.Join(errors.New("plain"), New(Forbidden, "no"))
	assert.Equal(t, Forbidden, Of(err))
}

func TestMessageHidesInternalDetail(t *testing.T) {
	assert.Equal(t, "internal error", Message(errors.New("pq: password authentication failed for user x")))
	assert.Equal(t, "no entity at /compute/1", Message(New(NotFound, "no entity at /compute/1")))
}

func TestNames(t *testing.T) {
	for k := Internal; k <= NoSpace; k++ {
		assert.NotContains(t, k.String(), "kind(", "every kind has a name")
	}
	assert.Equal(t, "kind(99)", Kind(99).String())
}
