#!/usr/bin/env bash
# PostgreSQL 15 for the tests: one throwaway cluster on loopback, run with
# pg_ctl as the postgres user (no systemd needed), a role and a database.
#
#   postgres.sh up     install postgresql-15 if missing, initdb once, start
#   postgres.sh env    print OCCICDMI_TEST_POSTGRES (eval it)
#   postgres.sh down   stop the server (pg_ctl stop: the postmaster's PID)
#
# State: $OCCICDMI_TESTENV/postgres (data/, run/ for the socket, log).
# Port: $OCCICDMI_TESTENV_PG_PORT, default 25432 (not 5432, so a system
# PostgreSQL on the machine is left alone; below Linux's ephemeral range
# 32768-60999, so that no client socket can hold the port while the
# database-restart test has it down: 55432 once failed CI so). Up twice is
# fine.
set -euo pipefail
dir="${OCCICDMI_TESTENV:-/tmp/occicdmi-testenv}/postgres"
port="${OCCICDMI_TESTENV_PG_PORT:-25432}"
bin=/usr/lib/postgresql/15/bin
user=occicdmi
password=occicdmi
db=occicdmi

as_pg() { runuser -u postgres -- "$@"; }

install() {
	if [ -x "$bin/pg_ctl" ]; then return; fi
	echo "postgres: installing postgresql-15" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
}

running() { [ -f "$dir/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; }

psql_pg() { as_pg "$bin/psql" -h "$dir/run" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

up() {
	local t0=$SECONDS
	install
	mkdir -p "$dir/run"
	chown postgres: "$dir" "$dir/run"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		# Local socket: peer (this script, as postgres); TCP: passwords.
		as_pg "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
			--auth-local=peer --auth-host=scram-sha-256 >"$dir/initdb.log"
	fi
	if ! running; then
		as_pg "$bin/pg_ctl" start -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/run -c fsync=off" >/dev/null
	fi
	# CREATEDB: tests may make a fresh database each.
	if [ "$(psql_pg -c "select 1 from pg_roles where rolname='$user'")" != 1 ]; then
		psql_pg -c "create role $user login createdb password '$password'"
	fi
	if [ "$(psql_pg -c "select 1 from pg_database where datname='$db'")" != 1 ]; then
		psql_pg -c "create database $db owner $user"
	fi
	echo "postgres: ready on 127.0.0.1:$port in $((SECONDS - t0))s (log $dir/postgres.log)" >&2
}

print_env() {
	echo "export OCCICDMI_TEST_POSTGRES='postgres://$user:$password@127.0.0.1:$port/$db?sslmode=disable'"
}

down() {
	if running; then
		as_pg "$bin/pg_ctl" stop -D "$dir/data" -m fast -w >/dev/null
		echo "postgres: stopped" >&2
	fi
}

case "${1:-}" in
up) up ;;
env) print_env ;;
down) down ;;
*) echo "usage: $0 up|env|down" >&2; exit 2 ;;
esac
