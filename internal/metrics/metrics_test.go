package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// fakeCompute answers every call it overrides with err; the embedded nil
// interface makes the others panic, so a test touches only what it means to.
type fakeCompute struct {
	computebackends.Backend
	err error
}

func (f *fakeCompute) Name() string { return "fake" }
func (f *fakeCompute) Start(context.Context, string) error {
	return f.err
}
func (f *fakeCompute) MachineStatus(context.Context, string) (computebackends.Status, error) {
	return computebackends.Status{}, f.err
}

type pingingCompute struct {
	fakeCompute
	pinged int
}

func (p *pingingCompute) Ping(context.Context) error { p.pinged++; return p.err }

// The decorator hands back the backend's own error (the same value, so
// its kind and everything errors.Is/As find are unchanged) and counts it
// under its kind.
func TestComputeErrorsKeepTheirKindAndAreCounted(t *testing.T) {
	m := New()
	inner := fmt.Errorf("libvirt: start vm1: %w: connection refused", computebackends.ErrUnavailable)
	b := m.Compute("fake", &fakeCompute{err: inner})

	err := b.Start(context.Background(), "vm1")
	assert.Same(t, inner, err)
	assert.True(t, errors.Is(err, computebackends.ErrUnavailable))
	assert.Equal(t, kind.Unavailable, kind.Of(err))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.backendErrors.WithLabelValues("compute", "fake", "Start", "unavailable")))
	assert.Equal(t, 1, testutil.CollectAndCount(m.backendDuration), "one series: compute/fake/Start")

	ok := m.Compute("fake", &fakeCompute{})
	require.NoError(t, ok.Start(context.Background(), "vm2"))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.backendErrors.WithLabelValues("compute", "fake", "Start", "unavailable")), "a success counts no error")
}

func TestKindLabel(t *testing.T) {
	for err, want := range map[error]string{
		storagebackends.ErrNotFound:                          "not_found",
		fmt.Errorf("x: %w", storagebackends.ErrExists):       "exists",
		computebackends.ErrConflict:                          "conflict",
		computebackends.ErrUnsupported:                       "unsupported",
		errors.New("boom"):                                   "internal",
		fmt.Errorf("put: %w", context.Canceled):              "canceled",
		fmt.Errorf("put: %w", context.DeadlineExceeded):      "deadline_exceeded",
		kind.Wrap(kind.Unavailable, context.Canceled, "s3"):  "unavailable",
		kind.Errorf(kind.Invalid, "bad size %d", -1):         "invalid",
		kind.New(kind.Forbidden, "no"):                       "forbidden",
		kind.New(kind.Unauthenticated, "who are you"):        "unauthenticated",
		fmt.Errorf("%w", storagebackends.ErrUnavailable):     "unavailable",
		fmt.Errorf("%w and %w", io.EOF, kind.Invalid):        "invalid",
		kind.Wrap(kind.NotFound, errors.New("no such"), "x"): "not_found",
	} {
		assert.Equal(t, want, KindLabel(err), "%v", err)
	}
}

// A backend with a Ping of its own is asked that; one without answers a
// lookup of a name that does not exist: not found means up, unavailable
// down. Probes are no workload: they add nothing to the metrics.
func TestPing(t *testing.T) {
	m := New()
	ctx := context.Background()

	own := &pingingCompute{fakeCompute: fakeCompute{err: computebackends.ErrUnavailable}}
	require.Error(t, m.Compute("fake", own).(Pinger).Ping(ctx))
	assert.Equal(t, 1, own.pinged)

	assert.NoError(t, m.Compute("fake", &fakeCompute{err: computebackends.ErrNotFound}).(Pinger).Ping(ctx))
	assert.NoError(t, m.Compute("fake", &fakeCompute{}).(Pinger).Ping(ctx))
	err := m.Compute("fake", &fakeCompute{err: fmt.Errorf("libvirt: %w", computebackends.ErrUnavailable)}).(Pinger).Ping(ctx)
	assert.Equal(t, kind.Unavailable, kind.Of(err))

	assert.NoError(t, m.Volumes("v", &fakeVolumes{err: storagebackends.ErrNotFound}).(Pinger).Ping(ctx))
	assert.Error(t, m.Volumes("v", &fakeVolumes{err: storagebackends.ErrUnavailable}).(Pinger).Ping(ctx))
	assert.NoError(t, m.Objects("o", &fakeObjects{err: storagebackends.ErrNotFound}).(Pinger).Ping(ctx))
	assert.Error(t, m.Objects("o", &fakeObjects{err: errors.New("bucket gone")}).(Pinger).Ping(ctx))

	assert.Equal(t, 0, testutil.CollectAndCount(m.backendErrors))
	assert.Equal(t, 0, testutil.CollectAndCount(m.backendDuration))
}

type fakeVolumes struct {
	storagebackends.Volumes
	err error
}

func (f *fakeVolumes) VolumeSize(context.Context, string) (int64, error) { return 0, f.err }
func (f *fakeVolumes) ReadAt(_ context.Context, _ string, p []byte, _ int64) (int, error) {
	return len(p), f.err
}

type fakeObjects struct {
	storagebackends.Objects
	err error
}

func (f *fakeObjects) Size(context.Context, string) (int64, error) { return 0, f.err }
func (f *fakeObjects) Delete(context.Context, string) error        { return f.err }

// A read reaching the end of a volume ends with io.EOF (io.ReaderAt): no
// failure. Storage failures are counted under their backend and driver.
func TestStorageErrors(t *testing.T) {
	m := New()
	ctx := context.Background()
	n, err := m.Volumes("fs", &fakeVolumes{err: io.EOF}).ReadAt(ctx, "v", make([]byte, 4), 0)
	assert.Equal(t, 4, n)
	assert.Equal(t, io.EOF, err)
	assert.Equal(t, 0, testutil.CollectAndCount(m.backendErrors))

	inner := fmt.Errorf("fs: delete k: %w", storagebackends.ErrNotFound)
	err = m.Objects("fs", &fakeObjects{err: inner}).Delete(ctx, "k")
	assert.Same(t, inner, err)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.backendErrors.WithLabelValues("objects", "fs", "Delete", "not_found")))
}

// Counts are computed at each scrape; a query that fails leaves its gauge
// out (and the scrape still serves the rest).
func TestCounts(t *testing.T) {
	m := New()
	n := int64(3)
	m.Registry.MustRegister(NewCounts(time.Second).
		Add("vms", "VMs.", func(ctx context.Context) (int64, error) { return n, nil }).
		Add("volumes", "Volumes.", func(ctx context.Context) (int64, error) { return 0, errors.New("database is closed") }))
	families, err := m.Registry.Gather()
	require.Error(t, err, "the failed count is reported")
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
		if f.GetName() == "occicdmi_vms" {
			assert.Equal(t, 3.0, f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	assert.Contains(t, names, "occicdmi_vms")
	assert.NotContains(t, names, "occicdmi_volumes")
	assert.Contains(t, strings.Join(names, " "), "go_goroutines")
}

// putCounter records which of Put and PutNew a wrapper called.
type putCounter struct {
	storagebackends.Objects
	calls []string
}

func (p *putCounter) Put(context.Context, string, io.Reader, int64) error {
	p.calls = append(p.calls, "Put")
	return nil
}

type newPutCounter struct{ putCounter }

func (p *newPutCounter) PutNew(context.Context, string, io.Reader, int64) error {
	p.calls = append(p.calls, "PutNew")
	return nil
}

func (p *newPutCounter) OpenSized(context.Context, string, int64, int64) (io.ReadCloser, int64, error) {
	return io.NopCloser(strings.NewReader("v")), 1, nil
}

// The objects wrapper passes a backend's optional calls on (PutNew,
// OpenSized), and without them falls back to Put and to
// errors.ErrUnsupported (the caller sizes and opens as it would).
func TestObjectsOptionalCalls(t *testing.T) {
	m := New()
	ctx := context.Background()
	type optional interface {
		PutNew(context.Context, string, io.Reader, int64) error
		OpenSized(context.Context, string, int64, int64) (io.ReadCloser, int64, error)
	}
	with := &newPutCounter{}
	w := m.Objects("fs", with).(optional)
	require.NoError(t, w.PutNew(ctx, "k", strings.NewReader("v"), 1))
	_, size, err := w.OpenSized(ctx, "k", 0, -1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), size)
	assert.Equal(t, []string{"PutNew"}, with.calls)

	without := &putCounter{}
	w = m.Objects("s3", without).(optional)
	require.NoError(t, w.PutNew(ctx, "k", strings.NewReader("v"), 1))
	_, _, err = w.OpenSized(ctx, "k", 0, -1)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Equal(t, []string{"Put"}, without.calls)
}
