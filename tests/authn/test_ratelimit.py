"""Send caps shared by every node: counted in the database, refused over the cap."""

import pytest

from idp import clock
from idp.authn import ratelimit
from idp.authn.ratelimit import Limit, RateLimitedError

CAPS = (Limit(1, 60), Limit(3, 900), Limit(10, 86400))


@pytest.fixture(autouse=True)
def _frozen_clock(request):
    # Window arithmetic below is exact to the second; the wall clock must not tick in
    # between. Frozen after the app fixture, which resets the clock when it starts.
    if "ctx" in request.fixturenames:
        request.getfixturevalue("ctx")
    clock.freeze()
    yield
    clock.reset()


def _align():
    """Start the test at the beginning of a day (every window divides 86400)."""
    clock.advance(86400 - clock.now() % 86400)


def test_one_send_per_minute_three_per_quarter_hour(ctx):
    _align()
    key = ratelimit.subject("dest", "+6281234567890")
    ratelimit.hit("send", key, CAPS)
    with pytest.raises(RateLimitedError) as exc:
        ratelimit.hit("send", key, CAPS)
    assert 1 <= exc.value.retry_after <= 60
    clock.advance(61)
    ratelimit.hit("send", key, CAPS)
    clock.advance(61)
    ratelimit.hit("send", key, CAPS)
    clock.advance(61)
    with pytest.raises(RateLimitedError) as exc:  # fourth within 15 minutes
        ratelimit.hit("send", key, CAPS)
    assert exc.value.retry_after > 60
    # Another number is not affected.
    ratelimit.hit("send", ratelimit.subject("dest", "+6281111111111"), CAPS)


def test_a_refused_event_is_not_counted(ctx):
    _align()
    key = ratelimit.subject("addr", "10.0.0.1")
    caps = (Limit(2, 3600),)
    ratelimit.hit("x", key, caps)
    ratelimit.hit("x", key, caps)
    for _ in range(5):
        with pytest.raises(RateLimitedError):
            ratelimit.hit("x", key, caps)
    # Exactly one hour after the two events, both slots are free again, and only two.
    clock.advance(3600)
    ratelimit.hit("x", key, caps)
    ratelimit.hit("x", key, caps)
    with pytest.raises(RateLimitedError):
        ratelimit.hit("x", key, caps)


def test_a_burst_cannot_straddle_a_window_boundary(ctx):
    _align()
    key = ratelimit.subject("dest", "+6281234567891")
    caps = (Limit(3, 900),)
    clock.advance(899)
    for _ in range(3):
        ratelimit.hit("y", key, caps)
    clock.advance(2)  # where a fixed window would start counting from zero again
    with pytest.raises(RateLimitedError) as exc:
        ratelimit.hit("y", key, caps)
    assert exc.value.retry_after == 898  # free when the first of the three is 15 min old


def test_subjects_are_hashed():
    assert "+6281234567890" not in ratelimit.subject("dest", "+6281234567890")
