-- pgbench peer of pgrace's check-then-insert registration flow
-- (bench/hit-check-then-insert.yaml, bench/throughput.yaml), run by
-- scripts/bench.sh. pgbench's \gset needs exactly one row, so the check is
-- count(*) (the same index lookup as the app's SELECT 1, which has no LIMIT
-- either) and \if inserts only when it found nothing.
--
-- The key: bench.sh passes -D base=B -D n=0 -D clients=N -D per_client=0|1.
-- per_client=0: every client races on user_id B (hit rate, one transaction
-- per client per round). per_client=1: transaction n of client c uses
-- B + (n - 1) * N + c, a fresh key every time, as pgrace's free mode does
-- (attempt i of worker w: round base + i * workers + w).
\set n :n + 1
\set uid :base + :per_client * ((:n - 1) * :clients + :client_id)
BEGIN;
SELECT count(*) AS found FROM user_tenant_membership WHERE user_id = :uid AND tenant_id = 1 \gset
\if :found = 0
INSERT INTO user_tenant_membership (user_id, tenant_id, role) VALUES (:uid, 1, 'member');
\endif
COMMIT;
