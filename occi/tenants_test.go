package occi

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// The service's view of tenants (Caller): what one project makes the
// other does not see, an administrator sees all, a caller in no project
// is refused, and a context without a Caller is the server itself.
func TestCallerScope(t *testing.T) {
	db := testDB(t)
	s, err := NewService(context.Background(), Config{DB: db, Compute: sim.New(db), Logger: discardLogger()})
	require.NoError(t, err)
	red := WithCaller(context.Background(), Caller{Project: "red"})
	blue := WithCaller(context.Background(), Caller{Project: "blue"})
	admin := WithCaller(context.Background(), Caller{Project: "ops", Admin: true})

	es, err := s.Create(red, KindCompute, []EntityInput{{}})
	require.NoError(t, err)
	vm := es[0]
	assert.Equal(t, "red", vm.Project)
	_, err = s.Get(blue, vm.Location)
	assert.Equal(t, kind.NotFound, kind.Of(err))
	for ctx, want := range map[context.Context]int{red: 1, blue: 0, admin: 1, context.Background(): 1} {
		l, err := s.List(ctx, Query{Collection: KindCompute})
		require.NoError(t, err)
		assert.Len(t, l.Locations, want)
	}
	// A link an administrator makes from red's compute is red's.
	_, err = s.Create(admin, KindNetwork, []EntityInput{{ID: "net"}})
	require.NoError(t, err)
	_, err = s.Create(red, KindNetworkInterface, []EntityInput{{Source: vm.Location, Target: "/network/net"}})
	assert.Equal(t, kind.NotFound, kind.Of(err), "ops's network is not red's to link to")
	links, err := s.Create(admin, KindNetworkInterface, []EntityInput{{Source: vm.Location, Target: "/network/net"}})
	require.NoError(t, err)
	assert.Equal(t, "red", links[0].Project)

	require.NoError(t, s.AddMixins(red, []*Category{{Scheme: "http://red.example/t#", Term: "tag", Class: ClassMixin}}))
	cats, err := s.Categories(blue, nil)
	require.NoError(t, err)
	for _, c := range cats {
		assert.NotEqual(t, "http://red.example/t#tag", c.ID(), "blue sees red's mixin")
	}
	assert.Equal(t, kind.NotFound, kind.Of(s.DeleteMixins(blue, []string{"http://red.example/t#tag"})))
	// Even an administrator cannot put red's mixin on another project's
	// entity: its owners would not see it.
	_, err = s.Create(admin, KindCompute, []EntityInput{{Mixins: []string{"http://red.example/t#tag"}}})
	assert.Equal(t, kind.Invalid, kind.Of(err))
	assert.NoError(t, s.Associate(admin, "http://red.example/t#tag", Members{Locations: []string{vm.Location}}, false))
	assert.Equal(t, kind.Invalid, kind.Of(s.Associate(admin, "http://red.example/t#tag", Members{Locations: []string{"/network/net"}}, false)))
	assert.Equal(t, kind.Conflict, kind.Of(s.AddMixins(blue, []*Category{{Scheme: "http://red.example/t#", Term: "tag", Class: ClassMixin}})),
		"type identifiers are one namespace")

	// The os_tpl a save makes is the compute's project's.
	res, err := s.Act(red, vm.Location, Invocation{Term: "save"})
	require.NoError(t, err)
	require.Len(t, res.Saved, 1)
	saved := res.Saved[0].ID()
	for ctx, want := range map[context.Context]bool{red: true, blue: false, admin: true} {
		cats, err := s.Categories(ctx, nil)
		require.NoError(t, err)
		found := false
		for _, c := range cats {
			found = found || c.ID() == saved
		}
		assert.Equal(t, want, found, "saved template %s", saved)
	}

	_, err = s.List(WithCaller(context.Background(), Caller{}), Query{})
	assert.Equal(t, kind.Forbidden, kind.Of(err), "a caller in no project")
}

// Quotas on the service: the limits of the caller's project, a project's
// own limits over the default, and a 403 that names the quota.
func TestServiceQuotas(t *testing.T) {
	db := testDB(t)
	s, err := NewService(context.Background(), Config{DB: db, Compute: sim.New(db), Logger: discardLogger(),
		Quotas: Quotas{Default: Limits{QuotaInstances: 1}, Projects: map[string]Limits{"big": {QuotaInstances: 2}}}})
	require.NoError(t, err)
	red := WithCaller(context.Background(), Caller{Project: "red"})
	big := WithCaller(context.Background(), Caller{Project: "big"})
	_, err = s.Create(red, KindCompute, []EntityInput{{}})
	require.NoError(t, err)
	_, err = s.Create(red, KindCompute, []EntityInput{{}})
	assert.Equal(t, kind.Forbidden, kind.Of(err))
	assert.ErrorContains(t, err, `quota instances of project "red" exceeded: the limit is 1, 1 in use, this request adds 1`)
	_, err = s.Create(big, KindCompute, []EntityInput{{}, {}})
	assert.NoError(t, err, "two in one request, at big's own limit")
	_, err = s.Create(big, KindCompute, []EntityInput{{}})
	assert.Equal(t, kind.Forbidden, kind.Of(err))
	// Networks and links use no quota.
	_, err = s.Create(red, KindNetwork, []EntityInput{{}})
	assert.NoError(t, err)
}
