"""The one clock. Services take ``now`` from here so tests can move time (no sleeps)."""

import time

_offset = 0


def now() -> int:
    return int(time.time()) + _offset


def advance(seconds: int) -> None:
    """Move the clock forward (tests only)."""
    global _offset
    _offset += seconds


def reset() -> None:
    global _offset
    _offset = 0
