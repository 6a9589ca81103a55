"""Failure throttling shared by every node (counters in the database), per account and per
source, for passwords and second factors separately (SECURITY.md "Recommended figures").

Growing delays, never a permanent lock an attacker can inflict: per account no delay for
the first 5 consecutive failures, then 2^(n-5) s capped at 15 min; per source address 20
failures free, then 2^(n-20) s capped at 1 h. Counters reset on success (per account)
or after an hour without failures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.authn.models import Throttle
from idp.extensions import db

RESET_AFTER = 3600


@dataclass(frozen=True)
class Policy:
    free: int
    cap: int


ACCOUNT = Policy(free=5, cap=900)
SOURCE = Policy(free=20, cap=3600)


class ThrottledError(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = max(1, retry_after)


def key(kind: str, subject: str) -> str:
    # Subjects (blind index, address) are hashed again so the table never holds them.
    return f"{kind}:" + hashlib.sha256(subject.encode()).hexdigest()[:40]


def check(*keys: str) -> None:
    """Raise ThrottledError if any key is blocked now."""
    now = clock.now()
    for k in keys:
        row = db.session.get(Throttle, k)
        if row is not None and row.blocked_until > now:
            raise ThrottledError(row.blocked_until - now)


def fail(k: str, policy: Policy) -> None:
    """Count one failure atomically and set the next block. Commits."""
    now = clock.now()
    row = db.session.get(Throttle, k)
    if row is None:
        db.session.add(Throttle(key=k, failures=0, last_failure_at=now, blocked_until=0))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
        row = db.session.get(Throttle, k)
    if now - row.last_failure_at > RESET_AFTER:
        db.session.execute(update(Throttle).where(Throttle.key == k).values(failures=0))
    db.session.execute(update(Throttle).where(Throttle.key == k).values(failures=Throttle.failures + 1, last_failure_at=now))
    db.session.flush()
    db.session.refresh(row)
    over = row.failures - policy.free
    if over > 0:
        row.blocked_until = now + min(policy.cap, 2**over)
    db.session.commit()


def reset(k: str) -> None:
    db.session.execute(update(Throttle).where(Throttle.key == k).values(failures=0, blocked_until=0))
    db.session.commit()
