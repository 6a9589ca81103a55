"""Self-registration, identity assurance on people, rate counters, development outbox

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("client") as batch_op:
        batch_op.add_column(sa.Column("identity_assurance", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("person") as batch_op:
        batch_op.add_column(sa.Column("birthplace", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("identity_level", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("identity_verified_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "rate_counter",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("rate_counter") as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_counter_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_message") as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_message_destination"), ["destination"], unique=False)
    op.create_table(
        "registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handle_hash", sa.String(length=64), nullable=False),
        sa.Column("nik_index", sa.String(length=64), nullable=False),
        sa.Column("nik_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("birthdate", sa.String(length=10), nullable=False),
        sa.Column("birthplace", sa.String(length=100), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("destination", sa.String(length=254), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("codes_sent", sa.Integer(), nullable=False),
        sa.Column("contact_verified_at", sa.BigInteger(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("completed_at", sa.BigInteger(), nullable=True),
        sa.Column("signed_in_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("handle_hash"),
    )
    with op.batch_alter_table("registration") as batch_op:
        batch_op.create_index(batch_op.f("ix_registration_nik_index"), ["nik_index"], unique=False)
        batch_op.create_index(batch_op.f("ix_registration_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("client") as batch_op:
        batch_op.drop_column("identity_assurance")
    op.drop_table("registration")
    op.drop_table("outbox_message")
    op.drop_table("rate_counter")
    with op.batch_alter_table("person") as batch_op:
        batch_op.drop_column("evidence")
        batch_op.drop_column("identity_verified_at")
        batch_op.drop_column("identity_level")
        batch_op.drop_column("birthplace")
