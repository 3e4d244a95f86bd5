-- pgbench peer of bench/release-spread.yaml, run by scripts/bench.sh with
-- -t 1 once per round (-D base=ROUND): each client inserts one row stamped
-- with its statement_timestamp(), the server-observed start of the statement.
INSERT INTO release_at (k, at, pid) VALUES (:base, statement_timestamp(), pg_backend_pid());
