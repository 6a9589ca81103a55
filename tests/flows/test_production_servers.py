"""Production serving: gunicorn and granian start the app and serve it (README's commands)."""

import pytest
import requests

from tests import live

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["gunicorn", "granian"])
def test_production_server_serves_discovery_and_jwks(tmp_path, kind):
    server = live.start(tmp_path, live.ROOT / "clients", workers=2, server=kind)
    try:
        meta = requests.get(server.url + "/.well-known/openid-configuration", timeout=5).json()
        assert meta["issuer"] == server.url
        jwks = requests.get(meta["jwks_uri"], timeout=5).json()
        assert {k["alg"] for k in jwks["keys"]} == {"ES256", "RS256"}
        # a page through Flask too (not only the discovery/JWKS fast path)
        page = requests.get(server.url + "/authorize", params={"client_id": "nope"}, timeout=5)
        assert page.status_code == 400 and 'lang="id"' in page.text
    finally:
        server.stop()
    assert server.process.returncode is not None
