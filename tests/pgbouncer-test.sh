#!/usr/bin/env bash
# tests/pgbouncer-test.sh PGRACE_BIN SOURCE_DIR: the seed scenario through
# pgbouncer in transaction pooling mode gives the same verdict as a direct
# connection. Starts its own pgbouncer (unix socket only) in front of the
# server named by the PG* environment, stops it by pid, removes its folder.
set -euo pipefail
bin=${PGRACE_TEST_BIN:-$1} # PGRACE_TEST_BIN: e.g. a ThreadSanitizer build
src=$2
seed="$src/scenarios/membership-unique.yaml"
bouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$bouncer" ] || { echo "pgbouncer-test: pgbouncer is not installed" >&2; exit 1; }
: "${PGHOST:?PGHOST must name the server}" "${PGPORT:=5432}" "${PGUSER:=postgres}"

dir=$(mktemp -d /tmp/pgrace-bouncer.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

cat >"$dir/pgbouncer.ini" <<INI
[databases]
postgres = host=$PGHOST port=$PGPORT dbname=postgres user=$PGUSER
[pgbouncer]
listen_addr =
listen_port = 6432
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
max_client_conn = 200
default_pool_size = 60
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile =
INI
echo "\"$PGUSER\" \"\"" >"$dir/users.txt"

# pgbouncer refuses to run as root.
run_as=()
if [ "$(id -u)" = 0 ]; then
	chown -R postgres "$dir"
	run_as=(setpriv --reuid=postgres --regid=postgres --clear-groups --)
fi
"${run_as[@]}" "$bouncer" -q "$dir/pgbouncer.ini" &
pid=$!
for _ in $(seq 100); do
	[ -S "$dir/.s.PGSQL.6432" ] && break
	sleep 0.05
done
[ -S "$dir/.s.PGSQL.6432" ] || { echo "pgbouncer-test: pgbouncer did not start" >&2; cat "$dir/pgbouncer.log" >&2; exit 1; }

dsn="host=$dir port=6432 dbname=postgres user=$PGUSER"
set +e
"$bin" run "$seed" --dsn "$dsn" --pooler --workers 16 --rounds 10 --json "$dir/pooled.json" >"$dir/out" 2>&1
pooled=$?
"$bin" run "$seed" --workers 16 --rounds 10 -q --json "$dir/direct.json"
direct=$?
set -e
cat "$dir/out"
verdict() { sed -n 's/^  "verdict": "\(.*\)",$/\1/p' "$1"; }
echo "pgbouncer-test: direct exit $direct ($(verdict "$dir/direct.json")), through pgbouncer exit $pooled ($(verdict "$dir/pooled.json"))"
if [ "$pooled" != 0 ] || [ "$direct" != 0 ]; then
	echo "pgbouncer-test: FAIL: both runs must pass" >&2
	exit 1
fi
grep -q '"23505": 150' "$dir/pooled.json" || { echo "pgbouncer-test: FAIL: expected 150 unique violations after the migration" >&2; exit 1; }

# Setup scripts through the pooler keep the sandbox's search_path past a
# COMMIT inside them. Before, each script was prefixed with SET LOCAL, which
# ended with the script's own COMMIT: the table after it landed in public.
marker="pgrace_after_commit_$$"
python3 - "$seed" "$dir/commit.yaml" "$marker" <<'PY'
import sys
src, dst, marker = sys.argv[1:]
s = open(src).read()
old = "  up: |\n    ALTER TABLE user_tenant_membership\n      ADD CONSTRAINT uq_user_tenant_membership_user_tenant UNIQUE (user_id, tenant_id);\n"
assert old in s, "the seed's migration.up changed: update pgbouncer-test.sh"
s = s.replace(old, "  up: |\n    BEGIN;\n    ALTER TABLE user_tenant_membership\n      ADD CONSTRAINT uq_user_tenant_membership_user_tenant UNIQUE (user_id, tenant_id);\n    COMMIT;\n    CREATE TABLE %s (x int);\n" % marker)
open(dst, "w").write(s)
PY
set +e
"$bin" run "$dir/commit.yaml" --dsn "$dsn" --pooler --workers 4 --rounds 3 -q
commit_rc=$?
set -e
leaked=$(psql -XAtqc "SELECT count(*) FROM pg_class WHERE relname = '$marker' AND relnamespace = 'public'::regnamespace")
psql -Xqc "DROP TABLE IF EXISTS public.$marker" >/dev/null 2>&1 || true
if [ "$commit_rc" != 0 ] || [ "$leaked" != 0 ]; then
	echo "pgbouncer-test: FAIL: a migration with a COMMIT inside, through the pooler: exit $commit_rc, tables in public: $leaked (want exit 0 and none)" >&2
	exit 1
fi

# CREATE INDEX CONCURRENTLY cannot run inside a transaction block: through a
# transaction pooler it needs --admin-dsn (a connection that keeps its
# session). Without it the run is refused up front (exit 2, naming the line);
# with it, it passes. Before, every script became one transaction block and
# the migration failed: a false FAIL.
online="$src/scenarios/online-migration.yaml"
set +e
"$bin" run "$online" --dsn "$dsn" --pooler --workers 4 --rounds 3 -q 2>"$dir/online.err"
refused=$?
"$bin" run "$online" --dsn "$dsn" --pooler --admin-dsn "host=$PGHOST port=$PGPORT dbname=postgres user=$PGUSER" \
	--workers 4 --rounds 3 -q
admin=$?
set -e
cat "$dir/online.err"
if [ "$refused" != 2 ] || ! grep -q "online-migration.yaml:[0-9]*: this statement cannot run inside a transaction block.*--admin-dsn" "$dir/online.err"; then
	echo "pgbouncer-test: FAIL: CREATE INDEX CONCURRENTLY through the pooler without --admin-dsn: exit $refused (want 2, naming the line)" >&2
	exit 1
fi
if [ "$admin" != 0 ]; then
	echo "pgbouncer-test: FAIL: online-migration through the pooler with --admin-dsn: exit $admin (want 0)" >&2
	exit 1
fi
# A pooled run's sandbox is owned (its lock lives in an open transaction
# that pgbouncer pins to one server connection): `pgrace clean`, through the
# pooler too, keeps it while the run lives.
"$bin" run "$seed" --dsn "$dsn" --pooler --workers 4 --rounds 2000 -q >/dev/null 2>&1 &
run_pid=$!
sandbox=
for _ in $(seq 200); do
	sandbox=$(psql -XAtqc "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pgrace\_${run_pid}\_%'")
	[ -n "$sandbox" ] && break
	sleep 0.05
done
"$bin" clean --dsn "$dsn" >"$dir/clean.out" 2>&1 || true
kill -TERM "$run_pid" 2>/dev/null || true
wait "$run_pid" 2>/dev/null || true
cat "$dir/clean.out"
if [ -z "$sandbox" ] || ! grep -q "^$sandbox: kept" "$dir/clean.out"; then
	echo "pgbouncer-test: FAIL: pgrace clean did not keep the live pooled run's sandbox (${sandbox:-none seen})" >&2
	exit 1
fi
echo "pgbouncer-test: 5 passed, 0 failed"
