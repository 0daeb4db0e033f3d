#!/usr/bin/env bash
# OpenStack Keystone (identity v3) for the tests: Debian's keystone package
# with a configuration, SQLite database and fernet keys of its own, served by
# uwsgi on loopback as the keystone user (no systemd, no init script).
#
#   keystone.sh up     install keystone if missing, set up once, start
#   keystone.sh env    print OCCICDMI_TEST_KEYSTONE and its users (eval it)
#   keystone.sh down   stop the server (SIGTERM to the uwsgi master's PID)
#
# Set up once (keystone-manage db_sync, fernet_setup, credential_setup,
# bootstrap), then three users in the Default domain:
#   admin    project admin,   role admin (the bootstrap user)
#   demo     project demo,    role member (a second tenant)
#   occicdmi project service, roles service and admin (what the server's
#            token validator logs in as)
# State: $OCCICDMI_TESTENV/keystone (keystone.conf, keystone.db, fernet-keys/,
# credential-keys/, uwsgi.pid, keystone.log, uwsgi.log).
# Port: $OCCICDMI_TESTENV_KEYSTONE_PORT, default 55357 (not 5000, so a system
# Keystone on the machine is left alone). Up twice is fine.
set -euo pipefail
dir="${OCCICDMI_TESTENV:-/tmp/occicdmi-testenv}/keystone"
port="${OCCICDMI_TESTENV_KEYSTONE_PORT:-55357}"
url="http://127.0.0.1:$port/v3"
admin_password=occicdmi-admin
demo_password=occicdmi-demo
service_password=occicdmi-service
conf="$dir/keystone.conf"

as_ks() { runuser -u keystone -- "$@"; }

install() {
	if command -v keystone-manage >/dev/null && command -v uwsgi >/dev/null &&
		[ -x /usr/bin/keystone-wsgi-public ]; then
		return
	fi
	echo "keystone: installing keystone (Debian package)" >&2
	# The postinst would start the service (policy-rc.d 101 forbids that)
	# and asks debconf questions: answer them all "no" (no database set-up,
	# no admin tenant, no endpoint: this script does its own).
	local own_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		own_policy=1
	fi
	apt-get update -qq
	debconf-set-selections <<-EOF
		keystone keystone/configure_db boolean false
		keystone keystone/create-admin-tenant boolean false
		keystone keystone/register-endpoint boolean false
	EOF
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confdef \
		-o Dpkg::Options::=--force-confold keystone curl >/dev/null
	if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
}

write_conf() {
	cat >"$conf" <<-EOF
		# Written by scripts/testenv/keystone.sh: the tests' Keystone.
		[DEFAULT]
		log_file = $dir/keystone.log
		use_stderr = false
		[database]
		connection = sqlite:///$dir/keystone.db
		[token]
		provider = fernet
		[fernet_tokens]
		key_repository = $dir/fernet-keys
		[fernet_receipts]
		key_repository = $dir/fernet-keys
		[credential]
		key_repository = $dir/credential-keys
		[oslo_policy]
		enforce_scope = false
		enforce_new_defaults = false
	EOF
	chown keystone: "$conf"
}

# keystone-manage, its chatter (eventlet's noise at exit) in setup.log.
manage() {
	if ! as_ks keystone-manage --config-file "$conf" "$@" >>"$dir/setup.log" 2>&1; then
		echo "keystone: keystone-manage $1 failed; see $dir/setup.log" >&2
		tail -n 20 "$dir/setup.log" >&2
		exit 1
	fi
}

setup() {
	write_conf
	manage db_sync
	# WAL (kept in the file): a reader's open transaction in one thread
	# would otherwise block another's commit ("database is locked").
	as_ks sqlite3 "$dir/keystone.db" 'PRAGMA journal_mode=WAL;' >/dev/null
	manage fernet_setup --keystone-user keystone --keystone-group keystone
	manage credential_setup --keystone-user keystone --keystone-group keystone
	manage bootstrap --bootstrap-password "$admin_password" \
		--bootstrap-username admin --bootstrap-project-name admin \
		--bootstrap-role-name admin --bootstrap-service-name keystone \
		--bootstrap-region-id RegionOne --bootstrap-public-url "$url"
	touch "$dir/bootstrapped"
}

pid() { [ -f "$dir/uwsgi.pid" ] && cat "$dir/uwsgi.pid"; }
# The PID file is uwsgi's (and writable by the keystone user): believe it
# only for a keystone-owned uwsgi serving this state dir, not a PID reused
# since.
running() {
	local p
	p="$(pid)" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null &&
		[ "$(stat -c %U "/proc/$p")" = keystone ] &&
		tr '\0' ' ' <"/proc/$p/cmdline" | grep -q "uwsgi .*--pidfile $dir/uwsgi.pid"
}

start() {
	# One process: SQLite is the database. uwsgi's --http-socket does not keep connections alive: say so, or
	# clients that reuse one get a reset. The keystone WSGI app finds its configuration through these variables.
	as_ks env OS_KEYSTONE_CONFIG_DIR="$dir" OS_KEYSTONE_CONFIG_FILES=keystone.conf \
		uwsgi --plugin python3 --http-socket "127.0.0.1:$port" \
		--wsgi-file /usr/bin/keystone-wsgi-public --chdir "$dir" \
		--master --processes 1 --threads 4 --enable-threads --lazy-apps \
		--die-on-term --buffer-size 65535 --need-app \
		--add-header 'Connection: close' \
		--pidfile "$dir/uwsgi.pid" --daemonize "$dir/uwsgi.log"
	local i
	for ((i = 0; i < 120; i++)); do
		if curl -fsS -o /dev/null "$url"; then return; fi
		if ! running && [ "$i" -gt 10 ]; then break; fi
		sleep 0.5
	done
	echo "keystone: $url does not answer; see $dir/uwsgi.log and $dir/keystone.log" >&2
	tail -n 20 "$dir/uwsgi.log" >&2 || true
	exit 1
}

# openstack CLI as the bootstrap admin, for the users beyond it.
os() {
	env -u OS_CLOUD OS_AUTH_URL="$url" OS_IDENTITY_API_VERSION=3 \
		OS_USERNAME=admin OS_PASSWORD="$admin_password" OS_PROJECT_NAME=admin \
		OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
		openstack "$@" >/dev/null
}

users() {
	if [ -f "$dir/users-created" ]; then return; fi
	os project create --or-show --domain Default demo
	os user create --or-show --domain Default --project demo --password "$demo_password" demo
	os role add --project demo --user demo member
	os project create --or-show --domain Default service
	os role create --or-show service
	os user create --or-show --domain Default --project service --password "$service_password" occicdmi
	os role add --project service --user occicdmi service
	os role add --project service --user occicdmi admin
	touch "$dir/users-created"
}

up() {
	local t0=$SECONDS
	install
	mkdir -p "$dir"
	chown keystone: "$dir"
	if [ ! -f "$dir/bootstrapped" ]; then setup; else write_conf; fi
	if ! running; then start; fi
	users
	echo "keystone: ready on $url in $((SECONDS - t0))s (log $dir/keystone.log)" >&2
}

print_env() {
	cat <<-EOF
		export OCCICDMI_TEST_KEYSTONE='$url'
		export OCCICDMI_TEST_KEYSTONE_DOMAIN='Default'
		export OCCICDMI_TEST_KEYSTONE_ADMIN_USER='admin'
		export OCCICDMI_TEST_KEYSTONE_ADMIN_PASSWORD='$admin_password'
		export OCCICDMI_TEST_KEYSTONE_ADMIN_PROJECT='admin'
		export OCCICDMI_TEST_KEYSTONE_DEMO_USER='demo'
		export OCCICDMI_TEST_KEYSTONE_DEMO_PASSWORD='$demo_password'
		export OCCICDMI_TEST_KEYSTONE_DEMO_PROJECT='demo'
		export OCCICDMI_TEST_KEYSTONE_SERVICE_USER='occicdmi'
		export OCCICDMI_TEST_KEYSTONE_SERVICE_PASSWORD='$service_password'
		export OCCICDMI_TEST_KEYSTONE_SERVICE_PROJECT='service'
	EOF
}

down() {
	if running; then
		local p i
		p="$(pid)"
		kill -TERM "$p"
		for ((i = 0; i < 50; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$p" 2>/dev/null; then kill -KILL "$p"; fi
		rm -f "$dir/uwsgi.pid"
		echo "keystone: stopped" >&2
	fi
}

case "${1:-}" in
up) up ;;
env) print_env ;;
down) down ;;
*) echo "usage: $0 up|env|down" >&2; exit 2 ;;
esac
