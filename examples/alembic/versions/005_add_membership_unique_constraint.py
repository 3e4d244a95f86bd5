"""Add unique constraint to user_tenant_membership

Revision ID: 005
Revises: 004
"""

from alembic import op

revision = "005"
down_revision = "004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_unique_constraint(
        "uq_user_tenant_membership_user_tenant",
        "user_tenant_membership",
        ["user_id", "tenant_id"]
    )

def downgrade() -> None:
    op.drop_constraint(
        "uq_user_tenant_membership_user_tenant",
        "user_tenant_membership",
        type_="unique"
    )
