# gnuplot: free-running throughput of the registration flow by workers,
# pgrace beside pgbench -M prepared and -M simple, before and after the
# unique constraint.
# scripts/bench.sh runs it as
#   gnuplot -e "csv='results/bench-throughput.csv'; out='results/bench-throughput.svg'" bench/throughput.gp
# Columns: phase, workers, pgrace_tps, pgbench_prepared_tps, pgbench_simple_tps, ...
if (!exists("csv")) csv = 'results/bench-throughput.csv'
if (!exists("out")) out = 'results/bench-throughput.svg'
set terminal svg size 720,440 dynamic enhanced font 'sans,12' background rgb 'white'
set output out
set datafile separator ','
set logscale x 2
set xrange [0.8:40]
set xtics (1, 8, 32)
set yrange [0:*]
set grid ytics
set xlabel 'workers (pgbench: clients)'
set ylabel 'attempts per second (median)'
set title 'Check-then-insert on fresh keys, free-running'
set key bottom right
plot csv using 2:(strcol(1) eq "before" ? $3 : NaN) with linespoints lw 2 pt 7 title 'pgrace, before', \
     csv using 2:(strcol(1) eq "before" ? $4 : NaN) with linespoints lw 2 pt 5 title 'pgbench -M prepared, before', \
     csv using 2:(strcol(1) eq "before" ? $5 : NaN) with linespoints lw 1 pt 9 title 'pgbench -M simple, before', \
     csv using 2:(strcol(1) eq "after" ? $3 : NaN) with linespoints lw 2 dt 2 pt 6 title 'pgrace, after (UNIQUE)', \
     csv using 2:(strcol(1) eq "after" ? $4 : NaN) with linespoints lw 2 dt 2 pt 4 title 'pgbench -M prepared, after', \
     csv using 2:(strcol(1) eq "after" ? $5 : NaN) with linespoints lw 1 dt 2 pt 8 title 'pgbench -M simple, after'
