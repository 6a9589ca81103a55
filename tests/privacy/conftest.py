"""The privacy tools read the document vault: its app (blob store in a temporary directory)."""

import pytest

from tests.conftest import make_runner
from tests.documents.conftest import app, blob_dir  # noqa: F401


@pytest.fixture
def runner(app, tmp_path):  # noqa: F811
    """The shared CLI runner with debug on: `breach notices --send` refuses the development
    outbox otherwise (test_send_refuses_the_development_outbox checks the default)."""
    app.config["IDP"]["debug"] = True
    return make_runner(app, tmp_path)
