"""The http registry client against a local stand-in of the service, including its failures."""

import datetime
import logging

import pytest

from idp import config as config_mod
from idp.registry.base import FieldResult, RegistryConfigError, RegistryUnavailableError, VerificationRequest
from idp.registry.http import CircuitBreaker, HttpRegistry
from idp.registry.services import build_registry
from tests.registry.standin import PASSWORD, USER, StandIn, tls_files

NIK = "3374014101900001"
RECORDS = {
    NIK: {"NAMA_LGKP": "SITI AMINAH", "TGL_LHR": "01-01-1990", "TMPT_LHR": "SEMARANG", "JENIS_KLMIN": "PEREMPUAN"},
}


def request(**kw):
    fields = {"nik": NIK, "full_name": "Hj. Siti Aminah, S.Kom.", "birthdate": datetime.date(1990, 1, 1),
              "birthplace": "Kota Semarang", "gender": "female"}
    fields.update(kw)
    return VerificationRequest(**fields)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def standin():
    with StandIn(RECORDS) as s:
        yield s


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make(standin, sleeps):
    def build(**kw):
        options = {"user": USER, "password": PASSWORD, "allow_http": True, "connect_timeout": 1, "read_timeout": 1,
                   "retries": 2, "sleep": sleeps.append, "breaker": CircuitBreaker(failures=50, seconds=30)}
        options.update(kw)
        return HttpRegistry(options.pop("url", standin.url), **options)

    return build


def test_match_sends_the_contract(make, standin):
    result = make().verify(request())
    assert result.matched and result.found and result.registry == "http"
    assert result.summary() == dict.fromkeys(("nik", "full_name", "birthdate", "birthplace", "gender"), "match")
    assert result.gender == "female"
    assert standin.last_body == {
        "USER_ID": USER, "PASSWORD": PASSWORD, "IP_USER": "", "TRESHOLD": "100", "NIK": NIK,
        "NAMA_LGKP": "SITI AMINAH", "TGL_LHR": "01-01-1990", "TMPT_LHR": "SEMARANG", "JENIS_KLMIN": "PEREMPUAN",
    }
    assert standin.calls == 1


def test_optional_fields_are_not_sent_when_not_given(make, standin):
    result = make().verify(request(birthplace=None, gender=None))
    assert result.matched
    assert result.fields["birthplace"] is FieldResult.NOT_CHECKED and result.fields["gender"] is FieldResult.NOT_CHECKED
    assert "TMPT_LHR" not in standin.last_body and "JENIS_KLMIN" not in standin.last_body


@pytest.mark.parametrize(
    "change,field",
    [
        ({"full_name": "Siti Amanah"}, "full_name"),
        ({"birthdate": datetime.date(1990, 1, 2)}, "birthdate"),
        ({"birthplace": "Salatiga"}, "birthplace"),
        ({"gender": "male"}, "gender"),
    ],
)
def test_mismatch_per_field(make, change, field):
    result = make().verify(request(**change))
    assert result.found and not result.matched
    assert result.fields[field] is FieldResult.MISMATCH
    assert all(v is FieldResult.MATCH for k, v in result.fields.items() if k != field)


def test_a_score_below_100_is_a_mismatch(make, standin):
    standin.behaviour = "lenient"  # the service says "Sesuai (9x)" for a close name
    result = make().verify(request(full_name="Siti Aminahh"))
    assert not result.matched and result.fields["full_name"] is FieldResult.MISMATCH


@pytest.mark.parametrize("behaviour", ["normal", "code:11", "code:12", "code:13", "code:14", "code:15", "code:08"])
def test_not_found(make, standin, behaviour):
    standin.behaviour = behaviour
    nik = "3174011505850002" if behaviour == "normal" else NIK
    result = make().verify(request(nik=nik))
    assert not result.found and not result.matched
    assert set(result.summary().values()) == {"not_checked"}


def test_a_name_without_letters_is_not_sent(make, standin):
    result = make().verify(request(full_name="..."))
    assert not result.matched and result.fields["full_name"] is FieldResult.MISMATCH
    assert standin.calls == 0


def test_timeouts_are_retried_with_backoff_then_unavailable(make, standin, sleeps):
    standin.behaviour, standin.delay = "slow", 1.0
    with pytest.raises(RegistryUnavailableError) as exc:
        make(read_timeout=0.2, retries=2).verify(request())
    assert exc.value.reason == "timeout"
    assert standin.calls == 3
    assert len(sleeps) == 2 and 0.125 <= sleeps[0] <= 0.25 and 0.25 <= sleeps[1] <= 0.5


def test_a_dripping_answer_hits_the_attempt_deadline(make, standin):
    standin.behaviour, standin.delay = "drip", 0.05
    with pytest.raises(RegistryUnavailableError) as exc:
        make(connect_timeout=0.2, read_timeout=0.3, retries=0).verify(request())
    assert exc.value.reason == "timeout"


@pytest.mark.parametrize("status", ["502", "503", "504"])
def test_gateway_errors_then_success_on_retry(make, standin, sleeps, status):
    standin.script = [status, status]
    assert make().verify(request()).matched
    assert standin.calls == 3 and len(sleeps) == 2


def test_503_retry_after_is_passed_on(make, standin):
    standin.behaviour = "503"
    with pytest.raises(RegistryUnavailableError) as exc:
        make(retries=1).verify(request())
    assert (exc.value.reason, exc.value.retry_after, standin.calls) == ("http_5xx", 7, 2)


def test_connection_reset_is_retried(make, standin):
    standin.script = ["reset"]
    assert make().verify(request()).matched
    assert standin.calls == 2


def test_connection_refused(make, standin):
    standin.__exit__()
    with pytest.raises(RegistryUnavailableError) as exc:
        make(retries=1).verify(request())
    assert exc.value.reason in ("connection", "timeout")


@pytest.mark.parametrize(
    "behaviour,reason",
    [
        ("500", "http_5xx"),
        ("302", "http_status"),
        ("malformed", "malformed"),
        ("deep", "malformed"),
        ("wrong_shape", "malformed"),
        ("missing_element", "malformed"),
        ("odd_verdict", "malformed"),
        ("code:99", "malformed"),
        ("code:03", "rejected"),
        ("code:09", "rejected"),
        ("huge", "too_large"),
        ("huge_declared", "too_large"),
    ],
)
def test_failures_that_are_not_retried(make, standin, sleeps, behaviour, reason):
    standin.behaviour = behaviour
    with pytest.raises(RegistryUnavailableError) as exc:
        make().verify(request())
    assert exc.value.reason == reason
    assert standin.calls == 1 and sleeps == []


def test_daily_quota_suggests_a_long_wait(make, standin):
    standin.behaviour = "code:05"
    with pytest.raises(RegistryUnavailableError) as exc:
        make().verify(request())
    assert (exc.value.reason, exc.value.retry_after) == ("rejected", 3600)


def test_wrong_credentials(make, standin):
    with pytest.raises(RegistryUnavailableError) as exc:
        make(password="salah").verify(request())
    assert exc.value.reason == "credentials" and standin.calls == 1


def test_breaker_opens_after_k_failures_and_stops_calling(make, standin):
    clock = FakeClock()
    registry = make(retries=0, breaker=CircuitBreaker(failures=3, seconds=30, clock=clock))
    standin.behaviour = "500"
    for _ in range(3):
        with pytest.raises(RegistryUnavailableError) as exc:
            registry.verify(request())
        assert exc.value.reason == "http_5xx"
    assert registry.breaker.state == "open"
    clock.now += 10
    with pytest.raises(RegistryUnavailableError) as exc:
        registry.verify(request())
    assert (exc.value.reason, exc.value.retry_after) == ("circuit_open", 20)
    assert standin.calls == 3  # the server was not called
    # half-open: one probe; it fails, so the breaker opens again for the full period
    clock.now += 20
    assert registry.breaker.state == "half_open"
    with pytest.raises(RegistryUnavailableError):
        registry.verify(request())
    assert standin.calls == 4 and registry.breaker.state == "open"
    # the next probe succeeds: closed again
    clock.now += 30
    standin.behaviour = "normal"
    assert registry.verify(request()).matched
    assert registry.breaker.state == "closed" and standin.calls == 5


def test_retries_stop_when_the_breaker_opens(make, standin, sleeps):
    registry = make(retries=5, breaker=CircuitBreaker(failures=2, seconds=30, clock=FakeClock()))
    standin.behaviour = "503"
    with pytest.raises(RegistryUnavailableError):
        registry.verify(request())
    assert standin.calls == 2 and len(sleeps) == 1


def test_mismatch_and_not_found_count_as_successes_for_the_breaker(make, standin):
    registry = make(breaker=CircuitBreaker(failures=1, seconds=30, clock=FakeClock()))
    assert not registry.verify(request(full_name="Budi")).matched
    assert not registry.verify(request(nik="3174011505850002")).found
    assert registry.breaker.state == "closed"


def test_half_open_lets_one_probe_through():
    clock = FakeClock()
    breaker = CircuitBreaker(failures=1, seconds=5, clock=clock)
    breaker.failure()
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow() and not breaker.allow()  # a second caller waits for the probe
    breaker.success()
    assert breaker.allow() and breaker.state == "closed"


def test_http_urls_need_the_dev_flag(standin):
    with pytest.raises(ValueError, match="https"):
        HttpRegistry(standin.url, user=USER, password=PASSWORD)
    with pytest.raises(ValueError, match="credentials"):
        HttpRegistry("https://u:p@registry.example/", user=USER, password=PASSWORD)


@pytest.fixture
def logs(caplog):
    """Records of idp.registry (the `idp` logger does not propagate once an app configured logging)."""
    logger = logging.getLogger("idp.registry")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def test_logs_carry_no_nik_name_or_password(make, standin, logs):
    caplog = logs
    registry = make(retries=1)
    registry.verify(request())
    for behaviour in ("503", "malformed", "code:09", "reset"):
        standin.behaviour = behaviour
        with pytest.raises(RegistryUnavailableError):
            registry.verify(request())
    assert "registry.attempt_failed" in caplog.text
    for secret in (NIK, PASSWORD, "SITI", "Siti", "AMINAH", "01-01-1990"):
        assert secret not in caplog.text


def test_repr_has_no_secret_or_nik(make):
    assert PASSWORD not in repr(make()) and NIK not in repr(request()) and "Siti" not in repr(request())


@pytest.fixture
def tls(tmp_path):
    return tls_files(tmp_path)


def test_mutual_tls(tls, sleeps):
    with StandIn(RECORDS, tls=tls, require_client_cert=True) as server:
        common = {"user": USER, "password": PASSWORD, "ca_bundle": str(tls.ca), "retries": 0, "sleep": sleeps.append,
                  "connect_timeout": 2, "read_timeout": 2}
        with pytest.raises(RegistryUnavailableError) as exc:
            HttpRegistry(server.url, **common).verify(request())
        assert exc.value.reason in ("tls", "connection")
        with_cert = HttpRegistry(server.url, client_cert=str(tls.client_cert), client_key=str(tls.client_key), **common)
        assert with_cert.verify(request()).matched
        # and the server is authenticated: without our CA bundle the system CAs refuse it
        no_ca = HttpRegistry(server.url, client_cert=str(tls.client_cert), client_key=str(tls.client_key),
                             **{**common, "ca_bundle": None})
        with pytest.raises(RegistryUnavailableError) as exc:
            no_ca.verify(request())
        assert exc.value.reason == "tls"


def _cfg(**kw):
    base = {"issuer": "https://idp.example", "registry_backend": "http", "registry_url": "https://registry.example/verify",
            "registry_user": USER}
    base.update(kw)
    return config_mod.build(base)


def test_build_from_configuration(monkeypatch, tls):
    monkeypatch.setenv("IDP_REGISTRY_PASSWORD", PASSWORD)
    registry = build_registry(_cfg(registry_client_cert=str(tls.client_cert), registry_client_key=str(tls.client_key),
                                   registry_ca_bundle=str(tls.ca), registry_retries=1, registry_breaker_failures=3))
    assert isinstance(registry, HttpRegistry)
    assert registry.retries == 1 and registry.breaker.threshold == 3 and registry.timeouts == (2, 5)
    assert registry.cert == (str(tls.client_cert), str(tls.client_key))
    monkeypatch.delenv("IDP_REGISTRY_PASSWORD")
    with pytest.raises(RegistryConfigError, match="IDP_REGISTRY_PASSWORD"):
        build_registry(_cfg())
    monkeypatch.setenv("IDP_REGISTRY_PASSWORD", PASSWORD)
    with pytest.raises(RegistryConfigError, match="registry_ca_bundle"):
        build_registry(_cfg(registry_ca_bundle=str(tls.ca) + ".missing"))


@pytest.mark.parametrize(
    "overrides,key",
    [
        ({"registry_url": ""}, "registry_url"),
        ({"registry_url": "http://registry.example/"}, "registry_url"),
        ({"registry_url": "https://u:p@registry.example/"}, "registry_url"),
        ({"registry_user": ""}, "registry_user"),
        ({"registry_client_cert": "c.pem"}, "registry_client_key"),
        ({"registry_allow_http": True}, "registry_allow_http"),
        ({"registry_backend": "ldap"}, "registry_backend"),
        ({"registry_retries": 9}, "registry_retries"),
        ({"registry_password_env": "NOT A NAME"}, "registry_password_env"),
    ],
)
def test_bad_registry_configuration_names_the_key(overrides, key):
    with pytest.raises(config_mod.ConfigError, match=key):
        _cfg(**overrides)


def test_http_registry_url_only_with_the_dev_flag_in_debug():
    assert _cfg(registry_url="http://127.0.0.1:8080/x", registry_allow_http=True, debug=True)["registry_allow_http"]
