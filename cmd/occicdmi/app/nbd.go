package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"github.com/occicdmi/occicdmi/linkage"
)

// NBD over TCP, for a hypervisor on another host (issue 9: "over TCP for
// a remote one only with TLS or on an address the operator names as
// private"). The Unix socket under the data folder is served either way.

// checkNBD refuses NBD settings that cannot work or would serve volumes in
// the clear by mistake.
func (c *Config) checkNBD() error {
	if c.NBDListen != "" && c.NBDPrivateNet != "" {
		return fmt.Errorf("give --nbd-listen (TLS) or --nbd-private-net (plain TCP), not both")
	}
	tlsGiven := c.NBDTLSCert != "" || c.NBDTLSKey != "" || c.NBDTLSCA != ""
	switch {
	case c.NBDListen != "" && (c.NBDTLSCert == "" || c.NBDTLSKey == ""):
		return fmt.Errorf("--nbd-listen serves NBD over TCP with TLS only: give --nbd-tls-cert and --nbd-tls-key (or --nbd-private-net for an address only trusted hosts reach)")
	case c.NBDListen == "" && tlsGiven:
		return fmt.Errorf("--nbd-tls-cert, --nbd-tls-key and --nbd-tls-ca go with --nbd-listen")
	case c.NBDListen == "" && c.NBDPrivateNet == "" && c.NBDAddress != "":
		return fmt.Errorf("--nbd-address goes with --nbd-listen or --nbd-private-net")
	}
	listen := c.NBDListen + c.NBDPrivateNet
	if listen == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("NBD listen address %q: want host:port: %v", listen, err)
	}
	if c.NBDAddress != "" {
		if h, p, err := net.SplitHostPort(c.NBDAddress); err != nil || h == "" || p == "" || p == "0" {
			return fmt.Errorf("--nbd-address %q: want host:port", c.NBDAddress)
		}
	} else if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("NBD listen address %q names no host the hypervisor can dial: give --nbd-address", listen)
	}
	return nil
}

// nbdConfig fills the linkage's NBD-over-TCP settings.
func nbdConfig(c Config, lc *linkage.Config) error {
	lc.NBDListen, lc.NBDAddress = c.NBDListen+c.NBDPrivateNet, c.NBDAddress
	lc.NBDPrivate = c.NBDPrivateNet != ""
	if c.NBDListen == "" {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(c.NBDTLSCert, c.NBDTLSKey)
	if err != nil {
		return fmt.Errorf("NBD TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if c.NBDTLSCA != "" {
		pem, err := os.ReadFile(c.NBDTLSCA)
		if err != nil {
			return fmt.Errorf("NBD TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("NBD TLS CA %s holds no PEM certificate", c.NBDTLSCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	lc.NBDTLS = cfg
	return nil
}
