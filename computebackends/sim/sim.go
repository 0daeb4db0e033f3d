// Package sim is the simulated compute backend: an honest state machine that
// runs no virtual machine. Actions take effect on the recorded state, persist
// in the database (so every server process sharing it sees the same
// machines), and are refused when the state does not allow them. It is the
// embedded default and says so in its name.
//
// Which action is allowed from which state is computebackends.Rules, the
// table every backend follows; sim applies it and nothing else.
//
// sim is not in the computebackends registry: it needs the server's
// database, which computebackends.Options does not carry, so the server
// makes it with New(db).
package sim

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"gorm.io/gorm"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// Name is how the backend is chosen (--compute sim).
const Name = "sim"

type machineRow struct {
	ID       string `gorm:"primaryKey"`
	State    string
	Message  string
	Spec     string
	Disks    string
	NICs     string `gorm:"column:nics"`
	Revision int64
}

func (machineRow) TableName() string { return "sim_machines" }

type networkRow struct {
	ID    string `gorm:"primaryKey"`
	State string
	Spec  string
}

func (networkRow) TableName() string { return "sim_networks" }

// Backend is the simulated compute backend.
type Backend struct {
	db *gorm.DB
	// status keeps the machines' status in memory once CacheStatus was
	// called; nil otherwise.
	status *statusCache
}

// New returns a simulated backend keeping its state in db (tables created by
// migration 0001_sim_compute).
func New(db *gorm.DB) *Backend { return &Backend{db: db} }

// Name implements computebackends.Backend.
func (b *Backend) Name() string { return "sim (simulated: no virtual machines run)" }

// Simulated implements computebackends.Backend.
func (b *Backend) Simulated() bool { return true }

// Close implements computebackends.Backend.
func (b *Backend) Close() error { return nil }

// JoinsTransactions implements computebackends.TxJoiner: the machines are
// rows of the server's database, so a call under a caller's transaction
// (database.WithTx) writes them in it.
func (b *Backend) JoinsTransactions() bool { return true }

// conn is a call's database handle: the caller's transaction when ctx
// carries one (bound to the context it was made with: a new session per
// call would copy gorm's statement each time), else the backend's
// database.
func (b *Backend) conn(ctx context.Context) *gorm.DB {
	if tx := database.TxFrom(ctx); tx != nil {
		return tx
	}
	return b.db.WithContext(ctx)
}

// Ping is always up: sim runs nothing, and its state is in the server's
// database, which /readyz checks on its own (computebackends.Pinger).
func (b *Backend) Ping(context.Context) error { return nil }

func dbErr(op, id string, err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) || errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sim: %s %q: %w", op, id, cb.ErrNotFound)
	}
	// The driver's text (a FATAL with its SQLSTATE) stays underneath, for
	// errors.Is and the log; the client is told what is down.
	return &kind.Error{Kind: kind.Unavailable, Msg: fmt.Sprintf("sim: %s %q: the simulated machines' database is unavailable", op, id),
		Err: errors.Join(cb.ErrUnavailable, err)}
}

// CreateMachine records a new, inactive machine: one statement, so that
// it costs a create under the caller's transaction little.
func (b *Backend) CreateMachine(ctx context.Context, m cb.Machine) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("sim: create: %w", err)
	}
	spec, _ := json.Marshal(m)
	// ON CONFLICT DO NOTHING: an id taken is ErrExists, without a failed
	// statement (which on PostgreSQL would end the caller's transaction).
	n, err := database.Exec(b.conn(ctx), "INSERT INTO sim_machines (id, state, message, spec, disks, nics, revision) "+
		"VALUES (?, ?, '', ?, '[]', '[]', 0) ON CONFLICT DO NOTHING", m.ID, string(cb.StateInactive), string(spec))
	if err != nil {
		return dbErr("create", m.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("sim: create %q: %w", m.ID, cb.ErrExists)
	}
	return nil
}

// transition applies an action if computebackends.Rules allows it from the
// machine's state. change, when not nil, edits the machine's spec too. The
// machine's revision makes the read and the write one step without a
// transaction of their own: a change in between fails the write.
func (b *Backend) transition(ctx context.Context, id string, a cb.Action, method string, message string, change func(*cb.Machine)) error {
	op := string(a)
	if _, err := cb.CheckMethod(a, method); err != nil {
		return fmt.Errorf("sim: %s %q: %w", op, id, err)
	}
	db := b.conn(ctx)
	var state, spec string
	var revision int64
	if err := database.QueryRow(db, "SELECT state, spec, revision FROM sim_machines WHERE id = ?", id).Scan(&state, &spec, &revision); err != nil {
		return dbErr(op, id, err)
	}
	to, err := cb.Next(a, method, cb.State(state))
	if err != nil {
		return fmt.Errorf("sim: %s %q: %w", op, id, err)
	}
	set, args := "state = ?, revision = ?", []any{string(to), revision + 1}
	if to != cb.State(state) {
		set, args = set+", message = ?", append(args, message)
	}
	if change != nil {
		var m cb.Machine
		if err := json.Unmarshal([]byte(spec), &m); err != nil {
			return fmt.Errorf("sim: corrupt spec of %q: %w: %v", id, cb.ErrUnavailable, err)
		}
		change(&m)
		raw, _ := json.Marshal(m)
		set, args = set+", spec = ?", append(args, string(raw))
	}
	n, err := database.Exec(db, "UPDATE sim_machines SET "+set+" WHERE id = ? AND revision = ?", append(args, id, revision)...)
	if err != nil {
		return dbErr(op, id, err)
	}
	if n != 1 {
		return fmt.Errorf("sim: %s %q: changed concurrently, retry: %w", op, id, cb.ErrConflict)
	}
	return nil
}

// Start implements computebackends.Backend.
func (b *Backend) Start(ctx context.Context, id string) error {
	return b.transition(ctx, id, cb.ActionStart, "", "running (simulated)", nil)
}

// Stop implements computebackends.Backend.
func (b *Backend) Stop(ctx context.Context, id string, method cb.StopMethod) error {
	return b.transition(ctx, id, cb.ActionStop, string(method), "stopped (simulated)", nil)
}

// Restart implements computebackends.Backend.
func (b *Backend) Restart(ctx context.Context, id string, method cb.RestartMethod) error {
	return b.transition(ctx, id, cb.ActionRestart, string(method), "restarted (simulated)", nil)
}

// Suspend implements computebackends.Backend.
func (b *Backend) Suspend(ctx context.Context, id string, method cb.SuspendMethod) error {
	msg := "suspended (simulated)"
	if method == cb.SuspendHibernate {
		msg = "hibernated (simulated)"
	}
	return b.transition(ctx, id, cb.ActionSuspend, string(method), msg, nil)
}

// Resize records new sizes for an inactive machine.
func (b *Backend) Resize(ctx context.Context, id string, cores int, memoryGiB float64) error {
	if cores < 1 || !(memoryGiB > 0) {
		return fmt.Errorf("sim: resize %q: %d cores, %g GiB: need at least 1 core and some memory: %w", id, cores, memoryGiB, cb.ErrInvalid)
	}
	return b.transition(ctx, id, cb.ActionResize, "", "", func(m *cb.Machine) {
		m.Cores, m.Memory = cores, memoryGiB
	})
}

// Machine returns the machine as sim records it (its sizes after Resize
// included).
func (b *Backend) Machine(ctx context.Context, id string) (cb.Machine, error) {
	var row machineRow
	if err := b.conn(ctx).First(&row, "id = ?", id).Error; err != nil {
		return cb.Machine{}, dbErr("read", id, err)
	}
	var m cb.Machine
	if err := json.Unmarshal([]byte(row.Spec), &m); err != nil {
		return cb.Machine{}, fmt.Errorf("sim: corrupt spec of %q: %w: %v", id, cb.ErrUnavailable, err)
	}
	return m, nil
}

// Save records a new image named after the machine. No bytes are copied: the
// simulated backend has no disks, and the image's Source says so.
func (b *Backend) Save(ctx context.Context, id string, method cb.SaveMethod, name string) (cb.Image, error) {
	if _, err := cb.CheckMethod(cb.ActionSave, string(method)); err != nil {
		return cb.Image{}, fmt.Errorf("sim: save %q: %w", id, err)
	}
	var row machineRow
	if err := b.conn(ctx).First(&row, "id = ?", id).Error; err != nil {
		return cb.Image{}, dbErr("save", id, err)
	}
	if _, err := cb.Next(cb.ActionSave, string(method), cb.State(row.State)); err != nil {
		return cb.Image{}, fmt.Errorf("sim: save %q: %w", id, err)
	}
	term := sanitizeTerm(name)
	if term == "" {
		term = "saved-" + randomHex(6)
	}
	title := name
	if title == "" {
		title = "Image saved from " + id
	}
	return cb.Image{Term: term, Title: title, Source: "sim://saved/" + id + "/" + term}, nil
}

// DeleteMachine implements computebackends.Backend.
func (b *Backend) DeleteMachine(ctx context.Context, id string) error {
	res := b.conn(ctx).Delete(&machineRow{}, "id = ?", id)
	if res.Error != nil {
		return dbErr("delete", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("sim: delete %q: %w", id, cb.ErrNotFound)
	}
	return nil
}

// Machines implements computebackends.Lister. The ids are read first and
// fn called after, so fn may use the database (SQLite writes on one
// connection).
func (b *Backend) Machines(ctx context.Context, fn func(id string) error) error {
	var ids []string
	if err := b.conn(ctx).Model(&machineRow{}).Order("id").Pluck("id", &ids).Error; err != nil {
		return dbErr("list", "", err)
	}
	for _, id := range ids {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

// MachineStatus implements computebackends.Backend.
// Every OCCI GET of a compute asks it, so the statement goes straight to
// the prepared statement (database.QueryRow) rather than through gorm's
// First, which cost as much again as the read.
func (b *Backend) MachineStatus(ctx context.Context, id string) (cb.Status, error) {
	if b.status == nil || database.TxFrom(ctx) != nil {
		// Inside a transaction the answer may be its own uncommitted
		// write: neither from the cache nor kept in it.
		return b.readStatus(ctx, id)
	}
	if st, ok := b.status.get(id); ok {
		return st, nil
	}
	stamp := b.status.watch.Stamp()
	st, err := b.readStatus(ctx, id)
	if err == nil {
		b.status.fill(id, stamp, st)
	}
	return st, err
}

func (b *Backend) readStatus(ctx context.Context, id string) (cb.Status, error) {
	var st cb.Status
	var state string
	if err := database.QueryRow(b.conn(ctx), "SELECT state, message FROM sim_machines WHERE id = ?", id).Scan(&state, &st.Message); err != nil {
		return cb.Status{}, dbErr("status", id, err)
	}
	st.State = cb.State(state)
	return st, nil
}

// CacheStatus keeps the machines' status (what every OCCI GET of a
// compute asks) in memory. Call it before the backend is used, and only
// when this process is the only writer of the database the backend keeps
// its machines in (a server holding its SQLite file's lock; never on
// PostgreSQL, where it does nothing): the cache sees this process's
// writes alone. Every write to the sim tables, in a transaction of a
// caller's or not, moves a database.Watch when it begins and when its
// transaction has ended; a status is kept only when the watch did not
// move while it was read, and used only while it stays.
func (b *Backend) CacheStatus() {
	if w := database.NewWatch(b.db, "sim_"); w != nil {
		b.status = &statusCache{watch: w, byID: map[string]cachedStatus{}}
	}
}

// statusCache is the machines' status as last read. It holds at most
// statusEntries machines (about 100 bytes each): when full, an entry is
// dropped for each new one (whichever the map hands first).
type statusCache struct {
	watch *database.Watch
	mu    sync.Mutex
	byID  map[string]cachedStatus
}

const statusEntries = 16384

type cachedStatus struct {
	stamp database.Stamp
	st    cb.Status
}

func (c *statusCache) get(id string) (cb.Status, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if ok && !e.stamp.Current() {
		delete(c.byID, id)
		ok = false
	}
	return e.st, ok
}

// fill keeps st, read after s was taken, unless a write to the sim
// tables began or ended since.
func (c *statusCache) fill(id string, s database.Stamp, st cb.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.Current() {
		return
	}
	if _, ok := c.byID[id]; !ok && len(c.byID) >= statusEntries {
		for k := range c.byID {
			delete(c.byID, k)
			break
		}
	}
	c.byID[id] = cachedStatus{stamp: s, st: st}
}

// updateList edits one of the JSON lists of a machine (disks or nics).
func (b *Backend) updateList(ctx context.Context, machineID, column string, edit func(items []map[string]any) ([]map[string]any, error)) error {
	return b.conn(ctx).Transaction(func(tx *gorm.DB) error {
		var row machineRow
		if err := tx.First(&row, "id = ?", machineID).Error; err != nil {
			return dbErr("update "+column, machineID, err)
		}
		raw := row.Disks
		if column == "nics" {
			raw = row.NICs
		}
		var items []map[string]any
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &items); err != nil {
				return fmt.Errorf("sim: corrupt %s of %q: %w: %v", column, machineID, cb.ErrUnavailable, err)
			}
		}
		items, err := edit(items)
		if err != nil {
			return err
		}
		out, _ := json.Marshal(items)
		return tx.Model(&machineRow{}).Where("id = ?", machineID).
			Updates(map[string]any{column: string(out), "revision": row.Revision + 1}).Error
	})
}

func toMap(v any) map[string]any {
	raw, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func attach(kind, id string, item map[string]any) func([]map[string]any) ([]map[string]any, error) {
	return func(items []map[string]any) ([]map[string]any, error) {
		for _, it := range items {
			if it["ID"] == id {
				return nil, fmt.Errorf("sim: %s %q already attached: %w", kind, id, cb.ErrExists)
			}
		}
		return append(items, item), nil
	}
}

func detach(kind, id string) func([]map[string]any) ([]map[string]any, error) {
	return func(items []map[string]any) ([]map[string]any, error) {
		for i, it := range items {
			if it["ID"] == id {
				return append(items[:i], items[i+1:]...), nil
			}
		}
		return nil, fmt.Errorf("sim: %s %q is not attached: %w", kind, id, cb.ErrNotFound)
	}
}

// AttachDisk records the disk; a simulated machine accepts it in any state.
func (b *Backend) AttachDisk(ctx context.Context, machineID string, d cb.Disk) error {
	if d.ID == "" {
		return fmt.Errorf("sim: attach disk to %q: empty disk id: %w", machineID, cb.ErrInvalid)
	}
	if err := d.Source.Validate(); err != nil {
		return fmt.Errorf("sim: attach disk %q to %q: %w", d.ID, machineID, err)
	}
	add := attach("disk", d.ID, toMap(d))
	return b.updateList(ctx, machineID, "disks", func(items []map[string]any) ([]map[string]any, error) {
		for _, it := range items {
			if d.Target != "" && it["Target"] == d.Target && it["ID"] != d.ID {
				return nil, fmt.Errorf("sim: attach disk %q to %q: device %s is taken: %w", d.ID, machineID, d.Target, cb.ErrConflict)
			}
		}
		return add(items)
	})
}

// DetachDisk implements computebackends.Backend.
func (b *Backend) DetachDisk(ctx context.Context, machineID, diskID string) error {
	return b.updateList(ctx, machineID, "disks", detach("disk", diskID))
}

// AttachInterface records the interface, choosing a locally administered MAC
// when none is given.
func (b *Backend) AttachInterface(ctx context.Context, machineID string, nic cb.Interface) (cb.Interface, error) {
	if nic.ID == "" {
		return cb.Interface{}, fmt.Errorf("sim: attach interface to %q: empty id: %w", machineID, cb.ErrInvalid)
	}
	if nic.MAC == "" {
		nic.MAC = RandomMAC()
	} else if hw, err := net.ParseMAC(nic.MAC); err != nil || len(hw) != 6 || hw[0]&1 == 1 {
		return cb.Interface{}, fmt.Errorf("sim: attach interface %q: %q is not a unicast MAC-48 address: %w", nic.ID, nic.MAC, cb.ErrInvalid)
	} else {
		nic.MAC = hw.String()
	}
	var netRow networkRow
	if err := b.conn(ctx).First(&netRow, "id = ?", nic.NetworkID).Error; err != nil {
		return cb.Interface{}, dbErr("attach interface to network", nic.NetworkID, err)
	}
	if nic.Address != "" {
		ip := net.ParseIP(nic.Address).To4()
		if ip == nil {
			return cb.Interface{}, fmt.Errorf("sim: attach interface %q: address %q is not an IPv4 address: %w", nic.ID, nic.Address, cb.ErrInvalid)
		}
		var n cb.Network
		_ = json.Unmarshal([]byte(netRow.Spec), &n)
		if _, subnet, err := net.ParseCIDR(n.Address); err == nil && (!subnet.Contains(ip) || ip.Equal(net.ParseIP(n.Gateway))) {
			return cb.Interface{}, fmt.Errorf("sim: attach interface %q: address %s is not a free host address of %s: %w", nic.ID, nic.Address, subnet, cb.ErrInvalid)
		}
	}
	if err := b.updateList(ctx, machineID, "nics", attach("interface", nic.ID, toMap(nic))); err != nil {
		return cb.Interface{}, err
	}
	return nic, nil
}

// DetachInterface implements computebackends.Backend.
func (b *Backend) DetachInterface(ctx context.Context, machineID, nicID string) error {
	return b.updateList(ctx, machineID, "nics", detach("interface", nicID))
}

// CreateNetwork records an inactive network.
func (b *Backend) CreateNetwork(ctx context.Context, n cb.Network) error {
	if n.ID == "" {
		return fmt.Errorf("sim: create network: empty id: %w", cb.ErrInvalid)
	}
	spec, _ := json.Marshal(n)
	var count int64
	if err := b.conn(ctx).Model(&networkRow{}).Where("id = ?", n.ID).Count(&count).Error; err != nil {
		return dbErr("create network", n.ID, err)
	}
	if count > 0 {
		return fmt.Errorf("sim: create network %q: %w", n.ID, cb.ErrExists)
	}
	if err := b.conn(ctx).Create(&networkRow{ID: n.ID, State: string(cb.StateInactive), Spec: string(spec)}).Error; err != nil {
		return dbErr("create network", n.ID, err)
	}
	return nil
}

func (b *Backend) setNetwork(ctx context.Context, id string, to cb.State) error {
	res := b.conn(ctx).Model(&networkRow{}).Where("id = ?", id).Update("state", string(to))
	if res.Error != nil {
		return dbErr("network", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("sim: network %q: %w", id, cb.ErrNotFound)
	}
	return nil
}

// StartNetwork implements computebackends.Backend (OCCI network "up").
func (b *Backend) StartNetwork(ctx context.Context, id string) error {
	return b.setNetwork(ctx, id, cb.StateActive)
}

// StopNetwork implements computebackends.Backend (OCCI network "down").
func (b *Backend) StopNetwork(ctx context.Context, id string) error {
	return b.setNetwork(ctx, id, cb.StateInactive)
}

// DeleteNetwork implements computebackends.Backend.
func (b *Backend) DeleteNetwork(ctx context.Context, id string) error {
	res := b.conn(ctx).Delete(&networkRow{}, "id = ?", id)
	if res.Error != nil {
		return dbErr("delete network", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("sim: delete network %q: %w", id, cb.ErrNotFound)
	}
	return nil
}

// NetworkStatus implements computebackends.Backend.
func (b *Backend) NetworkStatus(ctx context.Context, id string) (cb.Status, error) {
	var row networkRow
	if err := b.conn(ctx).First(&row, "id = ?", id).Error; err != nil {
		return cb.Status{}, dbErr("network status", id, err)
	}
	return cb.Status{State: cb.State(row.State), Message: "simulated network"}, nil
}

// RandomMAC returns a random locally administered unicast MAC address.
func RandomMAC() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	b[0] = (b[0] | 0x02) & 0xfe
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// sanitizeTerm turns a client-given name into a valid OCCI term
// (GFD.221: LOALPHA *( LOALPHA / DIGIT / "-" / "_" )).
func sanitizeTerm(name string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && sb.Len() > 0, (r == '-' || r == '_') && sb.Len() > 0:
			sb.WriteRune(r)
		case r == ' ' && sb.Len() > 0:
			sb.WriteRune('-')
		}
	}
	return sb.String()
}
