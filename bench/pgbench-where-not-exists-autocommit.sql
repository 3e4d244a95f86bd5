-- pgbench peer of bench/hit-where-not-exists-autocommit.yaml, run by
-- scripts/bench.sh: the single-statement INSERT ... SELECT ... WHERE NOT
-- EXISTS in autocommit (no BEGIN/COMMIT), as pgrace runs it.
--
-- The key: bench.sh passes -D base=B -D n=0 -D clients=N -D per_client=0|1
-- (see pgbench-check-then-insert.sql).
\set n :n + 1
\set uid :base + :per_client * ((:n - 1) * :clients + :client_id)
INSERT INTO user_tenant_membership (user_id, tenant_id, role)
SELECT :uid::bigint, 1::bigint, 'member'
WHERE NOT EXISTS (
    SELECT 1 FROM user_tenant_membership WHERE user_id = :uid AND tenant_id = 1);
