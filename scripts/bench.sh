#!/usr/bin/env bash
# bench.sh: pgrace's benchmark, every figure beside its pgbench peer.
#
#   scripts/bench.sh [--quick] [--dsn CONNINFO]
#
# Builds pgrace (scripts/setup.sh, into $PGRACE_BUILD_DIR, default build),
# then measures, each figure the median of 5 repetitions:
#
#   hit rate    fire-mode race hit rate (rounds with a duplicate / rounds) of
#               check-then-insert and INSERT ... WHERE NOT EXISTS at 2, 4, 8,
#               16 and 64 workers (bench/hit-*.yaml), with the release skew
#               pgrace achieved; beside it pgbench running the same SQL, one
#               transaction per client per round (bench/pgbench-*.sql,
#               `pgbench -n -c N -j 2 -t 1`), and hold mode's rate
#   throughput  free-running (pgrace run --duration S) registration flow on
#               fresh keys before and after the unique constraint at 1, 8, 32
#               and 128 workers (bench/throughput-{before,after}.yaml): attempts/s,
#               latency p50/p90/p99/max, client CPU per attempt (the tool's
#               user+sys) and server CPU per attempt (the postmaster and its
#               children, when the server runs here), beside
#               `pgbench -n -M prepared -c N -j 2 -T S` (the figure to beat),
#               and each tool's efficiency: attempts/s x server CPU per attempt
#               / cores, the share of the machine the server gets
#               and `-M simple` (for reference), the order of the three
#               rotating from one repetition to the next
#   release     fire mode's release spread at 2, 16 and 64 workers
#               (bench/release-spread.yaml, an autocommit INSERT stamped with
#               statement_timestamp()): per round the client's (first to last
#               tail written with --release last-byte, first to last first
#               send with --release send) and the server-observed one (last
#               statement_timestamp() minus the first), beside pgbench running
#               the same INSERT with -t 1 (client: its log's transaction
#               starts); and an app flow's (bench/app-release-spread.yaml:
#               psql processes through pgrace's listener, fire mode holding
#               each one's INSERT) at 2 and 16 workers: the listener's (first
#               to last write of a released INSERT) and the server-observed
#   yield       fire mode's duplicate yield, mean (rows - 1) / (workers - 1)
#               per round, of the narrowest race: autocommit INSERT ... WHERE
#               NOT EXISTS at 2 and 16 workers
#               (bench/hit-where-not-exists-autocommit.yaml), with each
#               release, beside pgbench running the same statement with -t 1
#   gate        the seed gate's wall time from nothing: throwaway cluster up,
#               scenarios/membership-unique.yaml, verdict, teardown
#   scale       the seed scenario with --workers 1000 --rounds 3 on a cluster
#               with max_connections 1100: verdict, pgrace's peak RSS, most
#               threads, connect time (the slowest phase's connect_s)
#   interleave  milliseconds per interleave order, every order of the seed
#               flow at 2 and 3 workers (bench/interleave.yaml, --mode
#               interleave --workers N): phase "before" (no step waits) and
#               "after" (the unique constraint: INSERTs wait on each other,
#               some orders are not executable), with where the time went
#               (BEGIN, steps, lock-view questions, teardown, rows query)
#
# Hit rate and throughput run against the server named by --dsn or the PG*
# variables (PGHOST, PGHOSTADDR, PGPORT, PGDATABASE, PGSERVICE), else against
# a throwaway cluster (scripts/pg-throwaway.sh), stopped and deleted on exit.
# The gate always starts its own clusters; scale uses the given server when
# its max_connections is at least 1010, else a throwaway one with 1100.
# pgbench and psql work in a schema of their own (pgrace_bench_<pid>, with
# PGOPTIONS setting search_path: a conninfo with its own options= defeats
# that), dropped at the end.
#
# --quick: 6 rounds per hit-rate repetition instead of 50, 1 s free runs
# instead of 5, still 5 repetitions everywhere but scale and interleave (1
# instead of 5 and 3: a 1000-worker run takes about 17 s here, the 3,360
# orders of 3 workers about 15 s, 60 s more without the reduction); about 5
# minutes on 2 cores once pgrace is built.
#
# Writes results/bench.json (figures, goals, machine, command),
# results/bench.md (the tables in Markdown, for docs/performance.md),
# results/bench-{hit-rate,throughput,latency,gate,scale}.csv,
# results/bench-hit-rate.svg and results/bench-throughput.svg (gnuplot,
# bench/*.gp), results/bench-raw.jsonl (one line per repetition), and prints
# the tables (bench.md, the same text); scripts/bench-summary.py computes
# every table's medians and the goals from the raw lines.
# The goals (issue 12: free-run
# attempts/s >= 1.2x and client CPU per attempt <= 0.8x pgbench -M
# prepared's, fire skew p50 <= 100 / 400 us at 16 / 64 workers, duplicate
# yield, hold detection latency, gate <= 1 s, 1000 workers passing in
# <= 64 MiB with <= cores + 4 threads) are reported with their actual
# values, never asserted; a goal not measured yet reads n/a.
#
# Environment: PGRACE_BUILD_DIR; PGRACE_RESULTS_DIR (default results);
# BENCH_REPS (5), BENCH_HIT_ROUNDS (50; quick 6), BENCH_SECONDS (5; quick 1),
# BENCH_SCALE_REPS (5; quick 1), BENCH_ILV_REPS (3; quick 1), BENCH_SKIP (comma
# list of hit,release,yield,throughput,gate,scale,interleave to leave out), BENCH_NO_BUILD=1 (use the built
# pgrace as is).
#
# Exit code: 0 every measurement ran; 1 some did not (their figures are
# null, the rest is written); 2 bad usage or the build failed; 3 no server;
# 130/143 on SIGINT/SIGTERM (the running pgrace is told first and drops its
# schema; every throwaway cluster is stopped and deleted). Findings and
# tables of a real run: docs/performance.md.

# shellcheck disable=SC2016 # single-quoted $names are jq's, not the shell's
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() {
	printf 'bench: %s\n' "$*" >&2
}

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

command_line="scripts/bench.sh"
for arg in "$@"; do
	command_line+=" $(printf '%q' "$arg")"
done

quick=0
have_dsn=0
dsn=""
while (($#)); do
	case "$1" in
	--quick)
		quick=1
		shift
		;;
	--dsn)
		if (($# < 2)); then
			say "--dsn needs a value"
			exit 2
		fi
		have_dsn=1
		dsn=$2
		shift 2
		;;
	--dsn=*)
		have_dsn=1
		dsn=${1#--dsn=}
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		say "unknown argument: $1 (usage: scripts/bench.sh [--quick] [--dsn CONNINFO])"
		exit 2
		;;
	esac
done
if ((have_dsn)); then
	# A password must not land in results/bench.json.
	command_line="scripts/bench.sh"
	if ((quick)); then
		command_line+=" --quick"
	fi
	command_line+=" --dsn ***"
fi

reps=${BENCH_REPS:-5}
if ((quick)); then
	hit_rounds=${BENCH_HIT_ROUNDS:-6}
	seconds=${BENCH_SECONDS:-1}
	scale_reps=${BENCH_SCALE_REPS:-1}
	ilv_reps=${BENCH_ILV_REPS:-1}
else
	hit_rounds=${BENCH_HIT_ROUNDS:-50}
	seconds=${BENCH_SECONDS:-5}
	scale_reps=${BENCH_SCALE_REPS:-5}
	ilv_reps=${BENCH_ILV_REPS:-3}
fi
for v in reps hit_rounds seconds scale_reps ilv_reps; do
	if [[ ! "${!v}" =~ ^[1-9][0-9]*$ ]]; then
		say "$v must be a positive number, not '${!v}'"
		exit 2
	fi
done
skip=",${BENCH_SKIP:-},"
hit_workers=(2 4 8 16 64)
hit_flows=(check-then-insert where-not-exists)
tp_workers=(1 8 32 128)
scale_workers=1000
scale_rounds=3
seed_scenario=scenarios/membership-unique.yaml

results=${PGRACE_RESULTS_DIR:-results}
mkdir -p "$results"
raw=$results/bench-raw.jsonl
: >"$raw"
t_bench0=${EPOCHREALTIME/,/.}

# shellcheck source=SCRIPTDIR/pg-throwaway.sh
source scripts/pg-throwaway.sh

# ---- helpers ----

now() {
	printf '%s\n' "${EPOCHREALTIME/,/.}"
}

# Seconds from $1 to $2, 3 decimals.
elapsed() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'
}

wanted() {
	[[ "$skip" != *",$1,"* ]]
}

failures=0
failed() {
	failures=$((failures + 1))
	say "FAILED: $*"
}

# Appends one JSON object (jq -n arguments, then the filter) to the raw file.
record() {
	jq -cn "$@" >>"$raw"
}

# Percentiles of the microsecond values on stdin (one per line), by the
# histogram pgrace's own latencies use, so both tools' figures come from one
# estimator: "p50 p90 p99 max count", or "null null null null 0".
percentiles() {
	"$pgrace" percentiles
}

# ---- tools ----

if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
	t0=$(now)
	if ! scripts/setup.sh >&2; then
		say "scripts/setup.sh failed"
		exit 2
	fi
	say "build: $(elapsed "$t0" "$(now)") s"
fi
pgrace=${PGRACE_BUILD_DIR:-build}/pgrace
if [[ ! -x "$pgrace" ]]; then
	say "$pgrace is missing: build it with scripts/setup.sh"
	exit 2
fi
# The server binaries' own pgbench and psql: Debian's /usr/bin ones are a
# Perl wrapper (pg_wrapper) that costs about 25 ms per call, once per round.
bindir=$(pg_throwaway_bindir 2>/dev/null) || bindir=""
pick_tool() {
	if [[ -n "$bindir" && -x "$bindir/$1" ]]; then
		printf '%s\n' "$bindir/$1"
	elif command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	else
		say "$1 not found: install postgresql-client (scripts/setup.sh does)"
		exit 2
	fi
}
pgbench=$(pick_tool pgbench)
psql=$(pick_tool psql)
for tool in jq gnuplot python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		say "$tool not found (scripts/setup.sh installs it)"
		exit 2
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgrace-bench.XXXXXX")
bschema=pgrace_bench_$$
schema_made=0

# Connection arguments for pgrace (--dsn), psql (-d) and pgbench (last arg).
pgr_conn=()
psql_conn=()
pgb_conn=()
set_conn() {
	pgr_conn=()
	psql_conn=()
	pgb_conn=()
	if [[ -n "${1:-}" ]]; then
		pgr_conn=(--dsn "$1")
		psql_conn=(-d "$1")
		pgb_conn=("$1")
	fi
}

# psql on the current server: no psqlrc, stop at the first error, bare output.
q() {
	PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10} "$psql" -X -v ON_ERROR_STOP=1 -Atq "${psql_conn[@]}" "$@"
}

bench_on_exit() {
	local rc=$?
	trap - EXIT
	if ((schema_made)); then
		q -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $bschema CASCADE" \
			>/dev/null 2>&1 || say "could not drop schema $bschema"
	fi
	rm -rf -- "$tmp"
	pg_throwaway_stop || true
	exit "$rc"
}
pg_throwaway_install_traps # INT/TERM reach the pgrace that runs (it drops its schema)
trap bench_on_exit EXIT

# Runs pgrace in a process group of its own (signals reach it through the
# traps); its exit code, 0 to 5, is the caller's to judge.
run_pgrace() {
	local rc=0
	pg_throwaway_run "$pgrace" "$@" || rc=$?
	if ((PG_THROWAWAY_SIGNALLED)); then
		exit "$PG_THROWAWAY_SIGNALLED"
	fi
	return "$rc"
}

# (Re)creates the pgbench schema from scenario $1's schema and seed SQL.
pgb_schema() {
	local sql
	sql="SET client_min_messages = warning; DROP SCHEMA IF EXISTS $bschema CASCADE;"
	sql+=" CREATE SCHEMA $bschema; SET search_path TO $bschema;"$'\n'
	sql+=$("$pgrace" show "$1" schema)$'\n'
	sql+=$("$pgrace" show "$1" seed 2>/dev/null || true)
	schema_made=1
	q -c "$sql"
}

# pgbench in the bench schema; output in $tmp/pgb.out (stdout and stderr).
run_pgbench() {
	local rc=0
	PGOPTIONS="-c search_path=$bschema" "$pgbench" "$@" "${pgb_conn[@]}" >"$tmp/pgb.out" 2>&1 || rc=$?
	if ((rc)); then
		say "pgbench $* exited $rc:"
		tail -n 5 "$tmp/pgb.out" >&2
	fi
	return "$rc"
}

checkpoint() {
	q -c "CHECKPOINT" >/dev/null 2>&1 || true
}

# ---- 1. hit rate ----

# pgrace, one repetition: flow $1, workers $2, mode $3, repetition $4.
hit_pgrace() {
	local flow=$1 w=$2 mode=$3 rep=$4 rc=0 out=$tmp/hit.json
	rm -f "$out"
	run_pgrace run "bench/hit-$flow.yaml" "${pgr_conn[@]}" --workers "$w" --rounds "$hit_rounds" \
		--mode "$mode" --json "$out" -q >"$tmp/pgrace.out" 2>&1 || rc=$?
	if ((rc != 0)) || [[ ! -s "$out" ]]; then
		failed "pgrace hit $flow $mode, $w workers, rep $rep: exit $rc: $(tail -n 3 "$tmp/pgrace.out")"
		record --arg flow "$flow" --argjson w "$w" --arg mode "$mode" --argjson rep "$rep" --argjson rc "$rc" \
			'{section: "hit", tool: "pgrace", mode: $mode, flow: $flow, workers: $w, rep: $rep, ok: false, exit: $rc}'
		return 0
	fi
	jq -c --arg flow "$flow" --arg mode "$mode" --argjson rep "$rep" '.phases[0] as $p |
		{section: "hit", tool: "pgrace", mode: $mode, flow: $flow, workers: $p.workers, rep: $rep,
		 ok: true, rounds: $p.rounds, dup: $p.rounds_with_duplicates, rows_max: $p.rows_per_key.max,
		 skew_p50: $p.skew_us.p50, skew_max: $p.skew_us.max, lat_p50: $p.latency_us.p50,
		 lat_max: $p.latency_us.max, outcomes: $p.outcomes, elapsed_s: .elapsed_s}' "$out" >>"$raw"
}

# pgbench, one repetition: a fresh schema, then hit_rounds rounds, round r
# racing on user_id r as pgrace's round r does (no TRUNCATE: each round's
# key is fresh, and both tools see the same table growth).
hit_pgbench() {
	local flow=$1 w=$2 rep=$3 r counts skews lat dup keys min max s50 smax l50 lmax lcount
	local logs=$tmp/pgb-hit
	rm -rf "$logs"
	mkdir -p "$logs"
	if ! pgb_schema "bench/hit-$flow.yaml" >/dev/null; then
		failed "pgbench hit $flow: schema setup"
		return 0
	fi
	for ((r = 1; r <= hit_rounds; r++)); do
		if ! run_pgbench -n -c "$w" -j 2 -t 1 -D base="$r" -D n=0 -D clients="$w" -D per_client=0 \
			-l --log-prefix="$logs/r$r" -f "bench/pgbench-$flow.sql"; then
			failed "pgbench hit $flow, $w clients, rep $rep, round $r"
			record --arg flow "$flow" --argjson w "$w" --argjson rep "$rep" \
				'{section: "hit", tool: "pgbench", mode: "pgbench", flow: $flow, workers: $w, rep: $rep, ok: false}'
			return 0
		fi
	done
	counts=$(q -c "SET search_path TO $bschema;
		SELECT count(*) FILTER (WHERE n > 1), count(*), coalesce(min(n), 0), coalesce(max(n), 0)
		FROM (SELECT count(*) AS n FROM user_tenant_membership GROUP BY user_id, tenant_id) s" | tr '|' ' ')
	read -r dup keys min max <<<"$counts"
	# Release skew per round from pgbench's per-transaction log: a
	# transaction started at its end (epoch s, us) minus its latency.
	skews=$(for ((r = 1; r <= hit_rounds; r++)); do
		cat "$logs/r$r".* | awk '{ s = ($5 * 1000000 + $6) - $3
			if (NR == 1 || s < lo) lo = s; if (NR == 1 || s > hi) hi = s }
			END { if (NR) printf "%d\n", hi - lo }'
	done | percentiles)
	lat=$(cat "$logs"/r* | awk '{ print $3 }' | percentiles)
	read -r s50 _ _ smax _ <<<"$skews"
	read -r l50 _ _ lmax lcount <<<"$lat"
	local ok=true
	if ((keys != hit_rounds || min < 1 || lcount != w * hit_rounds)); then
		ok=false
		failed "pgbench hit $flow, $w clients, rep $rep: $keys keys of $hit_rounds, $lcount transactions of $((w * hit_rounds))"
	fi
	record --arg flow "$flow" --argjson w "$w" --argjson rep "$rep" --argjson ok "$ok" \
		--argjson rounds "$hit_rounds" --argjson dup "$dup" --argjson rows_max "$max" \
		--argjson s50 "$s50" --argjson smax "$smax" --argjson l50 "$l50" --argjson lmax "$lmax" \
		'{section: "hit", tool: "pgbench", mode: "pgbench", flow: $flow, workers: $w, rep: $rep, ok: $ok,
		  rounds: $rounds, dup: $dup, rows_max: $rows_max, skew_p50: $s50, skew_max: $smax,
		  lat_p50: $l50, lat_max: $lmax}'
}

# ---- 1b. duplicate yield: autocommit WHERE NOT EXISTS ----

# pgrace, one repetition at $1 workers with --release $3 (default
# last-byte): the mean (rows - 1) / (workers - 1).
yield_pgrace() {
	local w=$1 rep=$2 how=${3:-last-byte} rc=0 out=$tmp/yield.json tool=pgrace
	[[ "$how" == send ]] && tool=pgrace_send
	rm -f "$out"
	run_pgrace run bench/hit-where-not-exists-autocommit.yaml "${pgr_conn[@]}" --workers "$w" \
		--rounds "$hit_rounds" --release "$how" --json "$out" -q >"$tmp/pgrace.out" 2>&1 || rc=$?
	if ((rc != 0)) || [[ ! -s "$out" ]]; then
		failed "pgrace yield ($how), $w workers, rep $rep: exit $rc: $(tail -n 3 "$tmp/pgrace.out")"
		return 0
	fi
	jq -c --argjson rep "$rep" --arg tool "$tool" '.phases[0] |
		{section: "yield", tool: $tool, workers: .workers, rep: $rep, ok: true, rounds: .rounds,
		 extra_rows: .extra_rows, yield: .duplicate_yield, dup: .rounds_with_duplicates,
		 skew_p50: .skew_us.p50}' "$out" >>"$raw"
}

# pgbench, the same statement in autocommit, `-t 1` once per round.
yield_pgbench() {
	local w=$1 rep=$2 r extra keys
	if ! pgb_schema bench/hit-where-not-exists-autocommit.yaml >/dev/null; then
		failed "pgbench yield: schema setup"
		return 0
	fi
	for ((r = 1; r <= hit_rounds; r++)); do
		if ! run_pgbench -n -c "$w" -j 2 -t 1 -D base="$r" -D n=0 -D clients="$w" -D per_client=0 \
			-f bench/pgbench-where-not-exists-autocommit.sql; then
			failed "pgbench yield, $w clients, rep $rep, round $r"
			return 0
		fi
	done
	read -r extra keys < <(q -c "SET search_path TO $bschema;
		SELECT coalesce(sum(n - 1), 0), count(*)
		FROM (SELECT count(*) AS n FROM user_tenant_membership GROUP BY user_id, tenant_id) s" | tr '|' ' ')
	record --argjson w "$w" --argjson rep "$rep" --argjson rounds "$hit_rounds" --argjson extra "$extra" \
		--argjson keys "$keys" \
		'{section: "yield", tool: "pgbench", workers: $w, rep: $rep, ok: ($keys == $rounds),
		  rounds: $rounds, extra_rows: $extra, yield: ($extra / ($rounds * ($w - 1)))}'
}

yield_section() {
	local rep w
	for ((rep = 1; rep <= reps; rep++)); do
		say "duplicate yield: repetition $rep of $reps ($hit_rounds rounds each)"
		for w in 2 16; do
			if ((rep % 2)); then
				yield_pgrace "$w" "$rep"
				yield_pgrace "$w" "$rep" send
				yield_pgbench "$w" "$rep"
			else
				yield_pgbench "$w" "$rep"
				yield_pgrace "$w" "$rep" send
				yield_pgrace "$w" "$rep"
			fi
		done
	done
}

# ---- release spread ----

# pgrace, one repetition of bench/release-spread.yaml at $1 workers with
# --release $2: the client spread from the JSON, the server-observed one
# (per round, statement_timestamp() of the last worker minus the first's)
# from public.pgrace_bench_release, which the scenario's collect phase fills.
release_pgrace() {
	local w=$1 how=$2 rep=$3 rc=0 out=$tmp/release.json s50 smax
	rm -f "$out"
	q -c "SET client_min_messages = warning; DROP TABLE IF EXISTS public.pgrace_bench_release" >/dev/null
	run_pgrace run bench/release-spread.yaml "${pgr_conn[@]}" --workers "$w" --rounds "$hit_rounds" \
		--release "$how" --json "$out" -q >"$tmp/pgrace.out" 2>&1 || rc=$?
	if ((rc != 0)) || [[ ! -s "$out" ]]; then
		failed "pgrace release $how, $w workers, rep $rep: exit $rc: $(tail -n 3 "$tmp/pgrace.out")"
		return 0
	fi
	read -r s50 smax < <(q -c "SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY spread_us)),
		round(max(spread_us)) FROM public.pgrace_bench_release" | tr '|' ' ')
	q -c "DROP TABLE public.pgrace_bench_release" >/dev/null
	jq -c --arg how "$how" --argjson rep "$rep" --argjson s50 "${s50:-null}" --argjson smax "${smax:-null}" \
		'.phases[0] | {section: "release", tool: ("pgrace_" + $how), workers: .workers, rep: $rep,
		 ok: true, mode: .release.mode, client_p50: .release.spread_us.p50,
		 client_max: .release.spread_us.max, server_p50: $s50, server_max: $smax}' "$out" >>"$raw"
}

# pgbench, the same INSERT, `-t 1` once per round; its client spread from
# the per-transaction log (first to last transaction start, as hit rate's),
# the server-observed one from the rows.
release_pgbench() {
	local w=$1 rep=$2 r logs=$tmp/pgb-rel skews c50 cmax s50 smax
	rm -rf "$logs"
	mkdir -p "$logs"
	if ! pgb_schema bench/release-spread.yaml >/dev/null; then
		failed "pgbench release: schema setup"
		return 0
	fi
	for ((r = 1; r <= hit_rounds; r++)); do
		if ! run_pgbench -n -c "$w" -j 2 -t 1 -D base="$r" -l --log-prefix="$logs/r$r" \
			-f bench/pgbench-release-spread.sql; then
			failed "pgbench release, $w clients, rep $rep, round $r"
			return 0
		fi
	done
	skews=$(for ((r = 1; r <= hit_rounds; r++)); do
		cat "$logs/r$r".* | awk '{ s = ($5 * 1000000 + $6) - $3
			if (NR == 1 || s < lo) lo = s; if (NR == 1 || s > hi) hi = s }
			END { if (NR) printf "%d\n", hi - lo }'
	done | percentiles)
	read -r c50 _ _ cmax _ <<<"$skews"
	read -r s50 smax < <(q -c "SET search_path TO $bschema;
		SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY s)), round(max(s)) FROM
		(SELECT extract(epoch FROM max(at) - min(at)) * 1e6 AS s FROM release_at GROUP BY k) x" | tr '|' ' ')
	record --argjson w "$w" --argjson rep "$rep" --argjson c50 "$c50" --argjson cmax "$cmax" \
		--argjson s50 "${s50:-null}" --argjson smax "${smax:-null}" \
		'{section: "release", tool: "pgbench", workers: $w, rep: $rep, ok: true, mode: "pgbench",
		  client_p50: $c50, client_max: $cmax, server_p50: $s50, server_max: $smax}'
}

# pgrace, one repetition of bench/app-release-spread.yaml at $1 workers: an
# app flow (one psql process per worker) in fire mode; the listener's spread
# from the JSON, the server-observed one from public.pgrace_bench_release.
release_app() {
	local w=$1 rep=$2 rc=0 out=$tmp/release-app.json s50 smax
	rm -f "$out"
	q -c "SET client_min_messages = warning; DROP TABLE IF EXISTS public.pgrace_bench_release" >/dev/null
	run_pgrace run bench/app-release-spread.yaml "${pgr_conn[@]}" --workers "$w" --rounds "$hit_rounds" \
		--json "$out" -q >"$tmp/pgrace.out" 2>&1 || rc=$?
	if ((rc != 0)) || [[ ! -s "$out" ]]; then
		failed "pgrace app release, $w workers, rep $rep: exit $rc: $(tail -n 3 "$tmp/pgrace.out")"
		return 0
	fi
	read -r s50 smax < <(q -c "SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY spread_us)),
		round(max(spread_us)) FROM public.pgrace_bench_release" | tr '|' ' ')
	q -c "DROP TABLE public.pgrace_bench_release" >/dev/null
	jq -c --argjson rep "$rep" --argjson s50 "${s50:-null}" --argjson smax "${smax:-null}" \
		'.phases[0] | {section: "release", tool: "pgrace_app", workers: .workers, rep: $rep,
		 ok: true, mode: "app", client_p50: .release.spread_us.p50,
		 client_max: .release.spread_us.max, server_p50: $s50, server_max: $smax}' "$out" >>"$raw"
}

release_section() {
	local rep w
	for ((rep = 1; rep <= reps; rep++)); do
		say "release spread: repetition $rep of $reps ($hit_rounds rounds each)"
		for w in 2 16 64; do
			release_pgrace "$w" last-byte "$rep"
			release_pgrace "$w" send "$rep"
			release_pgbench "$w" "$rep"
			if ((w <= 16)); then
				release_app "$w" "$rep"
			fi
		done
	done
}

hit_section() {
	local rep flow w
	for ((rep = 1; rep <= reps; rep++)); do
		say "hit rate: repetition $rep of $reps ($hit_rounds rounds each)"
		for flow in "${hit_flows[@]}"; do
			for w in "${hit_workers[@]}"; do
				hit_pgrace "$flow" "$w" fire "$rep"
				hit_pgbench "$flow" "$w" "$rep"
				hit_pgrace "$flow" "$w" hold "$rep"
			done
		done
	done
}

# ---- 2. throughput ----

# Sets cpu_now to the CPU seconds (user+sys) of this shell's finished
# children so far: the second line of bash's `times`, run in this shell (a
# subshell would start from zero). pgrace and pgbench run as children of
# this shell and are waited for, so every thread of theirs counts.
cpu_now=null
children_cpu() {
	local line
	times >"$tmp/times"
	line=$(tail -n 1 "$tmp/times")
	cpu_now=null
	if [[ "$line" =~ ^([0-9]+)m([0-9.]+)s\ ([0-9]+)m([0-9.]+)s$ ]]; then
		cpu_now=$(awk -v a="${BASH_REMATCH[1]}" -v b="${BASH_REMATCH[2]}" -v c="${BASH_REMATCH[3]}" \
			-v d="${BASH_REMATCH[4]}" 'BEGIN { printf "%.3f\n", a * 60 + b + c * 60 + d }')
	fi
}

# The server's postmaster pid when it runs on this machine ("" otherwise):
# the throwaway cluster's, else the parent of a backend seen in /proc.
server_pid=""
find_server_pid() {
	local bpid ppid
	if ((!user_server)) && [[ -n "${PGRACE_PG_PID:-}" ]]; then
		server_pid=$PGRACE_PG_PID
		return
	fi
	bpid=$(q -c "SELECT pg_backend_pid()" 2>/dev/null) || return 0
	[[ -r "/proc/$bpid/stat" ]] || return 0
	ppid=$(sed 's/^.*) //' "/proc/$bpid/stat" | cut -d' ' -f2)
	[[ "$(cat "/proc/$ppid/comm" 2>/dev/null)" == postgres* ]] && server_pid=$ppid
	return 0
}

# CPU seconds of the whole server so far: the postmaster's own and its
# reaped children's (backends that exited, such as a finished run's), plus
# every live child's; "null" when the server is not on this machine.
server_cpu_s() {
	if [[ -z "$server_pid" || ! -r "/proc/$server_pid/stat" ]]; then
		echo null
		return
	fi
	# (processes come and go while cat reads: its complaints do not matter)
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$server_pid" -v hz="$(getconf CLK_TCK)" '
		{ pid = $1; sub(/^.*\) /, ""); split($0, f, " ")
		  # f[2] ppid, f[12] utime, f[13] stime, f[14] cutime, f[15] cstime
		  if (pid == pm) t += f[12] + f[13] + f[14] + f[15]
		  else if (f[2] == pm) t += f[12] + f[13] }
		END { printf "%.3f\n", t / hz }'
}

# Difference b - a of two CPU readings, null when either is.
cpu_delta() {
	if [[ "$1" == null || "$2" == null ]]; then
		echo null
	else
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'
	fi
}

# A free run's seconds at $1 workers: at least 3 from 128 workers up
# (pgbench's -T counts its connecting, which takes a second or more there).
tp_seconds() {
	if (($1 >= 128 && seconds < 3)); then
		echo 3
	else
		echo "$seconds"
	fi
}

# pgrace, free-running phase $1 (bench/throughput-$1.yaml) at $2 workers.
tp_pgrace() {
	local phase=$1 w=$2 rep=$3 rc=0 out=$tmp/tp.json c0 c1 s0 s1
	rm -f "$out"
	checkpoint
	children_cpu
	c0=$cpu_now
	s0=$(server_cpu_s)
	run_pgrace run "bench/throughput-$phase.yaml" "${pgr_conn[@]}" --workers "$w" --duration "$(tp_seconds "$w")" \
		--json "$out" -q >"$tmp/pgrace.out" 2>&1 || rc=$?
	s1=$(server_cpu_s)
	children_cpu
	c1=$cpu_now
	if ((rc != 0)) || [[ ! -s "$out" ]]; then
		failed "pgrace throughput $phase, $w workers, rep $rep: exit $rc: $(tail -n 3 "$tmp/pgrace.out")"
		return 0
	fi
	jq -c --argjson rep "$rep" --argjson ccpu "$(cpu_delta "$c0" "$c1")" \
		--argjson scpu "$(cpu_delta "$s0" "$s1")" '.phases[] | select(.free_run) |
		{section: "throughput", tool: "pgrace", phase: .name, workers: .workers, rep: $rep, ok: true,
		 tps: .throughput_tps, attempts: .attempts, duration_s: .duration_s,
		 client_cpu_s: $ccpu, server_cpu_s: $scpu,
		 errors: (.attempts - (.outcomes.ok // 0) - (.outcomes.skipped // 0)), outcomes: .outcomes,
		 p50: .latency_us.p50, p90: .latency_us.p90, p99: .latency_us.p99, max: .latency_us.max}' \
		"$out" >>"$raw"
}

# pgbench, -M $3 (prepared or simple), phase $1 at $2 clients, in a fresh
# schema made from bench/throughput-$1.yaml. Its per-transaction log is
# sampled (1 in 10): a full log costs pgbench CPU that pgrace's in-memory
# histogram does not.
tp_pgbench() {
	local phase=$1 w=$2 qmode=$3 rep=$4 tps n aborted p50 p90 p99 max logs=$tmp/pgb-tp c0 c1 s0 s1 rc=0
	rm -rf "$logs"
	mkdir -p "$logs"
	if ! pgb_schema "bench/throughput-$phase.yaml" >/dev/null; then
		failed "pgbench throughput $phase: schema setup"
		return 0
	fi
	checkpoint
	children_cpu
	c0=$cpu_now
	s0=$(server_cpu_s)
	run_pgbench -n -M "$qmode" -c "$w" -j 2 -T "$(tp_seconds "$w")" -D base=1 -D n=0 -D clients="$w" -D per_client=1 \
		-l --sampling-rate=0.1 --log-prefix="$logs/tp" -f bench/pgbench-check-then-insert.sql || rc=$?
	s1=$(server_cpu_s)
	children_cpu
	c1=$cpu_now
	if ((rc)); then
		failed "pgbench -M $qmode throughput $phase, $w clients, rep $rep"
		return 0
	fi
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$tmp/pgb.out")
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*$/\1/p' "$tmp/pgb.out")
	aborted=$(grep -c 'client [0-9]* aborted' "$tmp/pgb.out" || true)
	read -r p50 p90 p99 max _ < <(cat "$logs"/tp.* | awk '{ print $3 }' | percentiles)
	record --arg phase "$phase" --argjson w "$w" --argjson rep "$rep" --arg qmode "$qmode" \
		--argjson tps "${tps:-null}" --argjson n "${n:-null}" --argjson aborted "$aborted" \
		--argjson p50 "$p50" --argjson p90 "$p90" --argjson p99 "$p99" --argjson max "$max" \
		--argjson ccpu "$(cpu_delta "$c0" "$c1")" --argjson scpu "$(cpu_delta "$s0" "$s1")" \
		'{section: "throughput", tool: ("pgbench_" + $qmode), phase: $phase, workers: $w, rep: $rep,
		  ok: ($tps != null and $n != null), tps: $tps, attempts: $n, aborted_clients: $aborted,
		  client_cpu_s: $ccpu, server_cpu_s: $scpu, p50: $p50, p90: $p90, p99: $p99, max: $max}'
}

tp_section() {
	local rep w phase i k
	local -a order=(pgrace prepared simple)
	for ((rep = 1; rep <= reps; rep++)); do
		say "throughput: repetition $rep of $reps (${seconds} s free runs)"
		for phase in before after; do
			for w in "${tp_workers[@]}"; do
				# Rotate which tool goes first, so that none always
				# inherits the others' dead tuples and checkpoints.
				for ((i = 0; i < 3; i++)); do
					k=${order[(rep - 1 + i) % 3]}
					case "$k" in
					pgrace) tp_pgrace "$phase" "$w" "$rep" ;;
					*) tp_pgbench "$phase" "$w" "$k" "$rep" ;;
					esac
				done
			done
		done
	done
}

# ---- 3. the gate from nothing ----

# One gate from nothing, in a process of its own (pg_throwaway_run: the
# parent's INT/TERM reach it, and it stops its own cluster): times in
# $tmp/gate.times ("start run stop exit").
gate_once() {
	local a b c d prc=0
	PG_THROWAWAY_OWNED=""
	pg_throwaway_install_traps
	a=$(now)
	pg_throwaway_start 2>>"$tmp/gate.log" || exit 3
	b=$(now)
	pg_throwaway_run "$pgrace" run "$seed_scenario" -q --json "$tmp/gate.json" \
		>>"$tmp/gate.log" 2>&1 || prc=$?
	if ((PG_THROWAWAY_SIGNALLED)); then
		exit "$PG_THROWAWAY_SIGNALLED"
	fi
	c=$(now)
	pg_throwaway_stop 2>>"$tmp/gate.log" || true
	d=$(now)
	printf '%s %s %s %s\n' "$(elapsed "$a" "$b")" "$(elapsed "$b" "$c")" "$(elapsed "$c" "$d")" "$prc" \
		>"$tmp/gate.times"
}

gate_section() {
	local rep t0 t1 rc times phases
	for ((rep = 1; rep <= reps; rep++)); do
		say "gate from nothing: repetition $rep of $reps"
		rm -f "$tmp/gate.json" "$tmp/gate.times"
		rc=0
		t0=$(now)
		pg_throwaway_run gate_once || rc=$?
		t1=$(now)
		if ((PG_THROWAWAY_SIGNALLED)); then
			exit "$PG_THROWAWAY_SIGNALLED"
		fi
		if [[ ! -s "$tmp/gate.times" ]]; then
			failed "gate rep $rep: the throwaway cluster did not start (exit $rc): $(tail -n 3 "$tmp/gate.log")"
			continue
		fi
		read -r -a times <"$tmp/gate.times"
		phases=$(jq -c '[.phases[] | {(.name): .elapsed_s}] | add' "$tmp/gate.json" 2>/dev/null) || phases=null
		hold=$(jq -c '[.phases[] | select(.mode == "hold" and .coordinator != null) |
			{name, detect_us_p50: .coordinator.detect_us.p50, detect_us_max: .coordinator.detect_us.max,
			 polls: .coordinator.polls, cpu_share: .coordinator.cpu_share}]' "$tmp/gate.json" 2>/dev/null) || hold=null
		record --argjson rep "$rep" --argjson phases "${phases:-null}" --argjson hold "${hold:-null}" \
			--argjson total "$(elapsed "$t0" "$t1")" \
			--argjson start "${times[0]}" --argjson run "${times[1]}" --argjson stop "${times[2]}" \
			--argjson exit "${times[3]}" --arg verdict "$(jq -r '.verdict' "$tmp/gate.json" 2>/dev/null || echo none)" \
			'{section: "gate", rep: $rep, ok: true, total_s: $total, start_s: $start, run_s: $run,
			  stop_s: $stop, exit: $exit, verdict: $verdict, phase_elapsed_s: $phases, hold: $hold}'
	done
}

# ---- 4. scale ----

# pgrace's peak RSS (VmHWM, KiB) and most threads (Threads), from
# /proc/PID/status polled every 50 ms while it runs.
scale_runs() {
	local rep rc out=$tmp/scale.json rss threads pid v t
	for ((rep = 1; rep <= scale_reps; rep++)); do
		say "scale: $scale_workers workers, repetition $rep of $scale_reps"
		rm -f "$out"
		rc=0
		rss=0
		threads=0
		set -m
		"$pgrace" run "$seed_scenario" "${pgr_conn[@]}" --workers "$scale_workers" \
			--rounds "$scale_rounds" --json "$out" -q </dev/null >"$tmp/pgrace.out" 2>&1 &
		pid=$!
		set +m
		PG_THROWAWAY_CHILD=$pid
		while kill -0 "$pid" 2>/dev/null; do
			read -r v t < <(awk '/^VmHWM:/ { h = $2 } /^Threads:/ { t = $2 } END { print h + 0, t + 0 }' \
				"/proc/$pid/status" 2>/dev/null || echo "0 0")
			((v > rss)) && rss=$v
			((t > threads)) && threads=$t
			sleep 0.05
		done
		wait "$pid" || rc=$?
		PG_THROWAWAY_CHILD=""
		if ((PG_THROWAWAY_SIGNALLED)); then
			exit "$PG_THROWAWAY_SIGNALLED"
		fi
		if [[ ! -s "$out" ]]; then
			failed "scale rep $rep: pgrace exited $rc without results: $(tail -n 3 "$tmp/pgrace.out")"
			continue
		fi
		((rc == 0)) || say "scale rep $rep: pgrace exited $rc: $(jq -r '.error // "expectations failed"' "$out")"
		jq -c --argjson rep "$rep" --argjson rc "$rc" --argjson rss "$rss" --argjson threads "$threads" \
			'{section: "scale", rep: $rep, ok: true, exit: $rc, verdict: .verdict, error: .error,
			  rss_kib: $rss, rss_source: "VmHWM", threads_max: $threads, elapsed_s: .elapsed_s,
			  connect_s: ([.phases[] | select(.workers == '"$scale_workers"') | .connect_s // empty] | max),
			  phases: [.phases[] | {name, elapsed_s, workers, rounds_with_duplicates, outcomes,
			                        skew_us, latency_us, connect_s}]}' "$out" >>"$raw"
	done
}

# The scale runs on a throwaway cluster of their own, in a process of their
# own (see gate_once); exit 1 when some run failed (reported already).
scale_cluster() {
	PG_THROWAWAY_OWNED=""
	pg_throwaway_install_traps
	PG_MAX_CONNECTIONS=1100 pg_throwaway_start 2>>"$tmp/scale.log" || exit 3
	set_conn ""
	scale_runs
	((failures == 0))
}

# ---- 5. interleave ----

# Every order of bench/interleave.yaml at 2 and 3 workers: per phase, the
# orders, the not-executable ones, ms per order and the time's parts.
ilv_section() {
	local rep w v rc out=$tmp/ilv.json t0 red
	local variants=("2 on" "3 on" "3 off")
	for ((rep = 1; rep <= ilv_reps; rep++)); do
		for v in "${variants[@]}"; do
			w=${v% *}
			red=${v#* }
			say "interleave: $w workers, reduction $red, repetition $rep of $ilv_reps"
			rm -f "$out"
			rc=0
			t0=$(now)
			local extra=()
			if [[ $red == off ]]; then
				extra=(--no-reduction)
			fi
			run_pgrace run bench/interleave.yaml "${pgr_conn[@]}" --mode interleave --workers "$w" \
				"${extra[@]}" --json "$out" -q >"$tmp/pgrace.out" 2>&1 || rc=$?
			if ((rc != 0)) || [[ ! -s "$out" ]]; then
				failed "pgrace interleave, $w workers, rep $rep: exit $rc: $(tail -n 3 "$tmp/pgrace.out")"
				continue
			fi
			jq -c --argjson rep "$rep" --argjson w "$w" --argjson wall "$(elapsed "$t0" "$(now)")" \
				--argjson red "$([[ $red == on ]] && echo true || echo false)" '
				{section: "interleave", workers: $w, rep: $rep, ok: true, run_s: $wall, reduction: $red,
				 phases: [.phases[] | select(.interleave != null) |
				   {name, orders: .interleave.interleavings, orders_run: .interleave.orders_run,
				    not_executable: .interleave.interleavings_not_executable,
				    ms_per_order: .interleave.ms_per_order, time: .interleave.time}]}' \
				"$out" >>"$raw"
		done
	done
}

scale_section() {
	local maxc rc=0
	if ((user_server)); then
		maxc=$(q -c "SHOW max_connections" 2>/dev/null || echo 0)
		if ((maxc >= scale_workers + 10)); then
			say "scale: on the given server (max_connections $maxc)"
			scale_runs
			return 0
		fi
		say "scale: the given server's max_connections is $maxc; using a throwaway cluster"
	fi
	pg_throwaway_run scale_cluster || rc=$?
	if ((PG_THROWAWAY_SIGNALLED)); then
		exit "$PG_THROWAWAY_SIGNALLED"
	fi
	if ((rc == 1)); then
		failures=$((failures + 1))
	elif ((rc != 0)); then
		failed "scale: exit $rc: $(tail -n 3 "$tmp/scale.log")"
	fi
}

# ---- the server ----

user_server=0
if ((have_dsn)) || [[ -n "${PGHOST:-}${PGHOSTADDR:-}${PGPORT:-}${PGDATABASE:-}${PGSERVICE:-}" ]]; then
	user_server=1
fi
set_conn "$dsn"

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
declare -A section_s=()
if wanted gate; then
	t0=$(now)
	gate_section
	section_s[gate]=$(elapsed "$t0" "$(now)")
fi

if ((!user_server)); then
	if ! pg_throwaway_start; then
		say "no server: the throwaway cluster did not start"
		exit 3
	fi
fi
if ! server_version=$(q -c "SHOW server_version"); then
	say "cannot connect to the server"
	exit 3
fi
find_server_pid
settings=$(q -F $'\t' -c "SELECT name, setting FROM pg_settings WHERE name IN
	('max_connections', 'fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers')" |
	jq -Rn '[inputs | split("\t") | {(.[0]): .[1]}] | add')

if wanted scale; then
	t0=$(now)
	scale_section
	section_s[scale]=$(elapsed "$t0" "$(now)")
fi
if wanted interleave; then
	t0=$(now)
	ilv_section
	section_s[interleave]=$(elapsed "$t0" "$(now)")
fi
if wanted hit; then
	t0=$(now)
	hit_section
	section_s[hit]=$(elapsed "$t0" "$(now)")
fi
if wanted release; then
	t0=$(now)
	release_section
	section_s[release]=$(elapsed "$t0" "$(now)")
fi
if wanted yield; then
	t0=$(now)
	yield_section
	section_s[yield]=$(elapsed "$t0" "$(now)")
fi
if wanted throughput; then
	t0=$(now)
	tp_section
	section_s[throughput]=$(elapsed "$t0" "$(now)")
fi

# ---- results ----

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
mem_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
git_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git status --porcelain --untracked-files=no -- src 2>/dev/null)" ]]; then
	git_commit+="+dirty src"
fi
sections_json=$(for k in "${!section_s[@]}"; do printf '%s\t%s\n' "$k" "${section_s[$k]}"; done |
	jq -Rn '[inputs | split("\t") | {(.[0]): (.[1] | tonumber)}] | add // {}')

# Every table's figures (medians per group, ratios) and the goals by
# scripts/bench-summary.py; below, the machine and settings around them.
summary_json=$(python3 scripts/bench-summary.py "$raw" "$(nproc)")

jq -n \
	--arg command "$command_line" --argjson quick "$quick" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--arg commit "$git_commit" --arg pgrace_version "$("$pgrace" --version)" \
	--argjson nproc "$(nproc)" --arg cpu "${cpu_model:-unknown}" --argjson mem_kib "${mem_kib:-0}" \
	--arg kernel "$(uname -sr)" --arg server_version "$server_version" \
	--arg pgbench_version "$("$pgbench" --version)" --arg server "$( ((user_server)) && echo given || echo throwaway)" \
	--argjson settings "${settings:-null}" --argjson reps "$reps" --argjson hit_rounds "$hit_rounds" \
	--argjson seconds "$seconds" --argjson scale_reps "$scale_reps" \
	--argjson scale_workers "$scale_workers" --argjson scale_rounds "$scale_rounds" \
	--argjson ilv_reps "$ilv_reps" \
	--arg load0 "$loadavg_start" --arg load1 "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" \
	--argjson sections "$sections_json" --argjson elapsed "$(elapsed "$t_bench0" "$(now)")" \
	--argjson summary "$summary_json" '
	def r(n): if . == null then null else (. * n | round) / n end;
	{
	  command: $command, quick: ($quick == 1), date: $date, commit: $commit,
	  machine: {nproc: $nproc, cpu_model: $cpu, mem_gib: ($mem_kib / 1048576 | r(10)), kernel: $kernel,
	            postgresql: $server_version, pgbench: $pgbench_version, pgrace: $pgrace_version,
	            server: $server, server_settings: $settings,
	            loadavg_start: $load0, loadavg_end: $load1},
	  settings: {reps: $reps, hit_rounds_per_rep: $hit_rounds, free_run_s: $seconds,
	             scale_reps: $scale_reps, interleave_reps: $ilv_reps},
	  hit_rate: $summary.hit_rate,
	  throughput: $summary.throughput,
	  yield: $summary.yield,
	  release: $summary.release,
	  hold: $summary.hold, gate: $summary.gate,
	  scale: ({workers: $scale_workers, rounds: $scale_rounds} + $summary.scale),
	  interleave: $summary.interleave, interleave_run_s: $summary.interleave_run_s,
	  sections_s: $sections, elapsed_s: $elapsed
	} |
	.gate_cold_s = .gate.total_s |
	.goals = $summary.goals' >"$results/bench.json"

# CSVs, one per table.
jq -r '(["flow", "workers", "pgrace_fire", "pgbench", "ratio", "pgrace_hold", "skew_us_p50", "skew_us_max",
	"pgbench_skew_us_p50", "pgbench_skew_us_max"] | @csv),
	(.hit_rate[] | [.flow, .workers, .pgrace, .pgbench, .ratio, .pgrace_hold, .skew_us_p50, .skew_us_max,
	.pgbench_skew_us_p50, .pgbench_skew_us_max] | @csv)' "$results/bench.json" >"$results/bench-hit-rate.csv"
jq -r '(["phase", "workers", "pgrace_tps", "pgbench_prepared_tps", "pgbench_simple_tps", "ratio_prepared",
	"ratio_simple", "pgrace_client_cpu_us", "pgbench_prepared_client_cpu_us", "pgbench_simple_client_cpu_us",
	"pgrace_server_cpu_us", "pgbench_prepared_server_cpu_us", "pgbench_simple_server_cpu_us"] | @csv),
	(.throughput[] | [.phase, .workers, .pgrace.tps, .pgbench_prepared.tps, .pgbench_simple.tps,
	.ratio_prepared, .ratio_simple, .pgrace.client_cpu_us_per_attempt,
	.pgbench_prepared.client_cpu_us_per_attempt, .pgbench_simple.client_cpu_us_per_attempt,
	.pgrace.server_cpu_us_per_attempt, .pgbench_prepared.server_cpu_us_per_attempt,
	.pgbench_simple.server_cpu_us_per_attempt] | @csv)' \
	"$results/bench.json" >"$results/bench-throughput.csv"
jq -r '(["phase", "workers", "tool", "p50_us", "p90_us", "p99_us", "max_us"] | @csv),
	(.throughput[] | . as $t | ("pgrace", "pgbench_prepared", "pgbench_simple") as $tool |
	$t[$tool].latency_us as $l | [$t.phase, $t.workers, $tool, $l.p50, $l.p90, $l.p99, $l.max] | @csv)' \
	"$results/bench.json" >"$results/bench-latency.csv"
jq -r '(["reps", "total_s", "start_s", "run_s", "stop_s", "verdicts"] | @csv),
	(.gate | [.reps, .total_s, .start_s, .run_s, .stop_s, (.verdicts | join(" "))] | @csv)' \
	"$results/bench.json" >"$results/bench-gate.csv"
jq -r '(["workers", "rounds", "reps", "rss_mib", "rss_mib_max", "threads_max", "verdict", "elapsed_s"] | @csv),
	(.scale | [.workers, .rounds, .reps, .rss_mib, .rss_mib_max, .threads_max, .verdict, .elapsed_s] | @csv)' \
	"$results/bench.json" >"$results/bench-scale.csv"

# The tables in Markdown: bench.md, also what the terminal shows.
jq -r '
	def num: if . == null then "-" else tostring end;
	def pct: if . == null then "-" else (. * 100 | round | tostring) + " %" end;
	def ms: if . == null then "-" else (. / 1000 * 100 | round) / 100 | tostring end;
	def lat(x): "\(x.p50 | ms) / \(x.p90 | ms) / \(x.p99 | ms) / \(x.max | ms)";
	"Command: `\(.command)`, \(.date), commit \(.commit); \(.machine.nproc) cores (\(.machine.cpu_model)), \(.machine.mem_gib) GiB, \(.machine.kernel); PostgreSQL \(.machine.postgresql) (\(.machine.server) cluster: fsync \(.machine.server_settings.fsync), synchronous_commit \(.machine.server_settings.synchronous_commit)); \(.machine.pgbench); load average \(.machine.loadavg_start) at start, \(.machine.loadavg_end) at end. Medians of \(.settings.reps) repetitions; \(.settings.hit_rounds_per_rep) rounds per hit-rate repetition; \(.settings.free_run_s) s free runs; scale: \(.settings.scale_reps) repetitions. The bench took \(.elapsed_s | round) s.",
	"",
	"### Race hit rate (fire mode)",
	"",
	"| flow | workers | pgrace fire | pgbench `-M simple -t 1` | ratio | pgrace hold | pgrace skew p50 / max (µs) | pgbench skew p50 / max (µs) | attempt latency p50, pgrace / pgbench (µs) |",
	"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
	(.hit_rate[] | "| \(.flow) | \(.workers) | \(.pgrace | pct) | \(.pgbench | pct) | \(.ratio | num) | \(.pgrace_hold | pct) | \(.skew_us_p50 | num) / \(.skew_us_max | num) | \(.pgbench_skew_us_p50 | num) / \(.pgbench_skew_us_max | num) | \(.pgrace_latency_us_p50 | num) / \(.pgbench_latency_us_p50 | num) |"),
	"",
	"### Duplicate yield (fire mode, autocommit `INSERT ... WHERE NOT EXISTS`)",
	"",
	"Mean over rounds of (rows per key - 1) / (workers - 1): the share of the workers that slipped a duplicate in.",
	"",
	"| workers | pgrace (last-byte) | pgrace `--release send` | pgbench `-M simple -t 1` | ratio (last-byte / pgbench) | pgrace skew p50, last-byte / send (µs) |",
	"| ---: | ---: | ---: | ---: | ---: | ---: |",
	(.yield[] | "| \(.workers) | \(.pgrace | num) | \(.pgrace_send | num) | \(.pgbench | num) | \(.ratio | num) | \(.pgrace_skew_us_p50 | num) / \(.pgrace_send_skew_us_p50 | num) |"),
	"",
	"### Release spread (fire mode, bench/release-spread.yaml: one autocommit INSERT stamped with statement_timestamp())",
	"",
	"Client: per round, first to last tail written (last-byte), first to last first send (send), first to last transaction start (pgbench log). Server-observed: per round, the last backend statement_timestamp() minus the first. Medians over repetitions of the per-round p50 / max (µs).",
	"",
	"| workers | last-byte client | last-byte server | send client | send server | pgbench client | pgbench server |",
	"| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
	((.release // [])[] | "| \(.workers) | \(.last_byte.client_us_p50 | num) / \(.last_byte.client_us_max | num) | \(.last_byte.server_us_p50 | num) / \(.last_byte.server_us_max | num) | \(.send.client_us_p50 | num) / \(.send.client_us_max | num) | \(.send.server_us_p50 | num) / \(.send.server_us_max | num) | \(.pgbench.client_us_p50 | num) / \(.pgbench.client_us_max | num) | \(.pgbench.server_us_p50 | num) / \(.pgbench.server_us_max | num) |"),
	"",
	"App flow (bench/app-release-spread.yaml: one psql process per worker through pgrace'"'"'s listener, fire mode holding its INSERT). Listener: per round, first to last write of a released INSERT. Server-observed: as above. p50 / max (µs).",
	"",
	"| workers | app listener | app server |",
	"| ---: | ---: | ---: |",
	((.release // [])[] | select(.app.reps > 0) | "| \(.workers) | \(.app.client_us_p50 | num) / \(.app.client_us_max | num) | \(.app.server_us_p50 | num) / \(.app.server_us_max | num) |"),
	"",
	"### Hold-mode coordinator (hold phases of the seed gate runs; detection: last worker settled, from its last send, to COMMITs released)",
	"",
	"| hold phases | detection latency p50 / max (µs) | coordinator CPU / round time | lock-view polls per phase (median) | isolation tester poll interval (µs) |",
	"| ---: | ---: | ---: | ---: | ---: |",
	(.hold | "| \(.phases) | \(.detect_us_p50 | num) / \(.detect_us_max | num) | \(.coordinator_share | num) | \(.polls_per_phase | num) | \(.isolation_tester_poll_us) |"),
	"",
	"### Throughput (free-running check-then-insert, fresh keys)",
	"",
	"| phase | workers | pgrace attempts/s | pgbench `-M prepared` tps | pgbench `-M simple` tps | ratio vs prepared / simple | client CPU per attempt (µs), pgrace / prepared / simple | server CPU per attempt (µs), pgrace / prepared / simple | efficiency, pgrace / prepared / simple |",
	"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
	(.throughput[] | "| \(.phase) | \(.workers) | \(.pgrace.tps | num) | \(.pgbench_prepared.tps | num) | \(.pgbench_simple.tps | num) | \(.ratio_prepared | num) / \(.ratio_simple | num) | \(.pgrace.client_cpu_us_per_attempt | num) / \(.pgbench_prepared.client_cpu_us_per_attempt | num) / \(.pgbench_simple.client_cpu_us_per_attempt | num) | \(.pgrace.server_cpu_us_per_attempt | num) / \(.pgbench_prepared.server_cpu_us_per_attempt | num) / \(.pgbench_simple.server_cpu_us_per_attempt | num) | \(.pgrace.efficiency | num) / \(.pgbench_prepared.efficiency | num) / \(.pgbench_simple.efficiency | num) |"),
	"",
	"### Latency per attempt (ms: p50 / p90 / p99 / max)",
	"",
	"| phase | workers | pgrace | pgbench `-M prepared` | pgbench `-M simple` |",
	"| --- | ---: | ---: | ---: | ---: |",
	(.throughput[] | "| \(.phase) | \(.workers) | \(lat(.pgrace.latency_us)) | \(lat(.pgbench_prepared.latency_us)) | \(lat(.pgbench_simple.latency_us)) |"),
	"",
	"### Seed gate from nothing",
	"",
	"| repetitions | total (s) | cluster up (s) | pgrace run (s) | teardown (s) | verdicts |",
	"| ---: | ---: | ---: | ---: | ---: | --- |",
	(.gate | "| \(.reps) | \(.total_s | num) | \(.start_s | num) | \(.run_s | num) | \(.stop_s | num) | \(.verdicts | join(", ")) |"),
	"",
	"### Interleave: ms per order (every order of bench/interleave.yaml, seed flow)",
	"",
	"Orders run: partial-order reduction runs one order of each class of commuting steps; ms per order is per order run.",
	"",
	"| workers | phase | orders | run | not executable | ms per order | BEGIN / steps / lock view / teardown / rows (ms per order) | lock-view questions per order | cancels |",
	"| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
	(.interleave[] | "| \(.workers)\(if .reduction then "" else ", `--no-reduction`" end) | \(.phase)\(if .phase == "before" then " (no step waits)" else " (steps wait)" end) | \(.orders) | \(.orders_run | num) | \(.not_executable) | \(.ms_per_order | num) | \(.ms.begin | num) / \(.ms.steps | num) / \(.ms.detect | num) / \(.ms.teardown | num) / \(.ms.rows | num) | \(.lock_queries_per_order | num) | \(.cancels) |"),
	"",
	(.interleave_run_s[] | "Whole run at \(.workers) workers\(if .reduction then "" else " with `--no-reduction` (every order run)" end), both phases, setup and migration included: \(.run_s | num) s."),
	"",
	"### Scale: 1,000 workers",
	"",
	"| workers | rounds | repetitions | verdict | peak RSS (MiB, median / max) | most threads | connect (s) | run (s) |",
	"| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
	(.scale | "| \(.workers) | \(.rounds) | \(.reps) | \(.verdict // "-") | \(.rss_mib | num) / \(.rss_mib_max | num) | \(.threads_max | num) | \(.connect_s | num) | \(.elapsed_s | num) |"),
	"",
	"### Goals (reported, not asserted)",
	"",
	"| goal | actual | met |",
	"| --- | ---: | --- |",
	(.goals[] | "| \(.goal) | \(.actual | num) | \(if .met == true then "yes" elif .met == false then "**no**" else "n/a (not measured)" end) |")
' "$results/bench.json" >"$results/bench.md"

# Plots, of the sections that have figures.
for plot in hit-rate throughput; do
	if ! grep -q '^"[a-z-]*",[0-9]*,[0-9.]' "$results/bench-$plot.csv"; then
		say "no figures for $results/bench-$plot.svg: not plotted"
		rm -f "$results/bench-$plot.svg"
		continue
	fi
	if ! gnuplot -e "csv='$results/bench-$plot.csv'; out='$results/bench-$plot.svg'" "bench/$plot.gp" \
		2>"$tmp/gnuplot.err"; then
		failed "gnuplot bench/$plot.gp: $(head -n 3 "$tmp/gnuplot.err")"
	fi
done

# The tables.
cat "$results/bench.md"
printf '\n'
say "bench took $(elapsed "$t_bench0" "$(now)") s"
say "wrote $results/bench.json, $results/bench.md, $results/bench-*.csv, $results/bench-hit-rate.svg, $results/bench-throughput.svg"
if ((failures)); then
	say "$failures measurements failed (their figures are null)"
	exit 1
fi
