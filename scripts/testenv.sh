#!/usr/bin/env bash
# The real-services test environment, on a fresh Debian machine, as root.
#
#   scripts/testenv.sh up   [service...]   install (if needed) and start
#   scripts/testenv.sh env  [service...]   print the variables the tests read (eval it)
#   scripts/testenv.sh down [service...]   stop what `up` started, by PID
#
# Services: postgres, ceph (mon, mgr, one memstore OSD, pool rbd, radosgw with
# an S3 user), libvirt (libvirtd, virtlogd, QEMU), keystone (Keystone v3 on
# uwsgi with an admin, a demo tenant and a service user). Default: all of them.
# Each is scripts/testenv/<service>.sh taking the same verbs; its state lives
# under $OCCICDMI_TESTENV (default /tmp/occicdmi-testenv/<service>).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export OCCICDMI_TESTENV="${OCCICDMI_TESTENV:-/tmp/occicdmi-testenv}"
verb="${1:-}"
shift || true
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(postgres ceph libvirt keystone)
case "$verb" in
up|env) ;;
down) # stop in reverse order
	rev=()
	for ((i=${#services[@]}-1; i>=0; i--)); do rev+=("${services[$i]}"); done
	services=("${rev[@]}") ;;
*) echo "usage: $0 up|env|down [postgres|ceph|libvirt|keystone ...]" >&2; exit 2 ;;
esac
mkdir -p "$OCCICDMI_TESTENV"
for s in "${services[@]}"; do
	script="$here/testenv/$s.sh"
	if [ ! -x "$script" ]; then echo "testenv: no script for service $s ($script)" >&2; exit 2; fi
	if [ "$verb" = up ]; then echo "testenv: $s up" >&2; fi
	"$script" "$verb"
done
