#!/usr/bin/env bash
# run-scenarios.sh: build pgrace, run every scenario, write and print a summary.
#
#   scripts/run-scenarios.sh [--dsn CONNINFO] [SCENARIO.yaml...] [pgrace run flags...]
#
# Runs scripts/setup.sh, then, unless --dsn or one of PGHOST, PGHOSTADDR,
# PGPORT, PGDATABASE, PGSERVICE names a server, starts a throwaway PostgreSQL
# cluster (scripts/pg-throwaway.sh; stopped and deleted on exit, failure,
# Ctrl-C and TERM). Then for each scenarios/*.yaml (or only the .yaml files
# given) it runs
#
#   build/pgrace run FILE --json results/NAME.json --junit results/NAME.xml [--dsn ...] [flags...]
#
# going on through every scenario whatever each one's exit code, and writes
# results/summary.md: a Markdown table with, per scenario, the verdict from
# the JSON, pgrace's exit code, phases passed/total and per phase its rows
# per key (min..max) and rounds with duplicates. It prints the summary too.
#
# Exit code: 0 when every scenario exited 0 or 6 (skipped: the server lacks
# what it requires), else the first other one (pgrace's: 1 expectation
# failed, 2 bad usage or scenario, 3 database unusable, 4 inconclusive, 5
# results not saved, 130/143 interrupted; 2 too
# when setup or the build fails, 3 when the throwaway cluster does not start).
# Ctrl-C or TERM goes to the running pgrace (which drops its schema), ends
# the run after it, writes the summary of what ran and exits 130/143.
#
# Environment: PGRACE_BUILD_DIR (default build), PGRACE_CMAKE_ARGS (see
# setup.sh), PGRACE_RESULTS_DIR (default results).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() {
	printf 'run-scenarios: %s\n' "$*" >&2
}

usage() {
	sed -n '2,27s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

have_dsn=0
dsn=""
scenarios=()
flags=()
while (($#)); do
	case "$1" in
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
	*.yaml | *.yml)
		if [[ -f "$1" ]]; then
			scenarios+=("$1")
		else
			flags+=("$1")
		fi
		shift
		;;
	*)
		flags+=("$1")
		shift
		;;
	esac
done

if ((${#scenarios[@]} == 0)); then
	shopt -s nullglob
	scenarios=(scenarios/*.yaml)
	shopt -u nullglob
fi
if ((${#scenarios[@]} == 0)); then
	say "no scenarios: scenarios/*.yaml matched nothing"
	exit 2
fi

setup_rc=0
scripts/setup.sh || setup_rc=$?
if ((setup_rc != 0)); then
	say "scripts/setup.sh failed (exit $setup_rc): cannot run the scenarios"
	exit 2
fi
pgrace=${PGRACE_BUILD_DIR:-build}/pgrace
if [[ ! -x "$pgrace" ]]; then
	say "$pgrace was not built"
	exit 2
fi

# shellcheck source=SCRIPTDIR/pg-throwaway.sh
source scripts/pg-throwaway.sh
pg_throwaway_install_traps
dsn_args=()
if ((have_dsn)); then
	dsn_args=(--dsn "$dsn")
	server="the server given with --dsn"
elif [[ -n "${PGHOST:-}${PGHOSTADDR:-}${PGPORT:-}${PGDATABASE:-}${PGSERVICE:-}" ]]; then
	server="the server named by the PG* environment"
else
	pg_throwaway_start || exit 3
	server="a throwaway PostgreSQL $(basename "$(dirname "$PGRACE_PG_BINDIR")") cluster"
fi
say "running ${#scenarios[@]} scenario(s) against $server"

results=${PGRACE_RESULTS_DIR:-results}
mkdir -p "$results"

# One table row from a result JSON (schema: README "Results"; a document
# holding several runs has them in "runs"). Phases without a race have
# rows_per_key null and show just their name; racing phases show rows per
# key, rounds with duplicates out of rounds, and outcomes by SQLSTATE.
# shellcheck disable=SC2016 # jq program, not shell
row_jq='
def runs: if (.runs | type) == "array" then .runs else [.] end;
def cell: tostring | gsub("[|]"; "\\|") | gsub("[\r\n]+"; " ");
def text: .name
	+ (if .rows_per_key then ": rows/key \(.rows_per_key.min)..\(.rows_per_key.max), dup rounds \(.rounds_with_duplicates)/\(.rounds), \(.outcomes | to_entries | map("\(.key)=\(.value)") | join(" "))" else "" end)
	+ (if .broken then " (broken)" elif .passed then "" else " (failed)" end);
[runs[] | .phases // [] | .[]] as $ph
| [runs[] | .error // empty] as $err
| [runs[] | .skipped // empty] as $skip
| "| \($name | cell) | \(.verdict // first(runs[].verdict // empty) // "?" | cell) | \($code) | \($ph | map(select(.passed)) | length)/\($ph | length) | \(
	[($ph | map(text) | join("; ")), ($skip[] | "skipped: \(.)"), ($err[] | "stopped: \(.)")] | map(select(. != "")) | join("; ") | if . == "" then "-" else cell end) |"
'

names=()
codes=()
first_rc=0
for file in "${scenarios[@]}"; do
	name=$(basename "$file")
	name=${name%.*}
	# No stale result from an earlier run may be summarised as this one's.
	rm -f "$results/$name.json" "$results/$name.xml"
	say "== $name ($file)"
	rc=0
	pg_throwaway_run "$pgrace" run "$file" --json "$results/$name.json" --junit "$results/$name.xml" \
		"${dsn_args[@]}" "${flags[@]}" || rc=$?
	say "== $name: exit $rc"
	names+=("$name")
	codes+=("$rc")
	# 6: skipped, the server lacks what the scenario requires: not a failure.
	if ((first_rc == 0 && rc != 6)); then
		first_rc=$rc
	fi
	if ((rc == 130 || rc == 143)); then
		say "$name was interrupted: not running the rest"
		break
	fi
done

summary=$results/summary.md
version=$("$pgrace" --version 2>/dev/null </dev/null | head -n 1) || version=""
{
	printf '# pgrace scenarios\n\n'
	printf '%s, %s, against %s.\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "${version:-pgrace}" "$server"
	printf '| scenario | verdict | exit | phases passed | phases (rows per key min..max, rounds with duplicates, outcomes) |\n'
	printf '|---|---|---|---|---|\n'
	for i in "${!names[@]}"; do
		json=$results/${names[$i]}.json
		if [[ -s "$json" ]] && jq -r --arg name "${names[$i]}" --arg code "${codes[$i]}" "$row_jq" "$json" 2>/dev/null; then
			continue
		fi
		printf '| %s | %s | %s | - | - |\n' "${names[$i]}" "$([[ -s "$json" ]] && echo "unreadable JSON" || echo "no JSON")" "${codes[$i]}"
	done
	if ((${#names[@]} < ${#scenarios[@]})); then
		printf '\n%d scenario(s) not run: interrupted.\n' "$((${#scenarios[@]} - ${#names[@]}))"
	fi
} >"$summary"

printf '\n'
cat "$summary"
say "summary in $summary"
if ((PG_THROWAWAY_SIGNALLED != 0)); then
	exit "$PG_THROWAWAY_SIGNALLED"
fi
exit "$first_rc"
