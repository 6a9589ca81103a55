"""Population registry: the local registry table (NIK blind index, encrypted record)

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nik_index", sa.String(length=64), nullable=False),
        sa.Column("payload_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("imported_at", sa.BigInteger(), nullable=False),
        sa.Column("import_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nik_index"),
    )


def downgrade() -> None:
    op.drop_table("registry_record")
