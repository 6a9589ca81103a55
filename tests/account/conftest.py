"""The account pages need the document vault's app (blob store in a temporary directory)."""

from tests.documents.conftest import app, blob_dir  # noqa: F401
