package app

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/occicdmi/occicdmi/occi"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// Config is the whole configuration of a server process. Each field can be
// set from a JSON config file, an OCCICDMI_* environment variable and a
// command-line flag; a flag beats the environment, which beats the file.
type Config struct {
	Listen    string `json:"listen"`     // --listen, OCCICDMI_LISTEN
	DataDir   string `json:"data"`       // --data, OCCICDMI_DATA
	Database  string `json:"database"`   // --database, OCCICDMI_DATABASE: SQLite file path or postgres://...
	BaseURL   string `json:"base_url"`   // --base-url, OCCICDMI_BASE_URL
	LogFormat string `json:"log_format"` // --log-format: text, json or auto

	OpsListen   string `json:"ops_listen"`   // --ops-listen: also serve /metrics, /healthz, /readyz here (default: off)
	PprofListen string `json:"pprof_listen"` // --pprof-listen: serve net/http/pprof here (default: off)
	// MetricsPublic serves /metrics on the main listener without
	// credentials (/healthz and /readyz always are).
	MetricsPublic bool `json:"metrics_public"` // --metrics-public

	// What one client can hold (limits.go, README "Limits"); durations as
	// "30s", "2m".
	HeaderTimeout  string `json:"header_timeout"`   // --header-timeout: to read a request's headers
	IdleTimeout    string `json:"idle_timeout"`     // --idle-timeout: a keep-alive connection between requests
	BodyMinRate    uint32 `json:"body_min_rate"`    // --body-min-rate: bytes/s a request body must keep up (0: no minimum)
	BodyRateWindow string `json:"body_rate_window"` // --body-rate-window: waiting time over which the rate is measured
	MaxUploads     uint32 `json:"max_uploads"`      // --max-uploads: requests with a body at once (0: no cap)
	AllowedOrigins string `json:"allowed_origins"`  // --allowed-origins: web origins besides ours that may write from a browser
	// RemoveOrphanVMs removes, at start-up, machines of the compute
	// backend that no OCCI compute refers to (else they are only logged).
	RemoveOrphanVMs bool `json:"remove_orphan_vms"` // --remove-orphan-vms
	limits          limits

	Compute    string `json:"compute"`     // --compute: sim or libvirt
	LibvirtURI string `json:"libvirt_uri"` // --libvirt-uri
	ImageDir   string `json:"image_dir"`   // --image-dir: base images and overlays for libvirt
	Catalogue  string `json:"catalogue"`   // --catalogue: OCCI template catalogue file

	Objects     string `json:"objects"`       // --objects: fs, s3 or rados
	Volumes     string `json:"volumes"`       // --volumes: fs, rbd or s3
	S3Endpoint  string `json:"s3_endpoint"`   // --s3-endpoint
	S3Region    string `json:"s3_region"`     // --s3-region
	S3Bucket    string `json:"s3_bucket"`     // --s3-bucket
	S3AccessKey string `json:"s3_access_key"` // --s3-access-key (else the SDK's credential chain)
	S3SecretKey string `json:"s3_secret_key"` // --s3-secret-key
	S3ReadAhead uint32 `json:"s3_read_ahead"` // --s3-read-ahead: parallel ranged GETs per read (0: one GET)
	CephConf    string `json:"ceph_conf"`     // --ceph-conf (CEPH_CONF also read)
	CephPool    string `json:"ceph_pool"`     // --ceph-pool

	// NBD over TCP for a hypervisor on another host (nbd.go): with TLS on
	// --nbd-listen, or plain on an address the operator names private.
	NBDListen     string `json:"nbd_listen"`      // --nbd-listen host:port: NBD over TCP, TLS required
	NBDPrivateNet string `json:"nbd_private_net"` // --nbd-private-net host:port: NBD over plain TCP on a private address
	NBDAddress    string `json:"nbd_address"`     // --nbd-address host:port: what QEMU dials (default: the listen address)
	NBDTLSCert    string `json:"nbd_tls_cert"`    // --nbd-tls-cert: the NBD server's certificate (PEM)
	NBDTLSKey     string `json:"nbd_tls_key"`     // --nbd-tls-key: its key (PEM)
	NBDTLSCA      string `json:"nbd_tls_ca"`      // --nbd-tls-ca: CAs of the hypervisors' client certificates (PEM; required then)

	CDMIRoot         string `json:"cdmi_root"`         // --cdmi-root
	EnterpriseNumber uint32 `json:"enterprise_number"` // --enterprise-number, in CDMI object IDs

	// Who is asking (auth.go): Keystone tokens, HTTP Basic, X.509 client
	// certificates; none of them is development mode (loopback only).
	KeystoneURL       string `json:"keystone_url"`        // --keystone-url: identity v3 endpoint validating X-Auth-Token
	KeystonePublicURL string `json:"keystone_public_url"` // --keystone-public-url: told to clients in WWW-Authenticate
	KeystoneUser      string `json:"keystone_user"`       // --keystone-user: service user validating tokens
	KeystonePassword  string `json:"keystone_password"`   // --keystone-password
	KeystoneProject   string `json:"keystone_project"`    // --keystone-project: the service user's project
	KeystoneDomain    string `json:"keystone_domain"`     // --keystone-domain: of the service user and project
	UsersFile         string `json:"users_file"`          // --users-file: HTTP Basic users (occicdmi users add)
	TLSCert           string `json:"tls_cert"`            // --tls-cert: serve HTTPS with this certificate (PEM)
	TLSKey            string `json:"tls_key"`             // --tls-key: and its key (PEM)
	TLSClientCA       string `json:"tls_client_ca"`       // --tls-client-ca: CAs of X.509 client certificates
	X509Map           string `json:"x509_map"`            // --x509-map: subject DN -> project mapping file
	InsecureNoAuth    bool   `json:"insecure_no_auth"`    // --insecure-no-auth: no authentication on any address

	// Per-project OCCI quotas (tenants.go): the limit of every project,
	// empty for none, and the projects whose limits differ.
	QuotaCores     string `json:"quota_cores"`     // --quota-cores: cores of a project's computes
	QuotaMemory    string `json:"quota_memory"`    // --quota-memory: GiB of memory of a project's computes
	QuotaStorage   string `json:"quota_storage"`   // --quota-storage: GiB of a project's storage
	QuotaInstances string `json:"quota_instances"` // --quota-instances: how many computes a project may have
	QuotaProjects  string `json:"quota_projects"`  // --quota-projects: "demo:cores=4,memory=8;other:instances=2"
	quotas         occi.Quotas
	// Limits (README "Limits"): sizes as "64GiB", "4TiB" or bytes.
	MaxValueSize  string `json:"max_value_size"`  // --max-value-size: largest CDMI data object value
	MaxVolumeSize string `json:"max_volume_size"` // --max-volume-size: largest block volume (OCCI storage, exported container)
}

// Defaults is the embedded configuration: one process, an SQLite file, files
// on local disk and the simulated compute backend.
func Defaults() Config {
	return Config{
		Listen:           "127.0.0.1:8080",
		DataDir:          "occicdmi-data",
		LogFormat:        "auto",
		Compute:          "sim",
		LibvirtURI:       "qemu:///system",
		Objects:          "fs",
		Volumes:          "fs",
		S3Region:         "us-east-1",
		S3Bucket:         "occicdmi",
		CephPool:         "rbd",
		CDMIRoot:         "/cdmi",
		EnterpriseNumber: 32473, // IANA's example number (RFC 5612), the one the CDMI spec's IDs use
		MaxValueSize:     DefaultMaxValueSize,
		MaxVolumeSize:    DefaultMaxVolumeSize,
		HeaderTimeout:    "30s",
		IdleTimeout:      "2m",
		BodyMinRate:      1024,
		BodyRateWindow:   "20s",
		MaxUploads:       256,
	}
}

// The default limits: a value or a volume larger than these is refused
// with 4xx before any backend is asked (README "Limits").
const (
	DefaultMaxValueSize  = "64GiB"
	DefaultMaxVolumeSize = "4TiB"
)

// field binds a config field to its flag, environment variable and usage.
type field struct {
	flag, env, usage string
	str              *string
	num              *uint32
}

func (c *Config) fields() []field {
	return []field{
		{"listen", "OCCICDMI_LISTEN", "address to listen on", &c.Listen, nil},
		{"data", "OCCICDMI_DATA", "folder for the SQLite file, values and volumes", &c.DataDir, nil},
		{"database", "OCCICDMI_DATABASE", "SQLite file path, or a postgres:// URL (default: <data>/occicdmi.db)", &c.Database, nil},
		{"base-url", "OCCICDMI_BASE_URL", "public base URL used in absolute locations (default: from each request's Host)", &c.BaseURL, nil},
		{"log-format", "OCCICDMI_LOG_FORMAT", "text, json or auto (text on a terminal)", &c.LogFormat, nil},
		{"ops-listen", "OCCICDMI_OPS_LISTEN", "also serve /metrics, /healthz and /readyz on this address (default: off; always on --listen too)", &c.OpsListen, nil},
		{"pprof-listen", "OCCICDMI_PPROF_LISTEN", "serve net/http/pprof under /debug/pprof/ on this address (default: off; keep it on loopback)", &c.PprofListen, nil},
		{"header-timeout", "OCCICDMI_HEADER_TIMEOUT", "time a client has to send a request's headers", &c.HeaderTimeout, nil},
		{"idle-timeout", "OCCICDMI_IDLE_TIMEOUT", "time a keep-alive connection may wait for its next request", &c.IdleTimeout, nil},
		{"body-min-rate", "OCCICDMI_BODY_MIN_RATE", "bytes per second a request body must arrive at, measured over --body-rate-window; a slower one is cut with 408 (0: no minimum)", nil, &c.BodyMinRate},
		{"body-rate-window", "OCCICDMI_BODY_RATE_WINDOW", "time spent waiting for a request body over which --body-min-rate is measured", &c.BodyRateWindow, nil},
		{"max-uploads", "OCCICDMI_MAX_UPLOADS", "requests with a body served at once; more answer 503 with Retry-After (0: no cap)", nil, &c.MaxUploads},
		{"allowed-origins", "OCCICDMI_ALLOWED_ORIGINS", "comma-separated web origins (https://app.example.org) besides the server's own allowed to send POST/PUT/DELETE/PATCH from a browser", &c.AllowedOrigins, nil},
		{"compute", "OCCICDMI_COMPUTE", "compute backend: sim or libvirt", &c.Compute, nil},
		{"libvirt-uri", "OCCICDMI_LIBVIRT_URI", "libvirt URI: qemu:///system, qemu+tcp://host/system, qemu+tls://host/system", &c.LibvirtURI, nil},
		{"image-dir", "OCCICDMI_IMAGE_DIR", "folder of base images and VM overlays (default: <data>/images)", &c.ImageDir, nil},
		{"catalogue", "OCCICDMI_CATALOGUE", "OCCI os_tpl/resource_tpl catalogue file (default: built-in)", &c.Catalogue, nil},
		{"objects", "OCCICDMI_OBJECTS", "object value backend: fs, s3 or rados", &c.Objects, nil},
		{"volumes", "OCCICDMI_VOLUMES", "block volume backend: fs, rbd or s3", &c.Volumes, nil},
		{"s3-endpoint", "OCCICDMI_S3_ENDPOINT", "S3 endpoint URL (path-style addressing)", &c.S3Endpoint, nil},
		{"s3-region", "OCCICDMI_S3_REGION", "S3 region", &c.S3Region, nil},
		{"s3-bucket", "OCCICDMI_S3_BUCKET", "S3 bucket", &c.S3Bucket, nil},
		{"s3-access-key", "OCCICDMI_S3_ACCESS_KEY", "S3 access key (default: the SDK's credential chain)", &c.S3AccessKey, nil},
		{"s3-secret-key", "OCCICDMI_S3_SECRET_KEY", "S3 secret key", &c.S3SecretKey, nil},
		{"s3-read-ahead", "OCCICDMI_S3_READ_AHEAD", "read values longer than 16 MiB from S3 as 16 MiB ranged GETs, this many at once (0: one GET per read, the fastest on a local radosgw)", nil, &c.S3ReadAhead},
		{"ceph-conf", "OCCICDMI_CEPH_CONF", "ceph.conf path (default: $CEPH_CONF)", &c.CephConf, nil},
		{"ceph-pool", "OCCICDMI_CEPH_POOL", "Ceph pool for RBD volumes and RADOS values", &c.CephPool, nil},
		{"nbd-listen", "OCCICDMI_NBD_LISTEN", "serve volumes over NBD on this TCP address too, for a hypervisor on another host; TLS required (--nbd-tls-cert, --nbd-tls-key)", &c.NBDListen, nil},
		{"nbd-private-net", "OCCICDMI_NBD_PRIVATE_NET", "serve volumes over NBD without TLS on this TCP address, which you vouch only trusted hosts reach", &c.NBDPrivateNet, nil},
		{"nbd-address", "OCCICDMI_NBD_ADDRESS", "host:port the hypervisor dials for NBD (default: the NBD listen address)", &c.NBDAddress, nil},
		{"nbd-tls-cert", "OCCICDMI_NBD_TLS_CERT", "certificate (PEM) of NBD over TCP", &c.NBDTLSCert, nil},
		{"nbd-tls-key", "OCCICDMI_NBD_TLS_KEY", "private key (PEM) of --nbd-tls-cert", &c.NBDTLSKey, nil},
		{"nbd-tls-ca", "OCCICDMI_NBD_TLS_CA", "CA certificates (PEM) the hypervisors' NBD client certificates must chain to (then required)", &c.NBDTLSCA, nil},
		{"cdmi-root", "OCCICDMI_CDMI_ROOT", "path of the CDMI root container", &c.CDMIRoot, nil},
		{"enterprise-number", "OCCICDMI_ENTERPRISE_NUMBER", "IANA enterprise number inside CDMI object IDs", nil, &c.EnterpriseNumber},
		{"keystone-url", "OCCICDMI_KEYSTONE_URL", "Keystone identity v3 URL validating X-Auth-Token (e.g. http://keystone:5000/v3)", &c.KeystoneURL, nil},
		{"keystone-public-url", "OCCICDMI_KEYSTONE_PUBLIC_URL", "Keystone URL told to clients in WWW-Authenticate (default: --keystone-url)", &c.KeystonePublicURL, nil},
		{"keystone-user", "OCCICDMI_KEYSTONE_USER", "Keystone service user validating tokens (default: each token validates itself)", &c.KeystoneUser, nil},
		{"keystone-password", "OCCICDMI_KEYSTONE_PASSWORD", "password of the Keystone service user", &c.KeystonePassword, nil},
		{"keystone-project", "OCCICDMI_KEYSTONE_PROJECT", "project of the Keystone service user", &c.KeystoneProject, nil},
		{"keystone-domain", "OCCICDMI_KEYSTONE_DOMAIN", "domain of the Keystone service user and project (default: Default)", &c.KeystoneDomain, nil},
		{"users-file", "OCCICDMI_USERS_FILE", "HTTP Basic users file (occicdmi users add|remove|list)", &c.UsersFile, nil},
		{"tls-cert", "OCCICDMI_TLS_CERT", "serve HTTPS with this certificate (PEM; with --tls-key)", &c.TLSCert, nil},
		{"tls-key", "OCCICDMI_TLS_KEY", "private key of --tls-cert (PEM)", &c.TLSKey, nil},
		{"tls-client-ca", "OCCICDMI_TLS_CLIENT_CA", "CA certificates (PEM) of X.509 client certificates (with --x509-map)", &c.TLSClientCA, nil},
		{"max-value-size", "OCCICDMI_MAX_VALUE_SIZE", "largest CDMI data object value, e.g. 64GiB (writes past it get 413)", &c.MaxValueSize, nil},
		{"max-volume-size", "OCCICDMI_MAX_VOLUME_SIZE", "largest block volume, e.g. 4TiB (larger OCCI storage or exported containers get 400)", &c.MaxVolumeSize, nil},
		{"x509-map", "OCCICDMI_X509_MAP", "JSON file mapping client certificate subject DNs to projects and roles", &c.X509Map, nil},
		{"quota-cores", "OCCICDMI_QUOTA_CORES", "most cores a project's OCCI computes may have together (default: no limit)", &c.QuotaCores, nil},
		{"quota-memory", "OCCICDMI_QUOTA_MEMORY", "most GiB of memory a project's OCCI computes may have together (default: no limit)", &c.QuotaMemory, nil},
		{"quota-storage", "OCCICDMI_QUOTA_STORAGE", "most GiB a project's OCCI storage may have together (default: no limit)", &c.QuotaStorage, nil},
		{"quota-instances", "OCCICDMI_QUOTA_INSTANCES", "most OCCI computes a project may have (default: no limit)", &c.QuotaInstances, nil},
		{"quota-projects", "OCCICDMI_QUOTA_PROJECTS", `per-project quotas overriding the --quota-* ones, e.g. "demo:cores=4,memory=8;other:instances=2" (projects by Keystone project ID, else name)`, &c.QuotaProjects, nil},
	}
}

// Load builds the configuration from defaults, the config file (--config or
// OCCICDMI_CONFIG), the environment and the flags in args, in rising order
// of precedence.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := Defaults()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", getenv("OCCICDMI_CONFIG"), "JSON configuration file (env OCCICDMI_CONFIG)")
	noAuth := fs.Bool("insecure-no-auth", false, "serve without authentication on any address, not only loopback (env OCCICDMI_INSECURE_NO_AUTH)")
	removeOrphans := fs.Bool("remove-orphan-vms", false, "at start-up, delete compute backend machines no OCCI compute refers to (default: only log them) (env OCCICDMI_REMOVE_ORPHAN_VMS)")
	metricsPublic := fs.Bool("metrics-public", false, "serve /metrics on --listen without credentials when authentication is on (default: credentials needed, as for everything but /healthz and /readyz) (env OCCICDMI_METRICS_PUBLIC)")
	// The flags write into a scratch copy; only the ones given are applied
	// at the end, so that the environment and file are not overridden by
	// flag defaults.
	scratch := cfg
	for _, f := range scratch.fields() {
		usage := fmt.Sprintf("%s (env %s)", f.usage, f.env)
		if f.str != nil {
			fs.StringVar(f.str, f.flag, *f.str, usage)
		} else {
			fs.Var((*uint32Value)(f.num), f.flag, usage)
		}
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *configFile != "" {
		raw, err := os.ReadFile(*configFile)
		if err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", *configFile, err)
		}
	}
	mine := cfg.fields()
	theirs := scratch.fields()
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for i, f := range mine {
		if v := getenv(f.env); v != "" {
			if f.str != nil {
				*f.str = v
			} else {
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return cfg, fmt.Errorf("%s=%q: not a number", f.env, v)
				}
				*f.num = uint32(n)
			}
		}
		if given[f.flag] {
			if f.str != nil {
				*f.str = *theirs[i].str
			} else {
				*f.num = *theirs[i].num
			}
		}
	}
	for _, b := range []struct {
		flag, env string
		given     *bool
		field     *bool
	}{
		{"insecure-no-auth", "OCCICDMI_INSECURE_NO_AUTH", noAuth, &cfg.InsecureNoAuth},
		{"remove-orphan-vms", "OCCICDMI_REMOVE_ORPHAN_VMS", removeOrphans, &cfg.RemoveOrphanVMs},
		{"metrics-public", "OCCICDMI_METRICS_PUBLIC", metricsPublic, &cfg.MetricsPublic},
	} {
		if v := getenv(b.env); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, fmt.Errorf("%s=%q: not true or false", b.env, v)
			}
			*b.field = on
		}
		if given[b.flag] {
			*b.field = *b.given
		}
	}
	if cfg.CephConf == "" {
		cfg.CephConf = getenv("CEPH_CONF")
	}
	return cfg, cfg.fill()
}

// fill derives the settings that default from others and checks the result.
func (c *Config) fill() error {
	if c.DataDir == "" {
		return fmt.Errorf("the data folder must not be empty")
	}
	if c.Database == "" {
		c.Database = filepath.Join(c.DataDir, "occicdmi.db")
	}
	if c.ImageDir == "" {
		c.ImageDir = filepath.Join(c.DataDir, "images")
	}
	c.CDMIRoot = "/" + strings.Trim(c.CDMIRoot, "/")
	if c.CDMIRoot == "/" {
		return fmt.Errorf("the CDMI root must not be /: OCCI lives there")
	}
	if occi.Reserved(c.CDMIRoot) {
		return fmt.Errorf("the CDMI root must not be %s: it is reserved for the operator endpoints", c.CDMIRoot)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	for _, l := range []struct{ name, v string }{{"max-value-size", c.MaxValueSize}, {"max-volume-size", c.MaxVolumeSize}} {
		if n, err := storagebackends.ParseSize(l.v); err != nil || n <= 0 {
			return fmt.Errorf("--%s %q: want a positive size such as 64GiB", l.name, l.v)
		}
	}
	switch c.LogFormat {
	case "text", "json", "auto":
	default:
		return fmt.Errorf("log format %q: want text, json or auto", c.LogFormat)
	}
	if err := c.checkLimits(); err != nil {
		return err
	}
	if err := c.checkQuotas(); err != nil {
		return err
	}
	if err := c.checkNBD(); err != nil {
		return err
	}
	return c.checkAuth()
}

type uint32Value uint32

func (v *uint32Value) String() string {
	if v == nil {
		return "0"
	}
	return strconv.FormatUint(uint64(*v), 10)
}

func (v *uint32Value) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("not a number: %q", s)
	}
	*v = uint32Value(n)
	return nil
}
