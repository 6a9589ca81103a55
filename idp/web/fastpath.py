"""The two hottest anonymous GETs, discovery and JWKS, answered before Flask.

Both are the same bytes for every caller: building a Flask request, session and
response for them costs far more than the answer. This WSGI middleware sends the
precomputed bytes with the same headers Flask would add; a JWKS whose per-node cache
is stale falls through to Flask, which reloads the keys from the database.
"""

from __future__ import annotations

from idp import clock

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/jwks"


class FastPath:
    def __init__(self, wsgi_app, flask_app, security_headers: list[tuple[str, str]]):
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app
        self.security = security_headers
        self.discovery_body = flask_app.config["IDP_DISCOVERY_BYTES"]
        self.key_ttl = flask_app.config["IDP"]["key_cache_seconds"]
        from idp.documents import origin

        # Requests to the document files host go to Flask, which answers 404 (origin.py).
        self.files_host = origin.files_host(flask_app.config["IDP"])
        from idp.ops.views import REQUESTS

        self.count_discovery = REQUESTS.labels("oidc.openid_configuration", "200")
        self.count_jwks = REQUESTS.labels("oidc.jwks", "200")

    def _send(self, start_response, method, body, content_type, cache_control):
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", cache_control),
            ("Access-Control-Allow-Origin", "*"),
            *self.security,
        ]
        start_response("200 OK", headers)
        return [b""] if method == "HEAD" else [body]

    def _files_host(self, environ) -> bool:
        from werkzeug.wsgi import get_host

        from idp.documents import origin

        return origin.is_files_host(get_host(environ), self.files_host)

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if (method == "GET" or method == "HEAD") and not (self.files_host and self._files_host(environ)):
            path = environ.get("PATH_INFO")
            if path == DISCOVERY:
                self.count_discovery.inc()
                return self._send(start_response, method, self.discovery_body, "application/json", "public, max-age=3600")
            if path == JWKS:
                cache = self.flask_app.extensions.get("idp_key_cache")
                if cache is not None and clock.now() - cache.loaded_at < self.key_ttl:
                    self.count_jwks.inc()
                    return self._send(start_response, method, cache.jwks_bytes, "application/jwk-set+json", "public, max-age=300")
        return self.wsgi_app(environ, start_response)
