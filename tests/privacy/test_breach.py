"""Breach drill (SECURITY.md T96, UU PDP Art. 46): the affected citizens are exactly those
the incident touched; each is told once per incident; the agency report has the numbers;
no NIK in any output."""

from __future__ import annotations

import json
import secrets
import stat

import pytest
from sqlalchemy import select

from idp import cli, clock
from idp.audit.models import AuditEvent
from idp.audit.services import EventTag
from idp.documents.models import DocumentAccess
from idp.extensions import db
from idp.notify import services as notify
from idp.notify.backends import DeliveryError
from idp.notify.models import OutboxMessage
from idp.oidc.models import AccessToken, RefreshToken
from idp.privacy import services as privacy
from tests.authn.test_mfa import _account_login
from tests.conftest import Flow
from tests.documents.conftest import upload

HOUR = 3600
INCIDENT = "INC-2026-007"
TEXTS = {"what": "Kunci API layanan rp-bocor dicuri / the rp-bocor API key was stolen",
         "how": "Penyerang membaca data melalui API layanan tersebut",
         "remediation": "Kunci dicabut, token dicabut, layanan diaudit",
         "contact": "dpo@satuakun.go.id, 1500-123"}


# -- seeding: rows with exact times ------------------------------------------------------------
def _read(person_id, client_id, at, type_code="kk", kind="claims"):
    db.session.add(DocumentAccess(person_id=person_id, client_id=client_id, kind=kind, created_at=at, items=[
        {"document": secrets.token_hex(8), "type": type_code, "attributes": ["number"], "grant": 1}]))


def _token(person_id, client_id, at, scope="openid profile email", model=AccessToken, claims=None):
    row = model(token_hash=secrets.token_hex(32), client_id=client_id, person_id=person_id, scope=scope,
                claims=claims, issued_at=at, expires_at=at + 600)
    if model is RefreshToken:
        row.family_id, row.auth_time, row.acr, row.amr, row.last_used_at = secrets.token_hex(8), at, "1", ["pwd"], at
    db.session.add(row)


def _event(tag, person_id, at, client_id=None, **data):
    db.session.add(AuditEvent(tag=tag.value, created_at=at, actor="test", person_id=person_id, client_id=client_id,
                              data=data))


@pytest.fixture
def scenario(app, create_person):
    """Window [t0, t0 + 1 h) two hours ago; rp-bocor is the leaking client.

    a: rp-bocor read a KK and got a token, inside     -> affected
    b: rp-bocor token at exactly t0 (inclusive)       -> affected
    c: rp-bocor read one second before t0             -> not affected
    d: rp-lain (another client) read inside            -> only without --client
    e: rp-bocor token at exactly t0 + 1 h (exclusive) -> not affected
    f: signed in inside (no client)                    -> only with --event account:login:*
    g: rp-bocor token inside, no verified contact      -> affected, unreachable
    """
    t0 = clock.now() - 2 * HOUR
    people = {k: create_person(name=f"Warga {k.upper()}", email=f"{k}@contoh.go.id", phone_number=f"+62812000000{i:02d}")
              for i, k in enumerate("abcdef")}
    people["g"] = create_person(name="Warga G", email=None, phone_number=None)
    ids = {k: p.id for k, p in people.items()}
    with app.app_context():
        _read(ids["a"], "rp-bocor", t0 + 60)
        _token(ids["a"], "rp-bocor", t0 + 61, scope="openid phone doc:kk")
        _token(ids["b"], "rp-bocor", t0, model=RefreshToken)
        _read(ids["c"], "rp-bocor", t0 - 1)
        _read(ids["d"], "rp-lain", t0 + 120, type_code="ktp")
        _token(ids["e"], "rp-bocor", t0 + HOUR)
        _event(EventTag.LOGIN_SUCCESS, ids["f"], t0 + 300, remote_addr="192.0.2.1", amr=["pwd"])
        _event(EventTag.LOGIN_SUCCESS, ids["a"], t0 + 2 * HOUR)  # after the window
        _token(ids["g"], "rp-bocor", t0 + 90, scope="openid nik")
        db.session.commit()
    return t0, ids, people


def _scope(t0, **kw):
    kw.setdefault("client_id", "rp-bocor")
    return privacy.BreachScope(since=t0, until=t0 + HOUR, **kw)


def _by_person(scope, batch=1000):
    return {a.person_id: a for a in privacy.affected(scope, batch=batch)}


def _outbox():
    return db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()


# -- the affected set ---------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [1, 2, 1000])
def test_T96_affected_are_exactly_the_citizens_the_client_touched_in_the_window(ctx, scenario, batch):
    t0, ids, _ = scenario
    found = _by_person(_scope(t0), batch)
    assert sorted(found) == sorted([ids["a"], ids["b"], ids["g"]])
    a, b, g = found[ids["a"]], found[ids["b"]], found[ids["g"]]
    assert a.categories == {"document:kk", "phone_number", "account_identifier"}
    assert a.sources == {"documents", "tokens"} and a.clients == {"rp-bocor"} and a.records == 2
    assert (a.first_at, a.last_at) == (t0 + 60, t0 + 61)
    assert b.categories == {"account_identifier", "name", "gender", "birthdate", "email"}
    assert g.categories == {"account_identifier", "nik"}


def test_T96_without_client_every_service_counts_and_events_are_opt_in(ctx, scenario):
    t0, ids, _ = scenario
    assert sorted(_by_person(_scope(t0, client_id=None))) == sorted([ids["a"], ids["b"], ids["d"], ids["g"]])
    assert _by_person(_scope(t0, client_id=None))[ids["d"]].categories == {"document:ktp"}
    signed_in = _by_person(_scope(t0, client_id=None, sources=frozenset(), events=("account:login:*",)))
    assert list(signed_in) == [ids["f"]] and signed_in[ids["f"]].categories == {"sign_in"}
    documents_only = _by_person(_scope(t0, sources=frozenset({"documents"})))
    assert list(documents_only) == [ids["a"]] and documents_only[ids["a"]].categories == {"document:kk"}


def test_T96_contacts_are_whoever_got_a_code_or_notice_in_the_window(ctx, scenario):
    from idp.authn.models import OobCode

    t0, ids, _ = scenario
    ttl = ctx.config["IDP"]["otp_ttl"]
    db.session.add(OobCode(person_id=ids["c"], binding="x" * 64, channel="sms", code_hash="0" * 64, attempts=0,
                           expires_at=t0 + 10 + ttl))
    db.session.add(OobCode(person_id=ids["e"], binding="y" * 64, channel="email", code_hash="0" * 64, attempts=0,
                           expires_at=t0 - 1 + ttl))  # sent one second before the window
    _event(EventTag.CONTACT_CHANGED, ids["d"], t0 + 5, contact="email")
    db.session.commit()
    found = _by_person(_scope(t0, client_id=None, sources=frozenset({"contacts"})))
    assert {pid: a.categories for pid, a in found.items()} == {ids["c"]: {"phone_number"}, ids["d"]: {"email"}}
    assert _by_person(_scope(t0, sources=frozenset({"contacts"}))) == {}  # codes name no client


@pytest.mark.parametrize(("args", "message"), [
    (["--until", "2026-03-01T00:00Z"], "later than --since"),
    (["--since", "2026-03-01T08:00"], "offset"),
    (["--event", "account:nothing:*"], "matches no audit event tag"),
    (["--since", "yesterday"], "ISO 8601"),
])
def test_T96_unusable_options_are_usage_errors(runner, args, message):
    base = {"--since": "2026-03-02T00:00+07:00"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    r = runner.invoke(cli.main, ["privacy", "breach", "affected", *[x for kv in base.items() for x in kv]])
    assert r.exit_code == 2 and message in r.output


def test_T96_affected_cli_json_list_and_no_nik_anywhere(runner, app, scenario, tmp_path, caplog):
    t0, ids, people = scenario
    listing = tmp_path / "affected.jsonl"
    r = runner.invoke(cli.main, ["privacy", "breach", "affected", "--since", str(t0), "--until", str(t0 + HOUR),
                                 "--client", "rp-bocor", "--list", str(listing), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["citizens"] == 3 and out["sources"] == {"documents": 1, "tokens": 3}
    assert out["categories"]["account_identifier"] == 3 and out["categories"]["document:kk"] == 1
    assert out["scope"]["client_id"] == "rp-bocor" and out["scope"]["since"] == privacy.iso(t0)
    assert stat.S_IMODE(listing.stat().st_mode) == 0o600
    rows = [json.loads(line) for line in listing.read_text().splitlines()]
    assert [row["person_id"] for row in rows] == sorted([ids["a"], ids["b"], ids["g"]])
    text = runner.invoke(cli.main, ["privacy", "breach", "affected", "--since", str(t0), "--until", str(t0 + HOUR),
                                    "--client", "rp-bocor", "--batch", "1"])
    assert text.exit_code == 0 and "citizens affected: 3" in text.output and "citizens so far" in text.stderr
    for p in people.values():
        for where in (r.output, text.output, listing.read_text(), caplog.text):
            assert p.nik not in where and p.name not in where
    with app.app_context():
        events = db.session.execute(select(AuditEvent).where(AuditEvent.tag == "privacy:breach:assessed")).scalars().all()
        assert [e.data["citizens"] for e in events] == [3, 3] and events[0].client_id == "rp-bocor"


def test_T96_a_real_service_read_is_found(app, client, person, register_client, runner):
    """End to end: a service signs the citizen in and reads their KK through the claims API."""
    assert _account_login(client, person.nik).status_code == 303
    assert upload(client).status_code == 303
    rp, secret = register_client("rp-bocor", document_types=["kk"])
    flow = Flow(client, rp, secret)
    t0 = clock.now()
    tokens = flow.token(flow.run(person.nik, scope="openid profile doc:kk")["code"]).get_json()
    assert client.get("/claims/documents", headers={"Authorization": "Bearer " + tokens["access_token"]}).status_code == 200
    with app.app_context():
        (a,) = privacy.affected(privacy.BreachScope(since=t0, until=t0 + 60, client_id="rp-bocor"))
    assert a.person_id == person.id and a.sources == {"documents", "tokens"}
    assert {"document:kk", "name", "birthdate", "account_identifier"} <= a.categories


# -- notices and the agency report ---------------------------------------------------------------
def _notices(runner, t0, *extra):
    return runner.invoke(cli.main, [
        "privacy", "breach", "notices", "--since", str(t0), "--until", str(t0 + HOUR), "--client", "rp-bocor",
        "--incident", INCIDENT, "--detected-at", str(t0 + HOUR + 600), *[x for kv in TEXTS.items() for x in (f"--{kv[0]}", kv[1])],
        "--json", *extra])


def test_T96_dry_run_sends_nothing_and_shows_the_notice(runner, app, scenario):
    t0, _, people = scenario
    r = _notices(runner, t0)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["dry_run"] is True and out["citizens"] == 3
    assert (out["to_notify"], out["notified"], out["unreachable"], out["already_notified"]) == (2, 0, 1, 0)
    body = out["sample_notice"]["body"]
    assert body.startswith("Yth.") and "--- English ---" in body
    for text in TEXTS.values():
        assert text in body
    assert INCIDENT in body and "WIB" in body and "berkas" not in body
    assert "alamat e-mail" in body and "e-mail address" in body and "Kartu Keluarga" in body
    assert all(p.nik not in r.output and p.name not in r.output for p in people.values())
    with app.app_context():
        assert _outbox() == []
        assert db.session.execute(select(AuditEvent).where(AuditEvent.tag == "privacy:breach:notified")).first() is None


def test_T96_each_citizen_is_told_once_per_incident(runner, app, scenario, tmp_path):
    t0, ids, people = scenario
    report = tmp_path / "laporan.md"
    listing = tmp_path / "notices.jsonl"
    r = _notices(runner, t0, "--send", "--report", str(report), "--list", str(listing))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["notified"], out["unreachable"], out["failed"], out["notified_total"]) == (2, 1, 0, 2)
    assert out["channels"] == {"email": 2, "sms": 2}
    with app.app_context():
        sent = _outbox()
        assert sorted(m.destination for m in sent) == sorted(["a@contoh.go.id", "b@contoh.go.id", "+6281200000000",
                                                              "+6281200000001"])
        # The whole letter by e-mail; by SMS (they have e-mail too) the short notice pointing to it.
        assert all(m.subject == notify.LETTERS["breach_notice" if m.channel == "email" else "breach_notice_short"]
                   for m in sent)
        sms = [m for m in sent if m.channel == "sms"]
        assert all(len(m.body) <= 480 and INCIDENT in m.body and "e-mail" in m.body for m in sms)
        (to_b,) = [m for m in sent if m.destination == "b@contoh.go.id"]
        assert "tanggal lahir" in to_b.body and "Kartu Keluarga" not in to_b.body  # b's own categories only
        for p in people.values():
            assert all(p.nik not in m.body and p.name not in m.body for m in sent)
        told = db.session.execute(select(AuditEvent).where(AuditEvent.tag == "privacy:breach:notified")).scalars().all()
        assert sorted(e.person_id for e in told) == sorted([ids["a"], ids["b"]])
        assert all(e.data["incident"] == INCIDENT for e in told)
    statuses = {json.loads(line)["person_id"]: json.loads(line)["notice"] for line in listing.read_text().splitlines()}
    assert statuses == {ids["a"]: "notified", ids["b"]: "notified", ids["g"]: "unreachable"}
    md = report.read_text()
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert INCIDENT in md and "**3**" in md and "Sudah diberi tahu / Notified: 2" in md
    assert "No verified contact (letter or counter): 1" in md and TEXTS["remediation"] in md
    assert "| alamat e-mail / e-mail address | 1 |" in md and privacy.iso(t0 + HOUR + 600) in md

    again = _notices(runner, t0, "--send", "--report", str(tmp_path / "laporan.json"))
    assert again.exit_code == 0, again.output
    out = json.loads(again.stdout)
    assert (out["notified"], out["already_notified"], out["notified_total"]) == (0, 2, 2)
    with app.app_context():
        assert len(_outbox()) == 4
        tags = db.session.execute(select(AuditEvent.tag).where(AuditEvent.tag.like("privacy:breach:%"))).scalars().all()
        assert sorted(set(tags)) == ["privacy:breach:assessed", "privacy:breach:notified", "privacy:breach:reported"]
    data = json.loads((tmp_path / "laporan.json").read_text())
    assert data["citizens_affected"] == 3 and data["notices"]["notified"] == 2 and data["within_deadline"] is True
    assert data["detected_at"] == privacy.iso(t0 + HOUR + 600) and data["what"] == TEXTS["what"]
    assert {c["code"]: c["citizens"] for c in data["categories"]}["account_identifier"] == 3

    other = runner.invoke(cli.main, ["privacy", "breach", "notices", "--since", str(t0), "--until", str(t0 + HOUR),
                                     "--client", "rp-bocor", "--incident", "INC-2026-008", "--detected-at", str(t0 - 73 * HOUR),
                                     *[x for kv in TEXTS.items() for x in (f"--{kv[0]}", kv[1])], "--json", "--send"])
    assert json.loads(other.stdout)["notified"] == 2  # another incident is another notice
    assert "deadline" in other.stderr and "passed" in other.stderr


def test_T96_failed_deliveries_exit_1_and_are_retried(runner, app, scenario, monkeypatch):
    t0, _, _ = scenario

    class Refusing:
        def deliver(self, message):
            raise DeliveryError("gateway")

    monkeypatch.setattr(notify, "_backend", lambda channel: Refusing())
    r = _notices(runner, t0, "--send")
    assert r.exit_code == 1
    assert (json.loads(r.stdout)["failed"], json.loads(r.stdout)["notified"]) == (2, 0)
    monkeypatch.undo()
    r = _notices(runner, t0, "--send")
    assert r.exit_code == 0 and json.loads(r.stdout)["notified"] == 2


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--what", "Data NIK 3174010101900001 bocor", "16-digit"),
    ("--how", "   ", "must not be empty"),
    ("--incident", "INC 7; rm -rf", "--incident"),
])
def test_T96_notice_texts_are_checked(runner, app, flag, value, message):
    args = {"--incident": INCIDENT, **{f"--{k}": v for k, v in TEXTS.items()}, flag: value}
    r = runner.invoke(cli.main, ["privacy", "breach", "notices", "--since", "1700000000", "--detected-at", "1700003600",
                                 *[x for kv in args.items() for x in kv]])
    assert r.exit_code == 2 and message in r.output


@pytest.mark.parametrize("args", [["privacy"], ["privacy", "breach"], ["privacy", "breach", "affected"],
                                  ["privacy", "breach", "notices"], ["privacy", "export"]], ids=" ".join)
def test_every_privacy_command_has_help(args):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli.main, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_token_categories_follow_the_release_rules():
    assert privacy.token_categories("openid", None) == {"account_identifier"}
    assert privacy.token_categories("openid", {"userinfo": {"nik": None, "email": None}}) == {"account_identifier",
                                                                                             "email"}
    assert "identity_verification" in privacy.token_categories("openid", {"id_token": {"verified_claims": [
        {"verification": {"trust_framework": "id_satuakun"}, "claims": {"name": None}}]}})
    assert privacy.token_categories("openid address doc:akta", "garbage") == {"account_identifier", "address",
                                                                             "document:akta"}



# -- review fixes: live tokens, several rows per citizen, re-notices, the outbox ----------------
def test_T96_a_token_issued_before_the_window_but_live_in_it_counts(ctx, create_person):
    t0 = clock.now() - 2 * HOUR
    person = create_person()
    _token(person.id, "rp-bocor", t0 - 300)  # expires at t0 + 300: usable inside the window
    other = create_person()
    _token(other.id, "rp-bocor", t0 - 700)  # expired at t0 - 100: not usable inside
    db.session.commit()
    assert set(_by_person(_scope(t0, sources=frozenset({"tokens"})))) == {person.id}


@pytest.mark.parametrize("batch", [1, 2])
def test_T96_several_rows_of_one_citizen_across_batch_boundaries(ctx, create_person, batch):
    t0 = clock.now() - 2 * HOUR
    one, two = create_person(), create_person()
    for i in range(3):
        _token(one.id, "rp-bocor", t0 + 10 + i, scope="openid email" if i else "openid phone")
    _token(two.id, "rp-bocor", t0 + 20, scope="openid doc:kk")
    db.session.commit()
    found = _by_person(_scope(t0, sources=frozenset({"tokens"})), batch=batch)
    assert set(found) == {one.id, two.id}
    assert {"email", "phone_number"} <= set(found[one.id].categories)
    assert "document:kk" in set(found[two.id].categories)


def test_T96_a_wider_rerun_tells_again_about_new_data(runner, app, scenario):
    t0, ids, _ = scenario
    assert _notices(runner, t0, "--send").exit_code == 0
    with app.app_context():
        # The investigation finds the same service also read a's KTP: categories grow.
        _read(ids["a"], "rp-bocor", t0 + 700, type_code="ktp")
        db.session.commit()
    again = json.loads(_notices(runner, t0, "--send").stdout)
    assert again["notified"] == 1 and again["already_notified"] == 1  # a told again; b not


def test_T96_a_citizen_with_a_phone_only_gets_the_whole_letter_by_sms(runner, app, create_person):
    t0 = clock.now() - 2 * HOUR
    person = create_person(email=None, phone_number="+6281200009999")
    with app.app_context():
        _token(person.id, "rp-bocor", t0 + 60)
        db.session.commit()
    assert _notices(runner, t0, "--send").exit_code == 0
    with app.app_context():
        (message,) = _outbox()
    assert message.channel == "sms" and message.subject == notify.LETTERS["breach_notice"]
    assert TEXTS["remediation"] in message.body


def test_T96_send_refuses_the_development_outbox(app, scenario, tmp_path):
    from tests.conftest import make_runner

    t0, _, _ = scenario
    app.config["IDP"]["debug"] = False
    r = _notices(make_runner(app, tmp_path), t0, "--send")
    assert r.exit_code == 2 and "outbox" in r.output
    with app.app_context():
        assert _outbox() == []
        assert db.session.execute(select(AuditEvent).where(AuditEvent.tag == "privacy:breach:notified")).first() is None


def test_T96_incident_id_must_not_be_a_nik(runner, app):
    args = {"--incident": "3174-0101-0190-0001", **{f"--{k}": v for k, v in TEXTS.items()}}
    r = runner.invoke(cli.main, ["privacy", "breach", "notices", "--since", "1700000000", "--detected-at", "1700003600",
                                 *[x for kv in args.items() for x in kv]])
    assert r.exit_code == 2 and "16-digit" in r.output


def test_report_files_replace_what_was_there_and_never_follow_a_symlink(tmp_path):
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("keep me")
    planted = tmp_path / "laporan.md"
    planted.symlink_to(victim)
    privacy.write_private(planted, b"report", exclusive=False)
    assert victim.read_text() == "keep me"
    assert not planted.is_symlink() and planted.read_bytes() == b"report"
    assert stat.S_IMODE(planted.stat().st_mode) == 0o600
    old = tmp_path / "list.jsonl"
    old.write_text("old")
    old.chmod(0o644)
    with open(old, "rb") as reader:  # someone who opened the old file keeps the old content
        privacy.write_private(old, b"new", exclusive=False)
        assert reader.read() == b"old"
    assert old.read_bytes() == b"new" and stat.S_IMODE(old.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
