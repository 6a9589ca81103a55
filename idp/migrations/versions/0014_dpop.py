"""DPoP (RFC 9449): key-bound tokens and codes, clients that require DPoP

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.add_column(
            sa.Column("dpop_bound_access_tokens", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    for table in ("authorization_code", "access_token", "refresh_token"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("dpop_jkt", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in ("refresh_token", "access_token", "authorization_code"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dpop_jkt")
    with op.batch_alter_table("client") as batch:
        batch.drop_column("dpop_bound_access_tokens")
