"""The one clock. Services take ``now`` from here so tests can move time (no sleeps)."""

import time

_offset = 0
_frozen: int | None = None


def now() -> int:
    return (int(time.time()) if _frozen is None else _frozen) + _offset


def advance(seconds: int) -> None:
    """Move the clock forward (tests only)."""
    global _offset
    _offset += seconds


def freeze() -> None:
    """Stop the clock at the current second (tests only): exact arithmetic on windows
    must not depend on the wall clock ticking during the test."""
    global _frozen
    _frozen = int(time.time())


def reset() -> None:
    global _offset, _frozen
    _offset = 0
    _frozen = None
