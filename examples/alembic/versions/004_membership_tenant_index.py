"""Index memberships by tenant (the tenant's member list)

Revision ID: 004
Revises: 003
"""
from alembic import op

revision = "004"
down_revision = "003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_user_tenant_membership_tenant_id", "user_tenant_membership", ["tenant_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_user_tenant_membership_tenant_id", table_name="user_tenant_membership")
