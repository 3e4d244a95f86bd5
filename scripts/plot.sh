#!/usr/bin/env bash
# plot.sh: SVG charts of a pgrace JSON result file (gnuplot, jq).
#
#   scripts/plot.sh results/X.json [OUTDIR]
#
# Reads what `pgrace run --json results/X.json` wrote: one run, or the
# {"verdict": ..., "runs": [...]} document of several scenarios. For each run
# it writes three charts of its racing phases (phases that only run steps
# have no race and are left out; their effect shows as "migrated" under the
# phases that follow):
#
#   X-outcomes.svg  attempts per phase, stacked by outcome (ok, skipped, each
#                   SQLSTATE, lost), the total on top
#   X-rows.svg      rows per key per phase: the least and the most any key
#                   had after a round, with the rounds that had duplicates
#   X-latency.svg   attempt latency per phase, p50 / p90 / p99 / max, in ms
#                   on a log scale
#   X-racemap.svg   only when the run has interleave phases: the race map,
#                   one column per interleave phase side by side (before and
#                   after a migration), one cell per order, coloured by what
#                   it ended in: duplicate, one row + 23505, one row + 40001,
#                   one row + skip, one row, not executable
#
# into OUTDIR (default: the JSON file's folder). With several runs each set
# is named after its scenario: X-SCENARIO-outcomes.svg and so on (the name
# reduced to letters, digits, '.', '_' and '-'; -2, -3... when two runs share
# one).
#
# Exit code: 0 charts written; 1 gnuplot failed; 2 bad usage, a missing or
# invalid JSON file, or jq / gnuplot not installed.
set -euo pipefail

say() {
	printf 'plot: %s\n' "$*" >&2
}

die() {
	say "$*"
	exit 2
}

usage() {
	sed -n '2,31s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
esac
if (($# < 1 || $# > 2)); then
	say "usage: scripts/plot.sh results/X.json [OUTDIR]"
	exit 2
fi

json=$1
for tool in jq gnuplot; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (Debian: apt-get install ${tool/gnuplot/gnuplot-nox})"
done
[[ -e "$json" ]] || die "$json: no such file"
[[ -f "$json" && -r "$json" ]] || die "$json: not a readable file"
[[ -s "$json" ]] || die "$json: empty file"
jq -e . "$json" >/dev/null 2>&1 || die "$json: not valid JSON"

# A run has a phases array; a document of several has a non-empty runs array
# of such runs.
shape=$(jq -r '
	def run_ok: type == "object" and (.phases | type) == "array"
		and all(.phases[]; type == "object" and (.name | type) == "string");
	if type != "object" then "bad"
	elif has("runs") then
		if (.runs | type) != "array" or (.runs | length) == 0 then "bad"
		elif all(.runs[]; run_ok) then "runs" else "bad" end
	elif run_ok then "run"
	else "bad" end' "$json")
[[ "$shape" == run || "$shape" == runs ]] || die "$json: not a pgrace result (expected \"phases\" or a non-empty \"runs\" array)"

outdir=${2:-$(dirname -- "$json")}
mkdir -p -- "$outdir" || die "cannot create $outdir"
base=$(basename -- "$json")
base=${base%.json}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgrace-plot.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

# A string as a gnuplot single-quoted literal: only ' needs escaping there.
gp_quote() {
	local s=${1//$'\n'/ }
	printf "'%s'" "${s//\'/\'\'}"
}

# A colour per outcome label: the usual ones fixed, others from a palette.
outcome_colour() {
	case "$1" in
	ok) echo '#2e7d32' ;;
	skipped) echo '#64b5f6' ;;
	23505) echo '#ef6c00' ;;
	40001) echo '#8e24aa' ;;
	40P01) echo '#d81b60' ;;
	lost) echo '#616161' ;;
	*)
		local palette=('#00897b' '#fbc02d' '#6d4c41' '#c62828' '#3949ab' '#9e9d24' '#00acc1' '#f06292')
		echo "${palette[$2 % ${#palette[@]}]}"
		;;
	esac
}

# Legend text for an outcome label: SQLSTATEs pgrace races usually meet get
# their condition name.
outcome_title() {
	local name=""
	case "$1" in
	23505) name=unique_violation ;;
	23503) name=foreign_key_violation ;;
	23502) name=not_null_violation ;;
	23514) name=check_violation ;;
	23P01) name=exclusion_violation ;;
	40001) name=serialization_failure ;;
	40P01) name=deadlock_detected ;;
	55P03) name=lock_not_available ;;
	57014) name=query_canceled ;;
	esac
	if [[ -n "$name" ]]; then
		printf '%s %s' "$1" "$name"
	else
		printf '%s' "$1"
	fi
}

# Common gnuplot settings; $1 = output file, $2 = title, $3 = width in
# pixels.
gp_head() {
	cat <<EOF
set terminal svg size ${3:-960},540 fixed noenhanced font 'sans,12' background rgb 'white'
set output $(gp_quote "$1")
set title $(gp_quote "$2") font ',14'
set datafile separator '\t'
set datafile commentschars ''
set style fill solid 0.9 border rgb '#333333'
set grid ytics lc rgb '#dddddd'
set border 3
set xtics nomirror scale 0
set ytics nomirror
set bmargin 7
set key outside right top vertical Left reverse noautotitle width 2
# Tick label of a phase: name, release and size, and whether the migration
# was applied (columns 1, 2, 3 of every data file).
phase_label(n, s, m) = n . "\n" . s . (m eq "yes" ? "\nmigrated" : "")
EOF
}

# A chart for a run without a racing phase, so every expected file exists.
gp_empty() {
	cat <<EOF
set xrange [0:1]
set yrange [0:1]
unset xtics
unset ytics
unset grid
set border 0
set label 1 'no racing phase in this run (nothing to chart)' at graph 0.5, 0.5 center
plot 2 notitle
EOF
}

# Writes the three charts of run $1 (a jq path into the file, "" for the
# whole file) with names
# starting $2; $3 = the run's title.
plot_run() {
	local path=$1 prefix=$2 title=$3
	local data=$tmp/data n_phases
	local -a labels=()

	# The racing phases, as jq objects.
	local phases="[$path.phases[] | select(.mode != \"steps\")]"
	n_phases=$(jq -r "$phases | length" "$json")
	# Wide enough for every phase's tick label side by side: about 8 px a
	# character at this font, plus the axes and the key.
	local width size
	# (21: the longest second line, "free, 16 workers, 30 s").
	width=$(jq -r "$phases | [.[].name | length] + [21] | max | . * 8
		| if . < 110 then 110 else . end | . * $n_phases + 300
		| if . < 960 then 960 elif . > 4000 then 4000 else . end | floor" "$json")
	# What the second line of a tick label gives.
	if jq -e "$phases | any(.[]; .mode == \"free\")" "$json" >/dev/null; then
		size='release, workers, free-run seconds'
	else
		size='release, workers x rounds'
	fi
	# Columns 1-3 of every data file: name, release and size, migrated.
	local lead='(.name | gsub("[\t\n\r]"; " ")),
		(if .mode == "free" then "free, \(.workers) worker\(if .workers == 1 then "" else "s" end), \(.duration_s // 0 | floor) s"
		 else "\(.mode), \(.workers) x \(.rounds)" end),
		(if .migrated then "yes" else "no" end)'

	# ---- outcomes: rowstacked bars, one column per label ----
	# Labels in a fixed order: ok, skipped, the SQLSTATEs, lost.
	local labels_json
	labels_json=$(jq -c "$phases | [.[].outcomes // {} | keys_unsorted[]] | unique
		| map(select(. == \"ok\")) + map(select(. == \"skipped\"))
		  + map(select(. != \"ok\" and . != \"skipped\" and . != \"lost\"))
		  + map(select(. == \"lost\"))" "$json")
	mapfile -t labels < <(jq -r '.[]' <<<"$labels_json")
	jq -r --argjson labels "$labels_json" "
		${phases}[] | [$lead, ([.outcomes // {} | .[]] | add // 0),
		((.outcomes // {}) as \$o | \$labels[] | \$o[.] // 0)] | map(tostring) | join(\"\\t\")" "$json" >"$data.outcomes"
	{
		gp_head "$outdir/$prefix-outcomes.svg" "$title: attempts per phase by outcome" "$width"
		if ((n_phases == 0)); then
			gp_empty
		else
			cat <<EOF
set style data histograms
set style histogram rowstacked
set boxwidth 0.6
set xrange [-0.6:$n_phases - 0.4]
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set ylabel 'attempts'
set xlabel 'phase ($size)' offset 0, -1.5
EOF
			local plot="plot" i col
			for i in "${!labels[@]}"; do
				col=$((i + 5))
				plot+=" $(gp_quote "$data.outcomes") using $col:xtic(phase_label(strcol(1), strcol(2), strcol(3)))"
				plot+=" title $(gp_quote "$(outcome_title "${labels[$i]}")") lc rgb '$(outcome_colour "${labels[$i]}" "$i")',"
			done
			plot+=" $(gp_quote "$data.outcomes") using 0:4:(sprintf('%d', column(4))) with labels offset 0, 0.7 notitle"
			echo "$plot"
		fi
	} >"$tmp/outcomes.gp"

	# ---- rows per key: min and max, clustered ----
	# The JSON keeps only the least and the most rows any key had over all of
	# a phase's rounds ({min, max}) and how many rounds had duplicates; rows
	# per round are not in it, so this chart cannot show them. A free run
	# (--duration) counts rows only with --hot; without it the JSON reads
	# 0..0, shown as "not measured" (column 8).
	jq -r "${phases}[] | [$lead, (.rows_per_key.min // 0), (.rows_per_key.max // 0),
		.rounds_with_duplicates, .rounds,
		(if .free_run == true and (.rows_per_key.max // 0) == 0 then \"no\" else \"yes\" end)]
		| map(tostring) | join(\"\\t\")" "$json" >"$data.rows"
	{
		gp_head "$outdir/$prefix-rows.svg" "$title: rows per key after a round (least, most)" "$width"
		if ((n_phases == 0)); then
			gp_empty
		else
			cat <<EOF
set style data histograms
set style histogram clustered gap 1
set xrange [-0.6:$n_phases - 0.4]
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set ylabel 'rows per key'
set xlabel 'phase ($size); above the bars: rounds with duplicates / rounds' offset 0, -1.5
# The reference line: a function would be sampled in histogram units, so an
# arrow across the graph, and a NaN plot for its key entry.
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb '#c62828' front
plot $(gp_quote "$data.rows") using 4:xtic(phase_label(strcol(1), strcol(2), strcol(3))) title 'least rows per key' lc rgb '#90caf9', \\
     '' using 5 title 'most rows per key' lc rgb '#1565c0', \\
     '' using 0:5:(strcol(8) eq 'no' ? 'not measured' : column(7) > 0 ? sprintf('%d/%d dup', column(6), column(7)) : sprintf('%d dup', column(6))) with labels offset 0, 0.7 notitle, \\
     NaN with lines dt 2 lw 1.5 lc rgb '#c62828' title 'one row per key'
EOF
		fi
	} >"$tmp/rows.gp"

	# ---- latency: p50 p90 p99 max in ms, clustered, log scale ----
	local lat="[${phases}[] | select(.latency_us != null)]"
	local n_lat
	n_lat=$(jq -r "$lat | length" "$json")
	jq -r "${lat}[] | [$lead, (.latency_us | .p50, .p90, .p99, .max | . / 1000)] | map(tostring) | join(\"\\t\")" \
		"$json" >"$data.latency"
	{
		gp_head "$outdir/$prefix-latency.svg" "$title: attempt latency per phase" "$width"
		if ((n_lat == 0)); then
			gp_empty
		else
			# Log axis from a decade below the least value to one above the
			# most, so every bar has a visible foot.
			local range held=""
			if jq -e "$lat | any(.[]; .mode == \"hold\")" "$json" >/dev/null; then
				held='; in hold mode latency includes the time held before COMMIT'
			fi
			range=$(jq -r "[${lat}[] | .latency_us | .p50, .p90, .p99, .max | select(. > 0) / 1000]
				| if length == 0 then \"0.001:1\" else
				  \"\(pow(10; (min | log10 | floor)) ):\(pow(10; (max | log10 | floor) + 1))\" end" "$json")
			cat <<EOF
set style data histograms
set style histogram clustered gap 1
set xrange [-0.6:$n_lat - 0.4]
set logscale y 10
set yrange [$range]
set format y '%g'
# Labelled tics at 1, 2 and 5 of each decade in the range.
do for [e = -3:7] { set ytics add (10.0**e, 2 * 10.0**e, 5 * 10.0**e) }
set grid ytics mytics lc rgb '#dddddd', lc rgb '#f0f0f0'
set ylabel 'ms per attempt, first statement to outcome (log)'
set xlabel 'phase ($size)$held' offset 0, -1.5
plot $(gp_quote "$data.latency") using 4:xtic(phase_label(strcol(1), strcol(2), strcol(3))) title 'p50' lc rgb '#bbdefb', \\
     '' using 5 title 'p90' lc rgb '#64b5f6', \\
     '' using 6 title 'p99' lc rgb '#1e88e5', \\
     '' using 7 title 'max' lc rgb '#0d47a1'
EOF
		fi
	} >"$tmp/latency.gp"

	# ---- race map: interleave phases, one cell per order ----
	local ilv="[$path.phases[] | select(.mode == \"interleave\" and .interleave != null)]"
	local n_ilv charts="outcomes rows latency"
	n_ilv=$(jq -r "$ilv | length" "$json")
	if ((n_ilv > 0)); then
		charts+=" racemap"
		# Columns: phase index, order index, category, notation. An order's
		# category, first match wins.
		jq -r "$ilv | to_entries[] | .key as \$p | .value.interleave.orders | to_entries[]
			| .value as \$o | [\$p, .key,
			  (if (\$o.executable | not) then \"not executable\"
			   elif (\$o.rows // 0) > 1 then \"duplicate\"
			   elif any(\$o.workers[]; .outcome == \"23505\") then \"one row + 23505\"
			   elif any(\$o.workers[]; .outcome == \"40001\") then \"one row + 40001\"
			   elif any(\$o.workers[]; .outcome == \"skipped\") then \"one row + skip\"
			   else \"one row\" end), \$o.order] | map(tostring) | join(\"\\t\")" \
			"$json" >"$data.racemap"
		local cats=("duplicate" "one row + 23505" "one row + 40001" "one row + skip" "one row" "not executable")
		local colours=('#c62828' '#ef6c00' '#8e24aa' '#64b5f6' '#2e7d32' '#bdbdbd')
		local most k tics
		most=$(jq -r "$ilv | map(.interleave.orders | length) | max" "$json")
		local height=$((most * 22 + 240)) map_width=$((n_ilv * 260 + 340))
		((height > 6000)) && height=6000
		for ((k = 0; k < ${#cats[@]}; k++)); do
			awk -F '\t' -v c="${cats[$k]}" '$3 == c' "$data.racemap" >"$data.racemap.$k"
		done
		# One tick per phase: name, counts, migrated (gnuplot double quotes,
		# where \n breaks the line).
		tics=$(jq -r "$ilv | to_entries | map(\"\\\"\" + ((.value.name | gsub(\"[\\t\\n\\r\\\"\\\\\\\\]\"; \" \"))
			+ \"\\\\n\" + (.value.interleave.interleavings | tostring) + \" orders, \"
			+ (.value.interleave.interleavings_with_duplicates | tostring) + \" dup, \"
			+ (.value.interleave.interleavings_not_executable | tostring) + \" not exec.\"
			+ (if .value.migrated then \"\\\\nmigrated\" else \"\" end)) + \"\\\" \" + (.key | tostring))
			| join(\", \")" "$json")
		{
			cat <<EOF
set terminal svg size $map_width,$height fixed noenhanced font 'sans,11' background rgb 'white'
set output $(gp_quote "$outdir/$prefix-racemap.svg")
set title $(gp_quote "$title: race map, one cell per order of the workers' steps") font ',14'
set datafile separator '\t'
set datafile commentschars ''
set style fill solid 1.0 border rgb 'white'
set border 0
unset ytics
set xtics nomirror scale 0
set xtics ($tics)
set yrange [$most:-1]
set xrange [-0.6:$n_ilv - 0.4]
set bmargin 6
set key outside right top vertical Left reverse noautotitle width 2
EOF
			local plot="plot"
			for ((k = 0; k < ${#cats[@]}; k++)); do
				if [[ -s "$data.racemap.$k" ]]; then
					plot+=" $(gp_quote "$data.racemap.$k") using 1:2:(0.46):(0.45) with boxxyerror fc rgb '${colours[$k]}' title $(gp_quote "${cats[$k]}"),"
				fi
			done
			plot+=" $(gp_quote "$data.racemap") using 1:2:4 with labels font ',9' notitle"
			printf '%s\n' "$plot"
		} >"$tmp/racemap.gp"
	fi

	local chart
	for chart in $charts; do
		if ! gnuplot "$tmp/$chart.gp" 2>"$tmp/gnuplot.err"; then
			cat "$tmp/gnuplot.err" >&2
			say "gnuplot failed on the $chart chart of $title"
			exit 1
		fi
		printf '%s\n' "$outdir/$prefix-$chart.svg"
	done
}

# Title of a run: scenario and verdict.
run_title() {
	jq -r "$1 | ((.scenario // \"pgrace\") + \" (\" + (.verdict // \"no verdict\") + \")\")
		| gsub(\"[\\t\\n\\r]\"; \" \")" "$json"
}

if [[ "$shape" == run ]]; then
	plot_run "" "$base" "$(run_title .)"
else
	declare -A used=()
	n_runs=$(jq -r '.runs | length' "$json")
	for ((r = 0; r < n_runs; r++)); do
		name=$(jq -r ".runs[$r].scenario // \"run$r\"" "$json")
		name=$(printf '%s' "$name" | LC_ALL=C tr -c 'A-Za-z0-9._-' '_')
		[[ -n "$name" ]] || name=run$r
		stem=$name
		k=2
		while [[ -n "${used[$stem]:-}" ]]; do
			stem=$name-$k
			k=$((k + 1))
		done
		used[$stem]=1
		plot_run ".runs[$r]" "$base-$stem" "$(run_title ".runs[$r]")"
	done
fi
