# gnuplot: race hit rate by workers, pgrace (fire, hold) beside pgbench, one
# panel per flow. scripts/bench.sh runs it as
#   gnuplot -e "csv='results/bench-hit-rate.csv'; out='results/bench-hit-rate.svg'" bench/hit-rate.gp
# Columns: flow, workers, pgrace_fire, pgbench, ratio, pgrace_hold, skew_us_p50, ...
if (!exists("csv")) csv = 'results/bench-hit-rate.csv'
if (!exists("out")) out = 'results/bench-hit-rate.svg'
set terminal svg size 960,420 dynamic enhanced font 'sans,12' background rgb 'white'
set output out
set datafile separator ','
set logscale x 2
set xrange [1.6:80]
set xtics (2, 4, 8, 16, 64)
set yrange [0:105]
set ytics 0, 20, 100
set grid ytics
set xlabel 'workers (pgbench: clients), one key per round'
set ylabel 'rounds with a duplicate (%)'
set key bottom right
set multiplot layout 1,2 title 'Race hit rate (median of the repetitions)'
do for [flow in "check-then-insert where-not-exists"] {
    set title flow
    plot csv using 2:(strcol(1) eq flow ? $3 * 100 : NaN) with linespoints lw 2 pt 7 title 'pgrace fire', \
         csv using 2:(strcol(1) eq flow ? $4 * 100 : NaN) with linespoints lw 2 pt 5 title 'pgbench -t 1', \
         csv using 2:(strcol(1) eq flow ? $6 * 100 : NaN) with linespoints lw 1 dt 2 pt 6 title 'pgrace hold'
}
unset multiplot
