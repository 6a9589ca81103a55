"""Document vault: documents, per client x type grants, access history; clients' document types

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("data_key_wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("attributes_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("provenance", sa.String(length=16), nullable=False),
        sa.Column("verified_by", sa.String(length=128), nullable=True),
        sa.Column("verified_location", sa.String(length=100), nullable=True),
        sa.Column("verified_at", sa.BigInteger(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("blob_name", sa.String(length=64), nullable=True),
        sa.Column("content_type", sa.String(length=32), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("pixels", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
        sa.UniqueConstraint("blob_name"),
    )
    op.create_index("ix_document_person_id", "document", ["person_id"], unique=False)
    op.create_table(
        "document_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("include_file", sa.Boolean(), nullable=False),
        sa.Column("granted_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "client_id", "type_code"),
    )
    op.create_table(
        "document_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_document_access_person_created", "document_access", ["person_id", "created_at"], unique=False)
    with op.batch_alter_table("client") as batch_op:
        batch_op.add_column(sa.Column("document_types", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("document_file", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("client") as batch_op:
        batch_op.drop_column("document_file")
        batch_op.drop_column("document_types")
    op.drop_index("ix_document_access_person_created", table_name="document_access")
    op.drop_table("document_access")
    op.drop_table("document_grant")
    op.drop_index("ix_document_person_id", table_name="document")
    op.drop_table("document")
