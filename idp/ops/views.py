"""Operations endpoints: liveness/readiness and Prometheus metrics."""

from __future__ import annotations

import time

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text

from idp.extensions import db

bp = Blueprint("ops", __name__)

REQUESTS = Counter("idp_http_requests_total", "HTTP requests", ["endpoint", "status"])
LATENCY = Histogram("idp_http_request_seconds", "HTTP request latency", ["endpoint"])


@bp.get("/healthz")
def healthz():
    """Liveness and readiness: 200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        db.session.rollback()
        return {"status": "unavailable", "database": "down"}, 503, {"Retry-After": "5", "Cache-Control": "no-store"}
    return {"status": "ok"}, 200, {"Cache-Control": "no-store"}


@bp.get("/metrics")
def metrics():
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


@bp.before_app_request
def _start_timer():
    request.environ["idp.start"] = time.perf_counter()


@bp.after_app_request
def _observe(resp):
    start = request.environ.get("idp.start")
    # Endpoint names only (never paths with ids or tokens) as labels.
    endpoint = request.endpoint or "unknown"
    if start is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - start)
    REQUESTS.labels(endpoint, str(resp.status_code)).inc()
    return resp
