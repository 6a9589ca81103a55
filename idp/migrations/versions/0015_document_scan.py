"""Document vault: anti-virus scan status of each document's file (SECURITY.md T70)

Adds `scan_status` (pending | clean | infected | skipped), `scanned_at` and `scan_signature`
to `document`, with an index on the status for `idp documents scan`.

Existing rows become `skipped`, not `pending`:
- `skipped` says what is true of them: stored before scanning existed, never checked.
  `pending` would claim an upload met an unavailable scanner.
- It keeps the migration independent of the configuration. Under `document_scanner =
  "none"` (the default, and every deployment before this revision) skipped files stay
  releasable: upgrading changes nothing for services until the operator turns scanning on.
  Under "clamd" skipped files are NOT releasable (only clean ones are, documents/scan.py
  `releasable`) until `idp documents scan`, which checks skipped files as well as pending
  ones, finds them clean. Turning scanning on is thus fail-closed for old files too.
- Rows without a file (issued from the registry, erased) have nothing to scan: skipped too.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.add_column(sa.Column("scan_status", sa.String(length=16), nullable=False, server_default="skipped"))
        batch.add_column(sa.Column("scanned_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("scan_signature", sa.String(length=128), nullable=True))
        batch.create_index("ix_document_scan_status", ["scan_status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.drop_index("ix_document_scan_status")
        batch.drop_column("scan_signature")
        batch.drop_column("scanned_at")
        batch.drop_column("scan_status")
