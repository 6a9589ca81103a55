"""Production serving: gunicorn starts the app and serves discovery (README's command)."""

import pytest
import requests

from tests import live

pytestmark = pytest.mark.slow


def test_gunicorn_serves_discovery_and_jwks(tmp_path):
    server = live.start(tmp_path, live.ROOT / "clients", workers=2)
    try:
        meta = requests.get(server.url + "/.well-known/openid-configuration", timeout=5).json()
        assert meta["issuer"] == server.url
        jwks = requests.get(meta["jwks_uri"], timeout=5).json()
        assert {k["alg"] for k in jwks["keys"]} == {"ES256", "RS256"}
    finally:
        server.stop()
    assert server.process.returncode is not None
