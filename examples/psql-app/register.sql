-- register.sql: the smallest application, a psql script that checks, then
-- inserts (the race the constraint closes). pgrace runs it once per worker
-- with the key as psql variables: -v user_id=... -v tenant_id=...
-- Each statement goes to the server as a query of its own.
BEGIN;
SELECT count(*) > 0 AS member
FROM user_tenant_membership
WHERE user_id = :user_id AND tenant_id = :tenant_id \gset
\if :member
\echo already a member
\else
INSERT INTO user_tenant_membership (user_id, tenant_id, role)
VALUES (:user_id, :tenant_id, 'member');
\endif
COMMIT;
