package metrics

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// Compute wraps b so that every call is timed and every failure counted
// (backend "compute", driver as named in the configuration: sim,
// libvirt). Results and errors pass through unchanged. The wrapper is a
// Pinger, and a TxJoiner answering what b answers.
func (m *Metrics) Compute(driver string, b computebackends.Backend) computebackends.Backend {
	return &compute{b: b, o: newObserver(m, "compute", driver)}
}

// Objects wraps an object value backend the same way (backend "objects",
// driver as named in the configuration).
func (m *Metrics) Objects(driver string, b storagebackends.Objects) storagebackends.Objects {
	return &objects{b: b, o: newObserver(m, "objects", driver)}
}

// Volumes wraps a volume backend the same way (backend "volumes").
func (m *Metrics) Volumes(driver string, b storagebackends.Volumes) storagebackends.Volumes {
	return &volumes{b: b, o: newObserver(m, "volumes", driver)}
}

type compute struct {
	b computebackends.Backend
	o observer
}

func (c *compute) Name() string    { return c.b.Name() }
func (c *compute) Simulated() bool { return c.b.Simulated() }
func (c *compute) Close() error    { return c.b.Close() }

// JoinsTransactions forwards b's (computebackends.TxJoiner).
func (c *compute) JoinsTransactions() bool { return computebackends.JoinsTransactions(c.b) }

// CacheStatus forwards to b (computebackends.StatusCacher).
func (c *compute) CacheStatus() { computebackends.CacheStatus(c.b) }

// Ping asks the backend's own Ping, else looks up a machine that does not
// exist (not counted in the metrics: a probe is no workload).
func (c *compute) Ping(ctx context.Context) error {
	if p, ok := c.b.(Pinger); ok {
		return p.Ping(ctx)
	}
	_, err := c.b.MachineStatus(ctx, probeName)
	return probeResult(err)
}

func (c *compute) CreateMachine(ctx context.Context, m computebackends.Machine) error {
	start := time.Now()
	err := c.b.CreateMachine(ctx, m)
	c.o.done("CreateMachine", start, err)
	return err
}

func (c *compute) Start(ctx context.Context, id string) error {
	start := time.Now()
	err := c.b.Start(ctx, id)
	c.o.done("Start", start, err)
	return err
}

func (c *compute) Stop(ctx context.Context, id string, method computebackends.StopMethod) error {
	start := time.Now()
	err := c.b.Stop(ctx, id, method)
	c.o.done("Stop", start, err)
	return err
}

func (c *compute) Restart(ctx context.Context, id string, method computebackends.RestartMethod) error {
	start := time.Now()
	err := c.b.Restart(ctx, id, method)
	c.o.done("Restart", start, err)
	return err
}

func (c *compute) Suspend(ctx context.Context, id string, method computebackends.SuspendMethod) error {
	start := time.Now()
	err := c.b.Suspend(ctx, id, method)
	c.o.done("Suspend", start, err)
	return err
}

func (c *compute) Save(ctx context.Context, id string, method computebackends.SaveMethod, name string) (computebackends.Image, error) {
	start := time.Now()
	img, err := c.b.Save(ctx, id, method, name)
	c.o.done("Save", start, err)
	return img, err
}

func (c *compute) DeleteMachine(ctx context.Context, id string) error {
	start := time.Now()
	err := c.b.DeleteMachine(ctx, id)
	c.o.done("DeleteMachine", start, err)
	return err
}

func (c *compute) MachineStatus(ctx context.Context, id string) (computebackends.Status, error) {
	start := time.Now()
	st, err := c.b.MachineStatus(ctx, id)
	c.o.done("MachineStatus", start, err)
	return st, err
}

func (c *compute) Resize(ctx context.Context, id string, cores int, memoryGiB float64) error {
	start := time.Now()
	err := c.b.Resize(ctx, id, cores, memoryGiB)
	c.o.done("Resize", start, err)
	return err
}

func (c *compute) AttachDisk(ctx context.Context, machineID string, d computebackends.Disk) error {
	start := time.Now()
	err := c.b.AttachDisk(ctx, machineID, d)
	c.o.done("AttachDisk", start, err)
	return err
}

func (c *compute) DetachDisk(ctx context.Context, machineID, diskID string) error {
	start := time.Now()
	err := c.b.DetachDisk(ctx, machineID, diskID)
	c.o.done("DetachDisk", start, err)
	return err
}

func (c *compute) AttachInterface(ctx context.Context, machineID string, nic computebackends.Interface) (computebackends.Interface, error) {
	start := time.Now()
	out, err := c.b.AttachInterface(ctx, machineID, nic)
	c.o.done("AttachInterface", start, err)
	return out, err
}

func (c *compute) DetachInterface(ctx context.Context, machineID, nicID string) error {
	start := time.Now()
	err := c.b.DetachInterface(ctx, machineID, nicID)
	c.o.done("DetachInterface", start, err)
	return err
}

func (c *compute) CreateNetwork(ctx context.Context, n computebackends.Network) error {
	start := time.Now()
	err := c.b.CreateNetwork(ctx, n)
	c.o.done("CreateNetwork", start, err)
	return err
}

func (c *compute) StartNetwork(ctx context.Context, id string) error {
	start := time.Now()
	err := c.b.StartNetwork(ctx, id)
	c.o.done("StartNetwork", start, err)
	return err
}

func (c *compute) StopNetwork(ctx context.Context, id string) error {
	start := time.Now()
	err := c.b.StopNetwork(ctx, id)
	c.o.done("StopNetwork", start, err)
	return err
}

func (c *compute) DeleteNetwork(ctx context.Context, id string) error {
	start := time.Now()
	err := c.b.DeleteNetwork(ctx, id)
	c.o.done("DeleteNetwork", start, err)
	return err
}

func (c *compute) NetworkStatus(ctx context.Context, id string) (computebackends.Status, error) {
	start := time.Now()
	st, err := c.b.NetworkStatus(ctx, id)
	c.o.done("NetworkStatus", start, err)
	return st, err
}

type objects struct {
	b storagebackends.Objects
	o observer
}

// Ping asks the backend's own Ping, else asks the size of a value that does
// not exist (not counted).
func (s *objects) Ping(ctx context.Context) error {
	if p, ok := s.b.(Pinger); ok {
		return p.Ping(ctx)
	}
	_, err := s.b.Size(ctx, probeName)
	return probeResult(err)
}

// Put is timed from its call to its return, the streaming of r included.
func (s *objects) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	start := time.Now()
	err := s.b.Put(ctx, key, r, size)
	s.o.done("Put", start, err)
	return err
}

// PutNew is the backend's PutNew (a value under a key no one names yet,
// storagebackends/fs), else Put: what PutNew promises is Put's and more.
// Counted as a Put.
func (s *objects) PutNew(ctx context.Context, key string, r io.Reader, size int64) error {
	p, ok := s.b.(interface {
		PutNew(ctx context.Context, key string, r io.Reader, size int64) error
	})
	if !ok {
		return s.Put(ctx, key, r, size)
	}
	start := time.Now()
	err := p.PutNew(ctx, key, r, size)
	s.o.done("Put", start, err)
	return err
}

// OpenSized is the backend's OpenSized (a value opened with its whole
// size, storagebackends/fs); errors.ErrUnsupported when it has none, so
// the caller asks Size and Open as it would without it. Counted as an Open.
func (s *objects) OpenSized(ctx context.Context, key string, off, length int64) (io.ReadCloser, int64, error) {
	o, ok := s.b.(interface {
		OpenSized(ctx context.Context, key string, off, length int64) (io.ReadCloser, int64, error)
	})
	if !ok {
		return nil, 0, errors.ErrUnsupported
	}
	start := time.Now()
	rc, size, err := o.OpenSized(ctx, key, off, length)
	s.o.done("Open", start, err)
	return rc, size, err
}

// Open is timed to the opening of the stream, not to its end.
func (s *objects) Open(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := s.b.Open(ctx, key, off, length)
	s.o.done("Open", start, err)
	return rc, err
}

func (s *objects) WriteAt(ctx context.Context, key string, off int64, r io.Reader, length int64) error {
	start := time.Now()
	err := s.b.WriteAt(ctx, key, off, r, length)
	s.o.done("WriteAt", start, err)
	return err
}

func (s *objects) PutRange(ctx context.Context, dst, src string, off int64, r io.Reader, length int64) error {
	start := time.Now()
	err := s.b.PutRange(ctx, dst, src, off, r, length)
	s.o.done("PutRange", start, err)
	return err
}

func (s *objects) Size(ctx context.Context, key string) (int64, error) {
	start := time.Now()
	n, err := s.b.Size(ctx, key)
	s.o.done("Size", start, err)
	return n, err
}

func (s *objects) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := s.b.Delete(ctx, key)
	s.o.done("Delete", start, err)
	return err
}

func (s *objects) Copy(ctx context.Context, dst, src string) error {
	start := time.Now()
	err := s.b.Copy(ctx, dst, src)
	s.o.done("Copy", start, err)
	return err
}

// List is timed with the calls of fn.
func (s *objects) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	start := time.Now()
	err := s.b.List(ctx, prefix, fn)
	s.o.done("List", start, err)
	return err
}

type volumes struct {
	b storagebackends.Volumes
	o observer
}

// Ping asks the backend's own Ping, else asks the size of a volume that
// does not exist (not counted).
func (v *volumes) Ping(ctx context.Context) error {
	if p, ok := v.b.(Pinger); ok {
		return p.Ping(ctx)
	}
	_, err := v.b.VolumeSize(ctx, probeName)
	return probeResult(err)
}

func (v *volumes) CreateVolume(ctx context.Context, name string, size int64) error {
	start := time.Now()
	err := v.b.CreateVolume(ctx, name, size)
	v.o.done("CreateVolume", start, err)
	return err
}

func (v *volumes) ResizeVolume(ctx context.Context, name string, size int64) error {
	start := time.Now()
	err := v.b.ResizeVolume(ctx, name, size)
	v.o.done("ResizeVolume", start, err)
	return err
}

func (v *volumes) VolumeSize(ctx context.Context, name string) (int64, error) {
	start := time.Now()
	n, err := v.b.VolumeSize(ctx, name)
	v.o.done("VolumeSize", start, err)
	return n, err
}

func (v *volumes) Snapshot(ctx context.Context, name, snapshot string) error {
	start := time.Now()
	err := v.b.Snapshot(ctx, name, snapshot)
	v.o.done("Snapshot", start, err)
	return err
}

func (v *volumes) Clone(ctx context.Context, src, snapshot, dst string) error {
	start := time.Now()
	err := v.b.Clone(ctx, src, snapshot, dst)
	v.o.done("Clone", start, err)
	return err
}

func (v *volumes) CreateFromImage(ctx context.Context, name string, image io.Reader, size int64) error {
	start := time.Now()
	err := v.b.CreateFromImage(ctx, name, image, size)
	v.o.done("CreateFromImage", start, err)
	return err
}

func (v *volumes) DeleteVolume(ctx context.Context, name string) error {
	start := time.Now()
	err := v.b.DeleteVolume(ctx, name)
	v.o.done("DeleteVolume", start, err)
	return err
}

// ReadAt: io.EOF at the end of the volume is not counted as a failure.
func (v *volumes) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	start := time.Now()
	n, err := v.b.ReadAt(ctx, name, p, off)
	v.o.done("ReadAt", start, err)
	return n, err
}

func (v *volumes) WriteAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	start := time.Now()
	n, err := v.b.WriteAt(ctx, name, p, off)
	v.o.done("WriteAt", start, err)
	return n, err
}

func (v *volumes) Access(ctx context.Context, name string) (storagebackends.VolumeAccess, error) {
	start := time.Now()
	acc, err := v.b.Access(ctx, name)
	v.o.done("Access", start, err)
	return acc, err
}

// ListVolumes is timed with the calls of fn.
func (v *volumes) ListVolumes(ctx context.Context, fn func(name string, made time.Time) error) error {
	start := time.Now()
	err := v.b.ListVolumes(ctx, fn)
	v.o.done("ListVolumes", start, err)
	return err
}
