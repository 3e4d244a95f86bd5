# shellcheck shell=bash
# scripts/lib/pg-cluster.sh: a throwaway cluster's life (sourced by
# pg-throwaway.sh): the server user (postgres when run as root), initdb and
# start on a unix socket only, the exported PG* variables, a streaming
# standby, and stop, which deletes only a folder start marked as its own.

# Runs "$@" in folder $2 as user $1 (as is when that is who we are already).
pg_throwaway__as() {
	local user=$1 dir=$2
	shift 2
	if [[ "$user" == "$(id -un)" ]]; then
		(cd "$dir" && "$@")
	elif command -v setpriv >/dev/null 2>&1; then
		(cd "$dir" && exec setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@")
	elif command -v runuser >/dev/null 2>&1; then
		(cd "$dir" && exec runuser -u "$user" -- "$@")
	else
		pg_throwaway__log "need setpriv or runuser (util-linux) to run PostgreSQL as $user"
		return 1
	fi
}

# As root: the user the server runs as, created when missing.
pg_throwaway__server_user() {
	if [[ "$(id -u)" -ne 0 ]]; then
		id -un
		return 0
	fi
	if ! id postgres >/dev/null 2>&1; then
		pg_throwaway__log "creating system user postgres (PostgreSQL will not run as root)"
		useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
			--shell /usr/sbin/nologin postgres >&2 || return 1
	fi
	printf 'postgres\n'
}

# Creates, initialises and starts a cluster in folder $1 (default: a new
# temp folder); exports the variables listed above. On failure prints why
# (with the server log's tail), removes what it made and returns 1.
pg_throwaway_start() {
	if ! pg_throwaway__start "${1:-}"; then
		pg_throwaway_stop "$PG_THROWAWAY_OWNED" || true
		return 1
	fi
}

pg_throwaway__start() {
	local bindir user parent dir t0 t1 t2 opts maxc version
	bindir=$(pg_throwaway_bindir) || return 1
	user=$(pg_throwaway__server_user) || return 1
	maxc=${PG_MAX_CONNECTIONS:-200}
	if [[ ! "$maxc" =~ ^[0-9]+$ ]]; then
		pg_throwaway__log "PG_MAX_CONNECTIONS must be a number, not '$maxc'"
		return 1
	fi

	if [[ -n "${1:-}" ]]; then
		if [[ -e "$1" && ! -d "$1" ]] || [[ -n "$(ls -A -- "$1" 2>/dev/null)" ]]; then
			pg_throwaway__log "$1 is not an empty folder"
			return 1
		fi
		mkdir -p -- "$1" && chmod 0700 -- "$1" || return 1
		dir=$(cd -- "$1" && pwd -P) || return 1
	else
		parent=${PGRACE_PG_TMPDIR:-${TMPDIR:-$(pg_throwaway__default_parent)}}
		if ((${#parent} > 70)); then
			parent=/tmp
		fi
		# Owned in the same command that makes it: a trap between the two
		# would leave it behind (stop removes it while still empty).
		PG_THROWAWAY_OWNED=$(mktemp -d "$parent/pgrace-pg.XXXXXX") || return 1
		dir=$PG_THROWAWAY_OWNED
	fi
	# A socket path is at most 107 bytes: "$dir/.s.PGSQL.5432" must fit; and
	# pg_ctl hands -o to a shell, where the folder sits in single quotes.
	if ((${#dir} > 90)) || [[ "$dir" == *"'"* ]]; then
		pg_throwaway__log "cannot use $dir: longer than 90 bytes (too long for a unix socket path) or has a quote"
		rmdir -- "$dir"
		PG_THROWAWAY_OWNED=""
		return 1
	fi
	printf 'bindir=%s\n' "$bindir" >"$dir/$PG_THROWAWAY_MARKER"
	# Recorded at once, so a trap firing during start-up cleans up too.
	PG_THROWAWAY_OWNED=$dir
	export PGRACE_PG_DIR=$dir PGRACE_PG_BINDIR=$bindir
	if [[ "$user" != "$(id -un)" ]]; then
		chown "$user:$(id -gn "$user")" "$dir" || return 1
		if ! pg_throwaway__as "$user" "$dir" test -w "$dir"; then
			pg_throwaway__log "user $user cannot write $dir (is a parent folder closed to it?); pick another folder (or PGRACE_PG_TMPDIR)"
			return 1
		fi
		if ! pg_throwaway__as "$user" "$dir" test -x "$bindir/postgres"; then
			pg_throwaway__log "user $user cannot run $bindir/postgres (is a parent folder closed to it?); set PGRACE_PG_CACHE to a folder it can read"
			return 1
		fi
	fi

	t0=$(pg_throwaway__now)
	# initdb once, then copy: a cached template data folder (per server
	# version and user) turns ~0.7 s of initdb into ~0.1 s of cp.
	# PGRACE_PG_TEMPLATE=off always runs initdb.
	local template="" version_dir
	version_dir=$("$bindir/postgres" --version 2>/dev/null | awk '{ print $3 }')
	if [[ "${PGRACE_PG_TEMPLATE:-}" != off && -n "$version_dir" && -n "${HOME:-}" ]]; then
		template="${XDG_CACHE_HOME:-$HOME/.cache}/pgrace/initdb-$version_dir-$user"
	fi
	if [[ -n "$template" && -f "$template/PG_VERSION" ]] && cp -a -- "$template" "$dir/data" 2>/dev/null; then
		: # copied
	else
		rm -rf -- "$dir/data"
		if ! pg_throwaway__as "$user" "$dir" "$bindir/initdb" --no-sync -A trust -U postgres \
			-E UTF8 --locale=C -D "$dir/data" >"$dir/initdb.log" 2>&1; then
			pg_throwaway__log "initdb failed; its output ends with:"
			tail -n 30 "$dir/initdb.log" >&2
			return 1
		fi
		# Best effort: publish the template atomically for the next start.
		if [[ -n "$template" ]] && mkdir -p -- "${template%/*}" 2>/dev/null; then
			local staging
			staging=$(mktemp -d "${template%/*}/.staging.XXXXXX" 2>/dev/null) &&
				cp -a -- "$dir/data" "$staging/data" &&
				mv -T -- "$staging/data" "$template" 2>/dev/null
			rm -rf -- "${staging:-/nonexistent}"
		fi
	fi
	t1=$(pg_throwaway__now)

	opts="-c listen_addresses='' -k '$dir' -p 5432 -c fsync=off -c synchronous_commit=off"
	opts+=" -c full_page_writes=off -c max_connections=$maxc"
	opts+=${PGRACE_PG_EXTRA_OPTS:+ $PGRACE_PG_EXTRA_OPTS}
	if ! pg_throwaway__start_wait "$user" "$dir" "$bindir" data "$dir/postgres.log" "$opts"; then
		pg_throwaway__log "pg_ctl start failed:"
		tail -n 10 "$dir/pg_ctl.log" >&2
		pg_throwaway__log "server log ends with:"
		tail -n 30 "$dir/postgres.log" >&2 2>/dev/null
		return 1
	fi
	t2=$(pg_throwaway__now)

	PGRACE_PG_PID=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null) || PGRACE_PG_PID=""
	if [[ ! "$PGRACE_PG_PID" =~ ^[0-9]+$ ]]; then
		pg_throwaway__log "server started but $dir/data/postmaster.pid has no pid"
		return 1
	fi
	printf 'pid=%s\n' "$PGRACE_PG_PID" >>"$dir/$PG_THROWAWAY_MARKER"
	unset PGHOSTADDR PGSERVICE
	export PGRACE_PG_PID PGHOST=$dir PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
	# "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	version=$("$bindir/postgres" --version 2>/dev/null | awk '{ print $3 }') || version=""
	pg_throwaway__log "$(awk -v a="$t0" -v b="$t1" -v c="$t2" -v v="$version" -v d="$dir" -v p="$PGRACE_PG_PID" -v u="$user" \
		'BEGIN { printf "PostgreSQL %s up in %.2f s (data folder %.2f s, start %.2f s): socket in %s, pid %s, runs as %s", v, c - a, b - a, c - b, d, p, u }')"
}

# Where a cluster's folder goes when neither PGRACE_PG_TMPDIR nor TMPDIR
# says: /dev/shm when it is a writable tmpfs with 1 GiB free (a fresh data
# folder is about 1,000 files, which a disk's file system can take most of a
# second to write: 0.06-0.08 s there against 0.8-1.0 s on ext4, both
# measured on the 2-core machine of docs/performance.md), else /tmp.
pg_throwaway__default_parent() {
	local kib
	if [[ -d /dev/shm && -w /dev/shm && "$(stat -f -c %T /dev/shm 2>/dev/null)" == tmpfs ]]; then
		kib=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
		if [[ "$kib" =~ ^[0-9]+$ ]] && ((kib >= 1048576)); then
			printf '/dev/shm\n'
			return
		fi
	fi
	printf '/tmp\n'
}

# pg_ctl start -w, as user $1 in folder $2 with bindir $3, of data folder
# $2/$4 logging to $5 with server options $6, returning as soon as the
# postmaster.pid says "ready": pg_ctl itself looks every 100 ms, a tenth of
# a gate's whole run. pg_ctl goes on in the background and ends by itself
# within 100 ms; when it ends first, its exit status is the answer (a
# server that failed to start, the 30 s bound).
pg_throwaway__start_wait() {
	local user=$1 dir=$2 bindir=$3 data=$4 log=$5 opts=$6 ctl status
	pg_throwaway__as "$user" "$dir" "$bindir/pg_ctl" -w -t 30 -D "$dir/$data" \
		-l "$log" -o "$opts" start >>"$dir/pg_ctl.log" 2>&1 &
	ctl=$!
	PG_THROWAWAY_STARTING=$ctl # a stop meanwhile (a trap) waits for it
	for (( ; ; )); do
		status=$(sed -n 8p "$dir/$data/postmaster.pid" 2>/dev/null) || status=""
		if [[ "$status" == ready* || "$status" == standby* ]] && pg_throwaway__live_pid "$dir" "$data" >/dev/null; then
			PG_THROWAWAY_STARTING=""
			return 0
		fi
		if ! kill -0 "$ctl" 2>/dev/null; then
			PG_THROWAWAY_STARTING=""
			wait "$ctl"
			return
		fi
		sleep 0.005
	done
}

# The live postmaster of folder $1's data folder $2 (default data; standby
# for the standby): the one its postmaster.pid names (a server restarted
# by hand has a new one), else the one recorded at start.
pg_throwaway__live_pid() {
	local dir=$1 data=${2:-data} key=pid pid cmd
	[[ "$data" == data ]] || key=${data}_pid
	for pid in "$(head -n 1 "$dir/$data/postmaster.pid" 2>/dev/null)" \
		"$(sed -n "s/^$key=//p" "$dir/$PG_THROWAWAY_MARKER" 2>/dev/null | tail -n 1)"; do
		[[ "$pid" =~ ^[0-9]+$ ]] || continue
		# Guard against a recycled pid: the process must be serving this
		# folder (a zombie's cmdline is empty, so a dead postmaster not yet
		# reaped by its new parent counts as gone).
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
		if [[ "$cmd" == *"$dir/$data "* || "$cmd" == *"$dir/$data" ]]; then
			printf '%s\n' "$pid"
			return 0
		fi
	done
	return 1
}

# Stops the cluster in folder $1 (default: the one this shell started), its
# standby first when it has one, and deletes the folder. Safe to call
# twice, and on a half-started cluster.
pg_throwaway_stop() {
	local dir=${1:-$PG_THROWAWAY_OWNED} pid sig i data polls
	[[ -n "$dir" ]] || return 0
	if [[ ! -d "$dir" ]]; then
		pg_throwaway__forget "$dir"
		return 0
	fi
	# Absolute, as the postmaster's command line has it (see live_pid).
	dir=$(cd -- "$dir" && pwd -P) || return 1
	if [[ ! -f "$dir/$PG_THROWAWAY_MARKER" ]]; then
		# This shell's own, stopped before its marker was written: empty.
		if [[ "$dir" == "$PG_THROWAWAY_OWNED" ]] && rmdir -- "$dir" 2>/dev/null; then
			pg_throwaway__forget "$dir"
			return 0
		fi
		pg_throwaway__log "refusing to stop or delete $dir: not a folder pg-throwaway made"
		return 1
	fi
	# Stopped while starting (a trap): the server may not have written
	# its postmaster.pid yet; pg_ctl start ends within its 30 s either way.
	if [[ -n "${PG_THROWAWAY_STARTING:-}" ]]; then
		for ((i = 0; i < 6000; i++)); do
			kill -0 "$PG_THROWAWAY_STARTING" 2>/dev/null || break
			sleep 0.005
		done
		PG_THROWAWAY_STARTING=""
	fi
	for data in standby data; do
		# The folder's postmaster only: fast shutdown (what pg_ctl stop -m
		# fast sends, looked at every 5 ms instead of pg_ctl's 100), then
		# immediate, then kill, 30 s / 5 s / 5 s each.
		for sig in INT QUIT KILL; do
			pid=$(pg_throwaway__live_pid "$dir" "$data") || break
			[[ "$sig" == INT ]] || pg_throwaway__log "fast shutdown did not stop pid $pid; sending SIG$sig"
			kill -s "$sig" "$pid" 2>/dev/null || true
			polls=1000
			[[ "$sig" == INT ]] && polls=6000
			for ((i = 0; i < polls; i++)); do
				if [[ ! -d "/proc/$pid" ]] || ! pg_throwaway__live_pid "$dir" "$data" >/dev/null; then
					break
				fi
				sleep 0.005
			done
		done
		if pid=$(pg_throwaway__live_pid "$dir" "$data"); then
			pg_throwaway__log "postmaster $pid survived SIGKILL; leaving $dir in place"
			return 1
		fi
	done
	rm -rf -- "$dir"
	pg_throwaway__forget "$dir"
}

# What pg_basebackup -R does, for a server whose major has no pg_basebackup
# here (the npm package ships none): a low-level base backup of folder $1's
# primary into $1/standby, in one psql session (start, copy, stop, whose
# label becomes backup_label), without the WAL folder's contents (the
# standby streams them), with standby.signal and primary_conninfo. $2 is
# the server's user, $3 its major version.
pg_throwaway__copy_backup() {
	local dir=$1 user=$2 major=$3 start stop
	if ! command -v psql >/dev/null 2>&1; then
		pg_throwaway__log "a standby of PostgreSQL $major needs pg_basebackup $major or newer, or psql for a copy; neither is installed"
		return 1
	fi
	if ((major >= 15)); then
		start="SELECT pg_backup_start('pgrace standby', true)"
		stop="SELECT labelfile FROM pg_backup_stop(false)"
	else
		start="SELECT pg_start_backup('pgrace standby', true, false)"
		stop="SELECT labelfile FROM pg_stop_backup(false, false)"
	fi
	# The backup belongs to the session that started it: one psql for all three.
	if ! psql -X -q -At -h "$dir" -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c "$start" -c "\\! cp -a '$dir/data' '$dir/standby'" \
		-c "\\o '$dir/backup_label'" -c "$stop" >"$dir/basebackup.log" 2>&1 ||
		[[ ! -s "$dir/backup_label" || ! -d "$dir/standby" ]]; then
		pg_throwaway__log "the base backup (pg_backup_start, copy, pg_backup_stop) failed:"
		tail -n 10 "$dir/basebackup.log" >&2
		return 1
	fi
	mv -- "$dir/backup_label" "$dir/standby/backup_label" &&
		rm -f -- "$dir/standby/postmaster.pid" "$dir/standby/postmaster.opts" &&
		find "$dir/standby/pg_wal" -mindepth 1 -delete &&
		mkdir -p -- "$dir/standby/pg_wal/archive_status" &&
		: >"$dir/standby/standby.signal" &&
		printf "primary_conninfo = 'host=%s port=5432 user=postgres'\n" "$dir" >>"$dir/standby/postgresql.auto.conf" &&
		chown -R "$user:$(id -gn "$user")" "$dir/standby" && chmod 0700 "$dir/standby"
}

# Adds a streaming standby to the primary this shell started: pg_basebackup
# -R into DIR/standby (a pg_basebackup of the server's major: its own, else
# Debian's; else the same by hand, copy_backup), started on port 5433 in the same socket
# folder, replaying with recovery_min_apply_delay = $1 ms (default 0: as
# fast as it can). Exports PGRACE_REPLICA_DSN (its conninfo) and
# PGRACE_STANDBY_PID. pg_throwaway_stop stops it with the primary.
pg_throwaway_add_standby() {
	local delay=${1:-0} dir=$PG_THROWAWAY_OWNED bindir user major cand cmaj basebackup="" opts
	if [[ -z "$dir" || ! -f "$dir/data/postmaster.pid" ]]; then
		pg_throwaway__log "no throwaway primary started by this shell to add a standby to"
		return 1
	fi
	if [[ ! "$delay" =~ ^[0-9]+$ ]]; then
		pg_throwaway__log "--apply-delay-ms must be a number of milliseconds, not '$delay'"
		return 1
	fi
	bindir=$PGRACE_PG_BINDIR
	user=$(stat -c %U "$dir")
	major=$("$bindir/postgres" --version | awk '{ print $3 }')
	major=${major%%.*}
	major=${major%%[!0-9]*}
	for cand in "$bindir/pg_basebackup" $(printf '%s\n' /usr/lib/postgresql/*/bin/pg_basebackup | sort -V); do
		[[ -x "$cand" ]] || continue
		cmaj=$("$cand" --version 2>/dev/null | awk '{ print $3 }')
		cmaj=${cmaj%%.*}
		# Its own major only: -R writes a primary_conninfo in its libpq's
		# terms (a newer one's sslsni is unknown to an older server's).
		if [[ "$cmaj" =~ ^[0-9]+$ ]] && ((cmaj == major)); then
			basebackup=$cand
			break
		fi
	done
	if [[ -n "$basebackup" ]]; then
		if ! pg_throwaway__as "$user" "$dir" "$basebackup" -D "$dir/standby" -R -h "$dir" -p 5432 \
			-U postgres -X stream -c fast --no-sync >"$dir/basebackup.log" 2>&1; then
			pg_throwaway__log "pg_basebackup failed:"
			tail -n 10 "$dir/basebackup.log" >&2
			return 1
		fi
	elif ! pg_throwaway__copy_backup "$dir" "$user" "$major"; then
		return 1
	fi
	opts="-c listen_addresses='' -k '$dir' -p 5433 -c fsync=off -c hot_standby=on"
	opts+=" -c max_connections=${PG_MAX_CONNECTIONS:-200} -c recovery_min_apply_delay=${delay}ms"
	if ! pg_throwaway__as "$user" "$dir" "$bindir/pg_ctl" -w -t 30 -D "$dir/standby" \
		-l "$dir/standby.log" -o "$opts" start >>"$dir/pg_ctl.log" 2>&1; then
		pg_throwaway__log "the standby did not start; its log ends with:"
		tail -n 20 "$dir/standby.log" >&2 2>/dev/null
		return 1
	fi
	local how="pg_basebackup -R"
	[[ -n "$basebackup" ]] || how="pg_backup_start, a copy, pg_backup_stop"
	PGRACE_STANDBY_PID=$(head -n 1 "$dir/standby/postmaster.pid" 2>/dev/null) || PGRACE_STANDBY_PID=""
	printf 'standby_pid=%s\n' "$PGRACE_STANDBY_PID" >>"$dir/$PG_THROWAWAY_MARKER"
	export PGRACE_STANDBY_PID PGRACE_REPLICA_DSN="host=$dir port=5433 user=postgres dbname=postgres"
	pg_throwaway__log "standby up ($how, recovery_min_apply_delay ${delay} ms): port 5433 in $dir, pid $PGRACE_STANDBY_PID"
}

# Unsets what start exported, when it described folder $1.
pg_throwaway__forget() {
	if [[ "$PG_THROWAWAY_OWNED" == "$1" ]]; then
		PG_THROWAWAY_OWNED=""
	fi
	if [[ "${PGRACE_PG_DIR:-}" == "$1" ]]; then
		unset PGRACE_PG_DIR PGRACE_PG_PID
		if [[ "${PGHOST:-}" == "$1" ]]; then
			unset PGHOST PGPORT PGUSER PGDATABASE
		fi
	fi
}
