"""The privacy tools read the document vault: its app (blob store in a temporary directory)."""

from tests.documents.conftest import app, blob_dir  # noqa: F401
