"""Tenants get a URL slug

Revision ID: 002
Revises: 001
"""
from alembic import op
import sqlalchemy as sa

revision = "002"
down_revision = "001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("slug", sa.Text, nullable=True))
    op.create_unique_constraint("uq_tenants_slug", "tenants", ["slug"])


def downgrade() -> None:
    op.drop_constraint("uq_tenants_slug", "tenants", type_="unique")
    op.drop_column("tenants", "slug")
