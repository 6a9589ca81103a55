"""Back-channel logout: clients' backchannel_logout_uri, session_client, backchannel_delivery

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("backchannel_logout_uri", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("backchannel_logout_session_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "session_client",
        sa.Column("sid", sa.String(length=43), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("notified_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("sid", "client_id"),
    )
    op.create_index("ix_session_client_person_id", "session_client", ["person_id"], unique=False)
    op.create_table(
        "backchannel_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("sid", sa.String(length=43), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("gave_up_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_backchannel_delivery_next_attempt_at", "backchannel_delivery", ["next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_backchannel_delivery_next_attempt_at", table_name="backchannel_delivery")
    op.drop_table("backchannel_delivery")
    op.drop_index("ix_session_client_person_id", table_name="session_client")
    op.drop_table("session_client")
    with op.batch_alter_table("client") as batch:
        batch.drop_column("backchannel_logout_session_required")
        batch.drop_column("backchannel_logout_uri")
