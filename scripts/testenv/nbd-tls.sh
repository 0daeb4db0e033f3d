#!/usr/bin/env bash
# Certificates for NBD over TCP with TLS between QEMU and occicdmi
# (linkage: --nbd-listen with --nbd-tls-cert/--nbd-tls-key/--nbd-tls-ca).
#
#   nbd-tls.sh DIR    make, once, a test CA and
#                     DIR/{ca-cert.pem,server-cert.pem,server-key.pem}
#                     (occicdmi's side: localhost and 127.0.0.1), and QEMU's
#                     client side in /etc/pki/qemu/{ca-cert.pem,client-cert.pem,
#                     client-key.pem}, readable by group libvirt-qemu.
#
# libvirt gives a disk with <source protocol='nbd' tls='yes'> a
# tls-creds-x509 object (endpoint=client) on qemu.conf's
# nbd_tls_x509_cert_dir, which is /etc/pki/libvirt-nbd when that folder
# existed when libvirtd started, else default_tls_x509_cert_dir,
# /etc/pki/qemu. This script uses the latter: it needs no libvirtd restart,
# and refuses to touch /etc/pki/libvirt-nbd or a /etc/pki/qemu it did not
# make (the operator's own certificates).
set -euo pipefail
dir="${1:?usage: $0 DIR}"
qemu=/etc/pki/qemu
if [ -e /etc/pki/libvirt-nbd ]; then
	echo "nbd-tls: /etc/pki/libvirt-nbd exists: libvirt takes NBD client certificates from there; not touching it" >&2
	exit 1
fi
if [ -e "$qemu" ] && [ ! -e "$qemu/.occicdmi-test" ]; then
	echo "nbd-tls: $qemu exists and is not ours; not touching it" >&2
	exit 1
fi
if [ -s "$dir/server-cert.pem" ] && [ -s "$qemu/client-cert.pem" ] && cmp -s "$dir/ca-cert.pem" "$qemu/ca-cert.pem"; then
	exit 0
fi
command -v openssl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }
mkdir -p "$dir" "$qemu"
touch "$qemu/.occicdmi-test"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=occicdmi test NBD CA" \
	-keyout ca-key.pem -out ca-cert.pem 2>/dev/null
leaf() { # name usage
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
	printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' "$2" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial -days 3650 -extfile "$1.ext" -out "$1-cert.pem" 2>/dev/null
}
leaf server serverAuth
leaf client clientAuth
install -m 0644 ca-cert.pem "$dir/ca-cert.pem"
install -m 0644 server-cert.pem "$dir/server-cert.pem"
install -m 0600 server-key.pem "$dir/server-key.pem"
group=root
getent group libvirt-qemu >/dev/null && group=libvirt-qemu
install -m 0644 ca-cert.pem "$qemu/ca-cert.pem"
install -m 0644 client-cert.pem "$qemu/client-cert.pem"
install -m 0640 -g "$group" client-key.pem "$qemu/client-key.pem"
echo "nbd-tls: test CA, occicdmi's certificate in $dir, QEMU's client certificate in $qemu" >&2
