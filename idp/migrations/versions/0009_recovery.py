"""Account recovery ("forgot password")

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_recovery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handle_hash", sa.String(length=64), nullable=False),
        sa.Column("nik_index", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("codes_sent", sa.Integer(), nullable=False),
        sa.Column("code_verified_at", sa.BigInteger(), nullable=True),
        sa.Column("factor_failures", sa.Integer(), nullable=False),
        sa.Column("factor_verified_at", sa.BigInteger(), nullable=True),
        sa.Column("completed_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("handle_hash"),
    )
    with op.batch_alter_table("account_recovery") as batch_op:
        batch_op.create_index(batch_op.f("ix_account_recovery_nik_index"), ["nik_index"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_recovery_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_recovery_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("account_recovery")
