"""Caps on how often something may happen (sending a code, trying a registration), shared
by every node: a sliding log of event times per subject in the database, read and
written under a row lock, so several nodes enforce one limit (SECURITY.md "SMS/WA/e-mail codes": 1 per
60 s, 3 per 15 min, 10 per day per number).

Unlike `throttle` (failure counters with growing delays), these count every event and
refuse the event that would go over the cap. Subjects are hashed before they are
stored, so the table never holds a number, an address or a blind index.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from idp import clock
from idp.authn.models import RateCounter
from idp.extensions import db


@dataclass(frozen=True)
class Limit:
    count: int
    window: int  # seconds


class RateLimitedError(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = max(1, int(retry_after))


def subject(kind: str, value: str) -> str:
    return f"{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:40]


def _insert():
    return (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(RateCounter)


def hit(name: str, subject_key: str, limits: tuple[Limit, ...], *, commit: bool = True) -> None:
    """Count one event for ``subject_key`` under every limit, or raise RateLimitedError
    (counting nothing) when any limit already holds its cap within its window.

    Exact sliding windows: the row keeps the event times inside the longest window and
    is read under a row lock (PostgreSQL `SELECT … FOR UPDATE`; SQLite serialises
    writers), so two nodes racing for the last slot cannot both get it."""
    now = clock.now()
    key = f"{name}:{subject_key}"
    longest = max(lim.window for lim in limits)
    db.session.execute(_insert().values(key=key, events=[], expires_at=now + longest).on_conflict_do_nothing())
    row = db.session.execute(select(RateCounter).where(RateCounter.key == key).with_for_update()).scalar_one()
    events = [t for t in row.events if t > now - longest]
    for lim in limits:
        recent = sorted(t for t in events if t > now - lim.window)
        if len(recent) >= lim.count:
            db.session.rollback()
            # Free again when the oldest event that counts leaves the window.
            raise RateLimitedError(recent[-lim.count] + lim.window - now)
    row.events = [*events, now]
    row.expires_at = now + longest
    if commit:
        db.session.commit()
    else:
        db.session.flush()
