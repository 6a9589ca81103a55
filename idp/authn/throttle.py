"""Failure throttling shared by every node (counters in the database), per account and per
source, for passwords and second factors separately (SECURITY.md "Recommended figures").

Growing delays, never a permanent lock an attacker can inflict: per account no delay for
the first 5 consecutive failures, then 2^(n-5) s capped at 15 min; per source address 20
failures free, then 2^(n-20) s capped at 1 h. Counters reset on success (per account)
or after an hour without failures.

Lockout (SECURITY.md "Password failures per account"): a per-account counter that reaches
100 consecutive failures (`Policy.lockout`) no longer resets by itself after an idle
hour. While it stands, idp/authn/services.py refuses the password even when it is right,
with the same answer as a wrong one (T36), so a guesser who finds the password after 100
tries learns nothing and gets nothing. Only `reset()` ends it, called on a successful
account recovery (contact code, plus the second factor when the account has one:
idp/recovery) and on a full multi-factor sign-in, which with the password step refused
can only be a passkey with user verification. There is no unlock by an administrator; the
citizen whose contact and factors are all lost goes to an MPP counter. Source counters
have no lockout: a shared address (warnet, MPP counter, carrier NAT) must never be shut
out for good."""

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
    # Failures from which the counter stops resetting after an idle hour (None: never).
    lockout: int | None = None


ACCOUNT = Policy(free=5, cap=900, lockout=100)
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


def fail(k: str, policy: Policy) -> int:
    """Count one failure atomically and set the next block. Returns the new count. Commits."""
    now = clock.now()
    row = db.session.get(Throttle, k)
    if row is None:
        db.session.add(Throttle(key=k, failures=0, last_failure_at=now, blocked_until=0))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
        row = db.session.get(Throttle, k)
    if now - row.last_failure_at > RESET_AFTER and not _at_lockout(row, policy):
        db.session.execute(update(Throttle).where(Throttle.key == k).values(failures=0))
    db.session.execute(update(Throttle).where(Throttle.key == k).values(failures=Throttle.failures + 1, last_failure_at=now))
    db.session.flush()
    db.session.refresh(row)
    over = row.failures - policy.free
    if over > 0:
        row.blocked_until = now + min(policy.cap, 2**over)
    failures = row.failures
    db.session.commit()
    return failures


def _at_lockout(row: Throttle, policy: Policy) -> bool:
    return policy.lockout is not None and row.failures >= policy.lockout


def locked_out(k: str, policy: Policy) -> bool:
    """True when ``k`` has reached the policy's lockout (see the module docstring)."""
    row = db.session.get(Throttle, k, populate_existing=True)
    return row is not None and _at_lockout(row, policy)


def reset(k: str, *, commit: bool = True) -> None:
    """Clear a counter, lockout included (``commit=False``: in the caller's transaction)."""
    db.session.execute(update(Throttle).where(Throttle.key == k).values(failures=0, blocked_until=0))
    if commit:
        db.session.commit()
