#!/usr/bin/env bash
# A one-node Ceph (Debian's pacific) for the tests, without systemd: one mon,
# one mgr, one OSD on memstore (RAM, thrown away on stop), pool "rbd",
# radosgw serving S3 on 127.0.0.1:7480 with a test user. Cephx is off; every
# daemon listens on loopback only.
#
#   ceph.sh up     install the packages if missing, start the cluster
#   ceph.sh env    print CEPH_CONF and OCCICDMI_S3_* (eval it)
#   ceph.sh down   stop the daemons by the PIDs in their pid files
#
# State: $OCCICDMI_TESTENV/ceph (ceph.conf, mon/, osd/, mgr/, run/*.pid, log/).
# Up on a running cluster only checks it; a partly running one is stopped and
# made afresh (memstore keeps nothing across restarts anyway).
# After go-ceph's micro-osd.sh and /work/shared/reference/ceph-micro-cluster.sh.
set -euo pipefail
dir="${OCCICDMI_TESTENV:-/tmp/occicdmi-testenv}/ceph"
rgw_port=7480
access_key=TESTACCESSKEY0000001
secret_key=testsecretkey00000000000000000000000001
bucket=occicdmi-test
export CEPH_CONF="$dir/ceph.conf"
daemons=(mon.a mgr.x osd.0 client.rgw.r)

install() {
	local missing=()
	# gcc and libc6-dev: go-ceph is cgo (go test -tags ceph,pacific).
	for p in ceph-mon ceph-osd ceph-mgr radosgw ceph-common librados-dev librbd-dev curl gcc libc6-dev; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	echo "ceph: installing ${missing[*]} (about a minute)" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

alive() { [ -f "$dir/run/$1.pid" ] && kill -0 "$(cat "$dir/run/$1.pid")" 2>/dev/null; }

all_alive() {
	for d in "${daemons[@]}"; do alive "$d" || return 1; done
}

rgw_answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$rgw_port/"; }

# ceph CLI calls are bounded: a mon that is not up yet makes them hang.
c() { timeout 30 "$@"; }

wait_for() { # what, seconds, command...
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	echo "ceph: $what not ready after ${secs}s; see $dir/log" >&2
	return 1
}

write_conf() {
	cat >"$CEPH_CONF" <<EOC
[global]
fsid = $(cat /proc/sys/kernel/random/uuid)
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public addr = 127.0.0.1
client mount timeout = 30
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
osd crush chooseleaf type = 0
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon warn on pool no redundancy = false
mon allow pool delete = true
[mon.a]
mon data = $dir/mon
mon data avail crit = 0
mon data avail warn = 1
mon cluster log file = $dir/log/mon-cluster.log
[osd.0]
osd data = $dir/osd
osd journal = $dir/osd.journal
osd journal size = 100
osd objectstore = memstore
# Grows with use, not reserved: room for the 1 GiB round trips and benchmarks.
memstore device bytes = 8589934592
osd class load list = *
osd class default list = *
[mgr.x]
mgr data = $dir/mgr
[client]
# Every client (tests, the server, the ceph CLI) is client.admin: one
# shared socket path would make all but the first complain it exists.
admin socket =
[client.rgw.r]
admin socket = $dir/run/\$name.asok
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
# Deleted objects' data goes to radosgw's garbage collector, by default for
# 2 hours; on a memstore OSD that is RAM. Collect within a minute.
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw dns name = localhost
ms mon client mode = crc
EOC
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

fresh() {
	down_daemons
	# The ports are fixed; a cluster of another $OCCICDMI_TESTENV on them
	# would answer our ceph commands (and gain our OSD). Refuse instead.
	for p in 3300 6789 "$rgw_port"; do
		if port_taken "$p"; then
			echo "ceph: 127.0.0.1:$p is taken by a process this testenv ($dir) did not start;" \
				"another OCCICDMI_TESTENV's cluster? Stop it, or use that OCCICDMI_TESTENV." >&2
			return 1
		fi
	done
	rm -rf "${dir:?}"
	mkdir -p "$dir"/{log,mon,osd,run,mgr}
	write_conf
	ceph-mon --id a --mkfs --keyring /dev/null
	ceph-mon --id a
	ceph-mgr --id x
	local id
	id=$(c ceph osd create)
	c ceph osd crush add "osd.$id" 1 root=default >/dev/null 2>&1
	ceph-osd --id "$id" --mkjournal --mkfs 2>/dev/null
	ceph-osd --id "$id" 2>>"$dir/log/osd-start.log"
	c ceph osd pool create rbd 8 >/dev/null 2>&1
	c rbd pool init rbd
	radosgw -n client.rgw.r
	wait_for radosgw 60 rgw_answers
	c radosgw-admin user create --uid test --display-name Test \
		--access-key="$access_key" --secret-key="$secret_key" >/dev/null
}

up() {
	local t0=$SECONDS
	install
	if all_alive && [ -f "$CEPH_CONF" ] && rgw_answers; then
		echo "ceph: already running ($dir)" >&2
		return
	fi
	fresh
	echo "ceph: rbd and radosgw (127.0.0.1:$rgw_port) ready in $((SECONDS - t0))s; state in $dir" >&2
}

down_daemons() {
	local f i left
	for f in "$dir"/run/*.pid; do
		[ -f "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || true
	done
	for ((i = 0; i < 100; i++)); do
		left=0
		for f in "$dir"/run/*.pid; do
			[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && left=1
		done
		[ $left = 0 ] && return
		sleep 0.2
	done
	echo "ceph: some daemons did not stop; see $dir/run/*.pid" >&2
}

down() {
	[ -d "$dir/run" ] || return 0
	down_daemons
	rm -f "$dir"/run/*.pid
	echo "ceph: stopped" >&2
}

print_env() {
	echo "export CEPH_CONF='$CEPH_CONF'"
	echo "export OCCICDMI_S3_ENDPOINT='http://127.0.0.1:$rgw_port'"
	echo "export OCCICDMI_S3_ACCESS_KEY='$access_key'"
	echo "export OCCICDMI_S3_SECRET_KEY='$secret_key'"
	echo "export OCCICDMI_S3_BUCKET='$bucket'"
	echo "export OCCICDMI_S3_REGION='us-east-1'"
}

case "${1:-}" in
up) up ;;
env) print_env ;;
down) down ;;
*) echo "usage: $0 up|env|down" >&2; exit 2 ;;
esac
