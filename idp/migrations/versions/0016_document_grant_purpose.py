"""Document grants per purpose, and one-time grants (SECURITY.md "Consent": per RP x
attribute x purpose, at most 12 months or one-time)

Revision ID: 0016
Revises: 0015

Existing grants keep working: their purpose is left empty, which stands for "the client's
purpose at the time", so they stay valid until the registration gives the type a purpose
of its own (then the citizen is asked again, T65).
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("document_purposes", sa.JSON(), nullable=True))
    with op.batch_alter_table("document_grant") as batch:
        batch.add_column(sa.Column("purpose", sa.Text(), nullable=True))
        batch.add_column(sa.Column("one_time", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("used_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("document_grant") as batch:
        batch.drop_column("used_at")
        batch.drop_column("one_time")
        batch.drop_column("purpose")
    with op.batch_alter_table("client") as batch:
        batch.drop_column("document_purposes")
