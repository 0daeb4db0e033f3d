package occi

import "sort"

// Schemes of the standard categories (GFD.221, GFD.224).
const (
	SchemeCore           = "http://schemas.ogf.org/occi/core#"
	SchemeInfra          = "http://schemas.ogf.org/occi/infrastructure#"
	SchemeCompute        = "http://schemas.ogf.org/occi/infrastructure/compute#"
	SchemeComputeAction  = "http://schemas.ogf.org/occi/infrastructure/compute/action#"
	SchemeNetwork        = "http://schemas.ogf.org/occi/infrastructure/network#"
	SchemeNetworkAction  = "http://schemas.ogf.org/occi/infrastructure/network/action#"
	SchemeStorageAction  = "http://schemas.ogf.org/occi/infrastructure/storage/action#"
	SchemeNetIface       = "http://schemas.ogf.org/occi/infrastructure/networkinterface#"
	SchemeCredentials    = "http://schemas.ogf.org/occi/infrastructure/credentials#"
	SchemeOSTemplate     = "https://occicdmi.org/occi/infrastructure/os_tpl#"
	SchemeResourceTplate = "https://occicdmi.org/occi/infrastructure/resource_tpl#"
	SchemeUser           = "https://occicdmi.org/occi/user#"
)

// Type identifiers used by the service logic.
const (
	KindEntity           = SchemeCore + "entity"
	KindResource         = SchemeCore + "resource"
	KindLink             = SchemeCore + "link"
	KindCompute          = SchemeInfra + "compute"
	KindNetwork          = SchemeInfra + "network"
	KindStorage          = SchemeInfra + "storage"
	KindNetworkInterface = SchemeInfra + "networkinterface"
	KindStorageLink      = SchemeInfra + "storagelink"
	MixinOSTpl           = SchemeInfra + "os_tpl"
	MixinResourceTpl     = SchemeInfra + "resource_tpl"
	MixinIPNetwork       = SchemeNetwork + "ipnetwork"
	MixinIPNetIface      = SchemeNetIface + "ipnetworkinterface"
	MixinSSHKey          = SchemeCredentials + "ssh_key"
	MixinUserData        = SchemeCompute + "user_data"
)

func str(name, desc string, mutable bool) Attribute {
	return Attribute{Name: name, Type: TypeString, Mutable: mutable, Description: desc}
}

func enum(name, desc string, mutable bool, values ...string) Attribute {
	return Attribute{Name: name, Type: TypeString, Enum: values, Mutable: mutable, Description: desc}
}

func num(name, desc string, integer bool) Attribute {
	return Attribute{Name: name, Type: TypeNumber, Integer: integer, Mutable: true, Description: desc}
}

func state(name string, def string, values ...string) Attribute {
	a := enum(name, "Current state of the instance", false, values...)
	a.Default, a.Server = def, true
	return a
}

func stateMessage(name string) Attribute {
	a := str(name, "Human-readable explanation of the current instance state", false)
	a.Server = true
	return a
}

func action(scheme, term, title string, attrs ...Attribute) *Category {
	return &Category{Scheme: scheme, Term: term, Title: title, Class: ClassAction, Attributes: attrs}
}

func method(def string, values ...string) Attribute {
	a := enum("method", "How the action is carried out", true, values...)
	a.Default = def
	return a
}

func float(v float64) *float64 { return &v }

// standard returns the core and infrastructure categories (GFD.221 §4,
// GFD.224 §3), with the actions OCCI 1.1 defined for storage (GFD.184
// table 9) kept so that 1.1 clients are understood.
// maxMemoryGiB and maxStorageGiB bound occi.compute.memory and
// occi.storage.size (and resize's size) so that their bytes fit an int64
// with room to spare (2^24 GiB = 2^54 bytes; 2^32 GiB = 2^62 bytes). The
// volume backend's configured maximum (--max-volume-size) is checked
// below this by the linkage.
const (
	maxMemoryGiB  = 1 << 24
	maxStorageGiB = 1 << 32
)

func standard() []*Category {
	id := str(AttrID, "Unique identifier of the entity", false)
	id.Server = true
	title := str(AttrTitle, "Display name of the entity", true)
	summary := str(AttrSummary, "Summarizing description of the resource", true)
	source := str(AttrSource, "The resource the link originates from", true)
	source.Required = true
	target := str(AttrTarget, "The resource the link points to", true)
	target.Required = true
	targetKind := str(AttrTargetKind, "The kind of the target", true)

	vlan := num("occi.network.vlan", "802.1q VLAN identifier", true)
	vlan.Min, vlan.Max = float(0), float(4095)
	cores := num("occi.compute.cores", "Number of virtual CPU cores", true)
	// Upper bounds keep what reaches a backend in range of its integers
	// (bytes in an int64); a backend's own limits answer below them.
	cores.Min, cores.Max = float(1), float(1<<20)
	share := num("occi.compute.share", "Relative number of CPU shares", true)
	share.Min = float(0)
	memory := num("occi.compute.memory", "Maximum RAM in GiB", false)
	memory.Min, memory.Max = float(0), float(maxMemoryGiB)
	speed := num("occi.compute.speed", "CPU clock frequency in GHz (OCCI 1.1)", false)
	speed.Min = float(0)
	size := num("occi.storage.size", "Storage size in GiB", false)
	size.Required, size.Min, size.Max = true, float(0), float(maxStorageGiB)
	iface := str("occi.networkinterface.interface", "Identifier of the link's device interface", false)
	mac := str("occi.networkinterface.mac", "MAC address of the link's device interface", true)
	deviceid := str("occi.storagelink.deviceid", "Device identifier as defined by the provider", true)
	alloc := enum("occi.networkinterface.allocation", "Address mechanism", true, "dynamic", "static")
	alloc.Default = "dynamic"
	netAlloc := enum("occi.network.allocation", "Address allocation mechanism", true, "dynamic", "static")
	sshKey := str("occi.credentials.ssh.publickey", "Public SSH key to inject", true)
	sshKey.Required = true
	userData := str("occi.compute.userdata", "Contextualization data, given once", true)
	userData.Required = true

	start := action(SchemeComputeAction, "start", "Start the compute")
	stop := action(SchemeComputeAction, "stop", "Stop the compute", method("poweroff", "graceful", "acpioff", "poweroff"))
	restart := action(SchemeComputeAction, "restart", "Restart the compute", method("warm", "graceful", "warm", "cold"))
	suspend := action(SchemeComputeAction, "suspend", "Suspend the compute", method("suspend", "hibernate", "suspend"))
	save := action(SchemeComputeAction, "save", "Save the compute's disk as a new OS template",
		method("hot", "hot", "deferred"), str("name", "Name of the new OS template", true))
	up := action(SchemeNetworkAction, "up", "Bring the network up")
	down := action(SchemeNetworkAction, "down", "Take the network down")
	online := action(SchemeStorageAction, "online", "Bring the storage online")
	offline := action(SchemeStorageAction, "offline", "Take the storage offline")
	backup := action(SchemeStorageAction, "backup", "Back the storage up (OCCI 1.1)")
	snapshot := action(SchemeStorageAction, "snapshot", "Snapshot the storage (OCCI 1.1)")
	resizeSize := num("size", "New size in GiB", false)
	resizeSize.Required, resizeSize.Min, resizeSize.Max = true, float(0), float(maxStorageGiB)
	resize := action(SchemeStorageAction, "resize", "Resize the storage (OCCI 1.1)", resizeSize)

	ids := func(cs ...*Category) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.ID()
		}
		return out
	}
	return []*Category{
		{Scheme: SchemeCore, Term: "entity", Title: "Entity", Class: ClassKind, Attributes: []Attribute{id, title}},
		{Scheme: SchemeCore, Term: "resource", Title: "Resource", Class: ClassKind, Parent: KindEntity,
			Attributes: []Attribute{summary}, Location: "/resource/"},
		{Scheme: SchemeCore, Term: "link", Title: "Link", Class: ClassKind, Parent: KindEntity,
			Attributes: []Attribute{source, target, targetKind}, Location: "/link/"},
		{Scheme: SchemeInfra, Term: "compute", Title: "Compute Resource", Class: ClassKind, Parent: KindResource,
			Location: "/compute/", Actions: ids(start, stop, restart, suspend, save),
			Attributes: []Attribute{
				enum("occi.compute.architecture", "CPU architecture", true, "x86", "x64"),
				cores,
				str("occi.compute.hostname", "Fully qualified DNS hostname", true),
				share,
				memory,
				speed,
				state("occi.compute.state", "inactive", "active", "inactive", "suspended", "error"),
				stateMessage("occi.compute.state.message"),
			}},
		{Scheme: SchemeInfra, Term: "network", Title: "Network Resource", Class: ClassKind, Parent: KindResource,
			Location: "/network/", Actions: ids(up, down),
			Attributes: []Attribute{
				vlan,
				str("occi.network.label", "Tag based VLAN label", true),
				state("occi.network.state", "inactive", "active", "inactive", "error"),
				stateMessage("occi.network.state.message"),
			}},
		{Scheme: SchemeInfra, Term: "storage", Title: "Storage Resource", Class: ClassKind, Parent: KindResource,
			Location: "/storage/", Actions: ids(online, offline, backup, snapshot, resize),
			Attributes: []Attribute{
				size,
				state("occi.storage.state", "offline", "online", "offline", "error"),
				stateMessage("occi.storage.state.message"),
			}},
		{Scheme: SchemeInfra, Term: "networkinterface", Title: "NetworkInterface Link", Class: ClassKind, Parent: KindLink,
			Location: "/networkinterface/",
			Attributes: []Attribute{
				iface, mac,
				state("occi.networkinterface.state", "inactive", "active", "inactive", "error"),
				stateMessage("occi.networkinterface.state.message"),
			}},
		{Scheme: SchemeInfra, Term: "storagelink", Title: "StorageLink Link", Class: ClassKind, Parent: KindLink,
			Location: "/storagelink/",
			Attributes: []Attribute{
				deviceid,
				str("occi.storagelink.mountpoint", "Where the storage is mounted in the guest", true),
				state("occi.storagelink.state", "inactive", "active", "inactive", "error"),
				stateMessage("occi.storagelink.state.message"),
			}},
		start, stop, restart, suspend, save, up, down, online, offline, backup, snapshot, resize,
		{Scheme: SchemeNetwork, Term: "ipnetwork", Title: "IP Networking Mixin", Class: ClassMixin,
			Applies: []string{KindNetwork}, Location: "/mixin/ipnetwork/",
			Attributes: []Attribute{
				str("occi.network.address", "IP network address in CIDR notation", true),
				str("occi.network.gateway", "IP address of the gateway", true),
				netAlloc,
			}},
		{Scheme: SchemeNetIface, Term: "ipnetworkinterface", Title: "IP Network Interface Mixin", Class: ClassMixin,
			Applies: []string{KindNetworkInterface}, Location: "/mixin/ipnetworkinterface/",
			Attributes: []Attribute{
				str("occi.networkinterface.address", "IP address of the link", true),
				str("occi.networkinterface.gateway", "IP address of the gateway", true),
				alloc,
			}},
		{Scheme: SchemeInfra, Term: "os_tpl", Title: "OS Template", Class: ClassMixin,
			Applies: []string{KindCompute}, Location: "/mixin/os_tpl/"},
		{Scheme: SchemeInfra, Term: "resource_tpl", Title: "Resource Template", Class: ClassMixin,
			Applies: []string{KindCompute}, Location: "/mixin/resource_tpl/"},
		{Scheme: SchemeCredentials, Term: "ssh_key", Title: "Credentials Mixin", Class: ClassMixin,
			Applies: []string{KindCompute}, Location: "/mixin/ssh_key/", Attributes: []Attribute{sshKey}},
		{Scheme: SchemeCompute, Term: "user_data", Title: "Contextualization Mixin", Class: ClassMixin,
			Applies: []string{KindCompute}, Location: "/mixin/user_data/", Attributes: []Attribute{userData}},
	}
}

// registry indexes the provider's categories: the standard ones and the
// templates of the catalogue. It never changes after New, so it may be
// shared; user-defined mixins live in the database and are merged per
// request (see model).
type registry struct {
	byID  map[string]*Category
	byLoc map[string]*Category
	order []*Category
}

func newRegistry(cats []*Category) *registry {
	r := &registry{byID: map[string]*Category{}, byLoc: map[string]*Category{}}
	for _, c := range cats {
		r.byID[c.ID()] = c
		if c.Location != "" {
			r.byLoc[c.Location] = c
		}
		r.order = append(r.order, c)
	}
	return r
}

// model is the registry plus the user-defined mixins read from the
// database for one request.
type model struct {
	*registry
	user map[string]*Category
	ulo  map[string]*Category
}

func (m *model) get(id string) *Category {
	if c := m.byID[id]; c != nil {
		return c
	}
	return m.user[id]
}

func (m *model) at(path string) *Category {
	if c := m.byLoc[path]; c != nil {
		return c
	}
	return m.ulo[path]
}

// all lists every category, provider ones first, user mixins sorted.
func (m *model) all() []*Category {
	out := append([]*Category(nil), m.order...)
	users := make([]*Category, 0, len(m.user))
	for _, c := range m.user {
		users = append(users, c)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ID() < users[j].ID() })
	return append(out, users...)
}

// isA tells whether kind is base or one of its descendants.
func (m *model) isA(kind, base string) bool {
	for k := kind; k != ""; {
		if k == base {
			return true
		}
		c := m.get(k)
		if c == nil {
			return false
		}
		k = c.Parent
	}
	return false
}

// dependsOn tells whether mixin depends (transitively) on base.
func (m *model) dependsOn(mixin, base string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(id string) bool {
		if id == base {
			return true
		}
		if seen[id] {
			return false
		}
		seen[id] = true
		c := m.get(id)
		if c == nil {
			return false
		}
		for _, d := range c.Depends {
			if walk(d) {
				return true
			}
		}
		return false
	}
	return walk(mixin)
}

// subKinds lists base and every kind descending from it.
func (m *model) subKinds(base string) []string {
	var out []string
	for _, c := range m.order {
		if c.Class == ClassKind && m.isA(c.ID(), base) {
			out = append(out, c.ID())
		}
	}
	return out
}

// attrDefs collects the attribute definitions an entity of kind with
// mixins exposes: the kind's chain, then the mixins and what they depend on.
func (m *model) attrDefs(kind string, mixins []string) map[string]*Attribute {
	defs := map[string]*Attribute{}
	for k := kind; k != ""; {
		c := m.get(k)
		if c == nil {
			break
		}
		for i := range c.Attributes {
			if _, ok := defs[c.Attributes[i].Name]; !ok {
				defs[c.Attributes[i].Name] = &c.Attributes[i]
			}
		}
		k = c.Parent
	}
	seen := map[string]bool{}
	var add func(string)
	add = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		c := m.get(id)
		if c == nil {
			return
		}
		for i := range c.Attributes {
			// A mixin's definition (a template's default) wins over the kind's.
			defs[c.Attributes[i].Name] = &c.Attributes[i]
		}
		for _, d := range c.Depends {
			add(d)
		}
	}
	for _, id := range mixins {
		add(id)
	}
	return defs
}
