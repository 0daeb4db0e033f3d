package app

// Who is asking: the authentication middleware around the router, the
// secure-by-default rule for the listen address, and TLS for the server.
//
// The mechanisms run in this order, the first that finds credentials of its
// kind deciding (auth.Chain): a Keystone token (X-Auth-Token), HTTP Basic
// against the users file, the X.509 client certificate of the TLS
// connection. Credentials the client put in the request come before the
// certificate of the connection it happens to use. Bad or expired
// credentials are a 401 with the reason, never a fall-through to the next
// mechanism or to anonymous; Keystone unreachable is a 503 with Retry-After.
//
// With no mechanism configured the server is in development mode: every
// request acts as the administrator, as before authentication existed, and
// the server listens on loopback only (or anywhere with --insecure-no-auth,
// logged as a warning at every start).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/occicdmi/occicdmi/internal/auth"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/web"
)

// checkAuth checks the authentication and TLS settings (fill calls it).
func (c *Config) checkAuth() error {
	c.KeystoneURL = strings.TrimRight(c.KeystoneURL, "/")
	c.KeystonePublicURL = strings.TrimRight(c.KeystonePublicURL, "/")
	switch {
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case c.TLSClientCA != "" && c.TLSCert == "":
		return errors.New("--tls-client-ca needs --tls-cert and --tls-key: client certificates come over TLS")
	case (c.TLSClientCA == "") != (c.X509Map == ""):
		return errors.New("--tls-client-ca and --x509-map go together: the CAs client certificates come from, and the projects their subjects act in")
	case c.KeystoneURL == "" && (c.KeystonePublicURL != "" || c.KeystoneUser != "" || c.KeystonePassword != "" ||
		c.KeystoneProject != "" || c.KeystoneDomain != ""):
		return errors.New("the Keystone settings need --keystone-url")
	case c.KeystoneUser != "" && (c.KeystonePassword == "" || c.KeystoneProject == ""):
		return errors.New("--keystone-user needs --keystone-password and --keystone-project")
	case c.KeystoneUser == "" && (c.KeystonePassword != "" || c.KeystoneProject != ""):
		return errors.New("--keystone-password and --keystone-project need --keystone-user")
	}
	for _, u := range []string{c.KeystoneURL, c.KeystonePublicURL} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("the Keystone URL %q: want http(s)://host[:port]/v3", u)
		}
	}
	return nil
}

// authMechanisms names the configured mechanisms, in the order they run.
func (c *Config) authMechanisms() []string {
	var m []string
	if c.KeystoneURL != "" {
		m = append(m, "keystone")
	}
	if c.UsersFile != "" {
		m = append(m, "basic")
	}
	if c.X509Map != "" {
		m = append(m, "x509")
	}
	return m
}

// checkListen refuses to serve beyond this machine without
// authentication: with no mechanism configured, the listen address must be
// a loopback one unless InsecureNoAuth.
func checkListen(cfg Config) error {
	if len(cfg.authMechanisms()) > 0 || cfg.InsecureNoAuth {
		return nil
	}
	loop, err := loopbackAddress(cfg.Listen)
	if err != nil {
		return err
	}
	if !loop {
		return fmt.Errorf("refusing to listen on %s without authentication: configure --keystone-url, --users-file "+
			"or --tls-client-ca with --x509-map, listen on a loopback address (127.0.0.1:8080), "+
			"or give --insecure-no-auth to let anyone who reaches the port act as the administrator", cfg.Listen)
	}
	return nil
}

// loopbackAddress reports whether a listen address (host:port) is on
// loopback only. An empty host or an unspecified address is every
// interface; a name is loopback when every address it resolves to is.
func loopbackAddress(listen string) (bool, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %w", listen, err)
	}
	if host == "" {
		return false, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback(), nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %w", listen, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false, nil
		}
	}
	return len(ips) > 0, nil
}

// startAuth is the start-up check and log line of the authentication mode:
// Serve refuses to start when it fails.
func startAuth(cfg Config, log *slog.Logger) error {
	if err := checkListen(cfg); err != nil {
		return err
	}
	mechs := cfg.authMechanisms()
	switch {
	case len(mechs) > 0:
		log.Info("authentication", "mechanisms", strings.Join(mechs, ","), "tls", cfg.TLSCert != "")
		if cfg.InsecureNoAuth {
			log.Warn("--insecure-no-auth ignored: authentication is configured")
		}
	case cfg.InsecureNoAuth:
		log.Warn("insecure: no authentication (--insecure-no-auth), every request acts as the administrator", "address", cfg.Listen)
	default:
		log.Info("development mode: no authentication, loopback only", "address", cfg.Listen)
	}
	return nil
}

// devPrincipal is who a request acts for without authentication configured
// (development mode, --insecure-no-auth): the administrator. One value
// for every request: a principal in a context is only ever read.
var devPrincipal = &auth.Principal{User: "admin", Roles: []string{auth.DefaultAdminRole}, Admin: true, Method: "none"}

// authenticator is the middleware: the configured mechanisms in order.
type authenticator struct {
	chain      auth.Chain     // empty: no authentication configured
	challenges []string       // WWW-Authenticate values of a 401
	how        string         // what a 401 without credentials tells the client to send
	insecure   bool           // --insecure-no-auth: no loopback rule
	keystone   *auth.Keystone // nil without --keystone-url; /readyz asks it
	log        *slog.Logger
}

// readyChecks are what /readyz asks of the authentication: Keystone's v3
// endpoint when configured (the users and mapping files are read locally).
func (a *authenticator) readyChecks() []readyCheck {
	if a.keystone == nil {
		return nil
	}
	return []readyCheck{{"keystone", "", a.keystone.Ping}}
}

// newAuthenticator opens the mechanisms cfg configures.
func newAuthenticator(cfg Config, log *slog.Logger) (*authenticator, error) {
	a := &authenticator{insecure: cfg.InsecureNoAuth, log: log}
	var how []string
	if cfg.KeystoneURL != "" {
		k, err := auth.NewKeystone(auth.KeystoneConfig{
			URL: cfg.KeystoneURL, PublicURL: cfg.KeystonePublicURL,
			User: cfg.KeystoneUser, Password: cfg.KeystonePassword, Project: cfg.KeystoneProject,
			UserDomain: cfg.KeystoneDomain, ProjectDomain: cfg.KeystoneDomain,
		})
		if err != nil {
			return nil, err
		}
		a.chain = append(a.chain, k)
		a.keystone = k
		public := cfg.KeystonePublicURL
		if public == "" {
			public = cfg.KeystoneURL
		}
		how = append(how, "an X-Auth-Token from Keystone at "+public)
	}
	if cfg.UsersFile != "" {
		b, err := auth.NewBasic(auth.BasicConfig{File: cfg.UsersFile})
		if err != nil {
			return nil, fmt.Errorf("users file (make it with occicdmi users add): %w", err)
		}
		a.chain = append(a.chain, b)
		how = append(how, "HTTP Basic credentials")
	}
	if cfg.X509Map != "" {
		x, err := auth.NewX509(auth.X509Config{MappingFile: cfg.X509Map})
		if err != nil {
			return nil, fmt.Errorf("X.509 mapping file: %w", err)
		}
		a.chain = append(a.chain, x)
		how = append(how, "a client certificate over TLS")
	}
	a.challenges = a.chain.Challenges()
	a.how = strings.Join(how, ", or ")
	return a, nil
}

// wrap authenticates every request before next: its principal in the
// context (auth.WithPrincipal), or a 401 / 503 and next never runs.
func (a *authenticator) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := a.authenticate(w, r, r.Context()); ok {
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		}
	})
}

// authenticate is the principal r acts for; when there is none, it has
// answered (401, 403 or 503) and ok is false. ctx is r's context with its
// request ID (front makes the handler's copy of r only after this): the
// answers and log lines of a refusal name it.
func (a *authenticator) authenticate(w http.ResponseWriter, r *http.Request, ctx context.Context) (p *auth.Principal, ok bool) {
	if len(a.chain) == 0 {
		if !a.insecure && !loopbackConn(r) {
			// An embedder serving app.New's handler elsewhere:
			// development mode stays on this machine.
			http.Error(w, "no authentication is configured: this server only serves loopback (development mode)", http.StatusForbidden)
			return nil, false
		}
		return devPrincipal, true
	}
	p, err := a.chain.Authenticate(r)
	if err == nil {
		return p, true
	}
	if errors.Is(err, auth.ErrNoCredentials) {
		a.challenge(w)
		http.Error(w, "authentication required: send "+a.how, http.StatusUnauthorized)
		return nil, false
	}
	r = r.WithContext(ctx)
	status, msg := web.Answer(w, r, a.log, err)
	switch {
	case status == http.StatusUnauthorized || kind.Of(err) == kind.Unauthenticated:
		status = http.StatusUnauthorized
		a.challenge(w)
		a.log.InfoContext(r.Context(), "authentication refused", "request_id", web.RequestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", msg)
	case status == http.StatusServiceUnavailable:
		msg = "authentication unavailable: " + msg
	}
	http.Error(w, msg, status)
	return nil, false
}

func (a *authenticator) challenge(w http.ResponseWriter) {
	for _, c := range a.challenges {
		w.Header().Add("WWW-Authenticate", c)
	}
}

// loopbackConn reports whether the request came in on a loopback address
// (true when the server does not say: a handler called directly).
func loopbackConn(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	return !ok || addr.IP.IsLoopback()
}

// tlsConfig is the server's TLS configuration, nil without --tls-cert:
// TLS 1.2 and up with Go's cipher suites, HTTP/2 (http.Server adds h2),
// and client certificates asked for and verified against --tls-client-ca
// when X.509 authentication is on (a certificate from another CA fails the
// handshake; none at all leaves the other mechanisms to decide).
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if cfg.TLSClientCA != "" {
		pool, err := auth.LoadClientCAs(cfg.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("TLS client CAs: %w", err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// listenAndServe serves srv over TLS when it has a TLS configuration,
// plain HTTP otherwise.
func listenAndServe(srv *http.Server, log *slog.Logger) error {
	if srv.ErrorLog == nil {
		// TLS handshake failures and the like, in the server's log.
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelInfo)
	}
	if srv.TLSConfig != nil {
		return srv.ListenAndServeTLS("", "")
	}
	return srv.ListenAndServe()
}
