#!/usr/bin/env bash
# libvirtd + QEMU (TCG, no KVM needed) for the libvirt backend's tests.
#
#   libvirt.sh up     install libvirt/QEMU/dnsmasq/tini if missing, start
#                     virtlogd and libvirtd without systemd, build the tiny
#                     guest image (scripts/guest-image.sh), a catalogue and
#                     the certificates of NBD over TLS (nbd-tls.sh)
#   libvirt.sh env    print the variables the tests read (eval it)
#   libvirt.sh down   stop the daemons this script started (by their PIDs) and
#                     remove the occi-* domains and networks the tests left
#
# State: $OCCICDMI_TESTENV/libvirt (images/ with the guest image, catalogue.json,
# started.pids, daemon logs). Up twice is fine. Both daemons run in the
# foreground under `tini -s`, which reaps what they leave behind.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${OCCICDMI_TESTENV:-/tmp/occicdmi-testenv}/libvirt"
uri=qemu:///system

install() {
	if command -v libvirtd >/dev/null && command -v qemu-system-x86_64 >/dev/null &&
		command -v qemu-img >/dev/null && command -v dnsmasq >/dev/null && command -v dpkg-deb >/dev/null &&
		[ -e /usr/lib/x86_64-linux-gnu/qemu/block-rbd.so ] && command -v iptables >/dev/null &&
		command -v tini >/dev/null && command -v genisoimage >/dev/null && command -v isoinfo >/dev/null &&
		command -v nbdinfo >/dev/null && command -v nbdcopy >/dev/null; then
		return
	fi
	# libnbd-bin: nbdinfo and nbdcopy, independent NBD clients for the
	# tests of linkage/nbd.
	echo "libvirt: installing libvirt, QEMU, dnsmasq and the NBD clients" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-block-extra qemu-utils \
		dnsmasq-base iptables dpkg tini genisoimage libnbd-bin >/dev/null
}

# alive NAME: a live (not zombie) process of that name exists. Without an
# init that reaps, a stopped daemon can linger as a zombie under PID 1.
alive() { ps -C "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }

answers() { timeout 10 virsh -c "$uri" version >/dev/null 2>&1; }

up() {
	local t0=$SECONDS
	install
	mkdir -p "$dir"
	chmod 0755 "$dir"
	# The image folder must be reachable by the QEMU process (user libvirt-qemu).
	d="$dir"
	while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d="$(dirname "$d")"; done
	# Without udev, /dev/kvm may be root-only: libvirt then probes QEMU with
	# KVM (as root) but finds KVM unusable for libvirt-qemu when it checks
	# its capability cache, so every define re-probes QEMU (~5 s each).
	# Debian's udev rule gives /dev/kvm to group kvm, mode 0660; do the same.
	if [ -c /dev/kvm ] && getent group kvm >/dev/null && [ "$(stat -c %G /dev/kvm)" != kvm ]; then
		chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
	fi
	if ! alive virtlogd; then
		setsid tini -s -- virtlogd >>"$dir/virtlogd.log" 2>&1 </dev/null &
		sleep 0.3
		echo "virtlogd $(ps -C virtlogd -o stat=,pid= | awk '$1 !~ /^Z/ {print $2}' | tail -n1)" >>"$dir/started.pids"
	fi
	if ! answers; then
		if ! alive libvirtd; then
			# Not `libvirtd -d`: QEMU processes (VMs and capability probes)
			# daemonize, and without systemd their parent becomes PID 1,
			# which in a container often never reaps them. libvirtd then
			# waits forever on a zombie (a define hangs on the capability
			# probe, a destroy waits out its timeout). tini -s makes itself
			# their subreaper.
			rm -f /run/libvirtd.pid
			setsid tini -s -- libvirtd >>"$dir/libvirtd.log" 2>&1 </dev/null &
			sleep 0.5
			echo "libvirtd $(ps -C libvirtd -o stat=,pid= | awk '$1 !~ /^Z/ {print $2}' | tail -n1)" >>"$dir/started.pids"
		fi
		for _ in $(seq 1 60); do answers && break; sleep 0.5; done
		answers || { echo "libvirt: libvirtd does not answer on $uri" >&2; exit 1; }
	fi
	"$here/../guest-image.sh" "$dir/images"
	"$here/nbd-tls.sh" "$dir/nbd-tls"
	cat >"$dir/catalogue.json" <<JSON
{
  "os_templates": [
    {"term": "tiny-linux", "title": "Tiny Linux (Debian cloud kernel + busybox initramfs)", "source": "tiny-linux.qcow2"},
    {"term": "empty", "title": "Empty disk (no OS: for lifecycle tests)", "source": "empty.qcow2"}
  ],
  "resource_templates": [
    {"term": "tiny", "title": "Tiny (1 core and 128 MiB)", "cores": 1, "memory": 0.125, "disk": 0},
    {"term": "small", "title": "Small (1 core and 256 MiB with a 1 GiB disk)", "cores": 1, "memory": 0.25, "disk": 1}
  ]
}
JSON
	echo "libvirt: ready on $uri in $((SECONDS - t0))s ($(virsh -c "$uri" version --daemon | sed -n 's/Running against daemon: //p'))" >&2
}

print_env() {
	echo "export OCCICDMI_LIBVIRT_URI='$uri'"
	echo "export OCCICDMI_TEST_LIBVIRT=1"
	echo "export OCCICDMI_IMAGE_DIR='$dir/images'"
	echo "export OCCICDMI_TEST_LIBVIRT_CATALOGUE='$dir/catalogue.json'"
	echo "export OCCICDMI_TEST_NBD_TLS='$dir/nbd-tls'"
}

down() {
	if answers; then
		for d in $(virsh -c "$uri" list --all --name | grep '^occi-' || true); do
			virsh -c "$uri" destroy "$d" >/dev/null 2>&1 || true
			virsh -c "$uri" undefine --managed-save --nvram "$d" >/dev/null 2>&1 || true
		done
		for n in $(virsh -c "$uri" net-list --all --name | grep '^occi-' || true); do
			virsh -c "$uri" net-destroy "$n" >/dev/null 2>&1 || true
			virsh -c "$uri" net-undefine "$n" >/dev/null 2>&1 || true
		done
	fi
	if [ -f "$dir/started.pids" ]; then
		tac "$dir/started.pids" | while read -r name pid; do
			if [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$name" ]; then
				kill "$pid" && echo "libvirt: stopped $name ($pid)" >&2
			fi
		done
		rm -f "$dir/started.pids"
	fi
}

case "${1:-}" in
up) up ;;
env) print_env ;;
down) down ;;
*) echo "usage: $0 up|env|down" >&2; exit 2 ;;
esac
