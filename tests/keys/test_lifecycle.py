"""Signing-key lifecycle (T77, T78, T82): states, rotation, revocation, import, rewrap,
and what relying parties and other nodes see."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp import clock
from idp.extensions import db
from idp.keys import lifecycle, store
from idp.keys.models import SigningKey
from tests.conftest import Flow

DAY = 86400


def _states(app, alg="ES256"):
    with app.app_context():
        return sorted(k.state for k in store.list_keys() if k.alg == alg)


def _jwks(http):
    return http.get("/jwks").get_json()


def _kids(http):
    return {k["kid"] for k in _jwks(http)["keys"]}


def test_fresh_install_has_active_and_standby(app, client):
    assert _states(app) == ["active", "next"]
    assert _states(app, "RS256") == ["active", "next"]
    with app.app_context():
        for k in store.list_keys():
            assert k.kid == store.unseal(k).thumbprint()  # RFC 7638 thumbprint


def test_T77_planned_rotation(app, client, flow, person):
    before = flow.token(flow.run(person.nik)["code"]).get_json()["id_token"]
    with app.app_context():
        standby = next(k.kid for k in store.list_keys() if k.alg == "ES256" and k.state == "next")
        # a standby published less than the pre-publication window may not sign yet
        with pytest.raises(lifecycle.StandbyNotReadyError):
            lifecycle.rotate("ES256", actor="test")
    assert _states(app) == ["active", "next"]
    clock.advance(2 * DAY)
    with app.app_context():
        new = lifecycle.rotate("ES256", actor="test")
    assert new.kid == standby
    assert _states(app) == ["active", "next", "retiring"]
    after = flow.token(flow.run(person.nik, prompt="login")["code"]).get_json()["id_token"]
    keyset = KeySet.import_key_set(_jwks(client))
    assert jwt.decode(after, keyset).header["kid"] == standby
    jwt.decode(before, keyset)  # tokens signed before rotation still verify
    clock.advance(7 * DAY + 1)
    with app.app_context():
        store.invalidate_cache()
    retired_kid = jwt.decode(before, keyset).header["kid"]
    assert retired_kid not in _kids(client)  # unpublished after the retire window


def test_rotation_audited_with_host(app):
    from idp.audit.models import AuditEvent

    clock.advance(2 * DAY)
    with app.app_context():
        lifecycle.rotate("ES256", actor="cli")
        event = db.session.query(AuditEvent).filter_by(tag="operator:key:rotated").one()
        assert event.actor == "cli" and event.data["host"] and event.data["alg"] == "ES256"


def test_if_older_than(app):
    clock.advance(2 * DAY)
    with app.app_context():
        with pytest.raises(lifecycle.NotDueError):
            lifecycle.rotate("ES256", actor="cron", if_older_than=90 * DAY)
        clock.advance(91 * DAY)
        db.session.rollback()
        assert lifecycle.rotate("ES256", actor="cron", if_older_than=90 * DAY)


def test_two_concurrent_rotations_one_wins(app):
    """`idp keys rotate --if-older-than 90d` from cron on four nodes at once."""
    if app.config["IDP_BACKEND"] == "sqlite":
        pytest.skip("one SQLite file serialises writers; the race is tested on PostgreSQL")
    clock.advance(91 * DAY)
    outcomes = []
    barrier = threading.Barrier(4)

    def rotate():
        with app.app_context():
            barrier.wait()
            try:
                lifecycle.rotate("ES256", actor="cron", if_older_than=90 * DAY)
                outcomes.append("rotated")
            except (lifecycle.ConcurrentChangeError, lifecycle.NotDueError):
                outcomes.append("skipped")
            except Exception as exc:  # noqa: BLE001 - recorded, asserted below
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=rotate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("rotated") == 1 and outcomes.count("skipped") == 3
    states = _states(app)
    assert states.count("active") == 1 and states.count("retiring") == 1


def test_T78_revoke_active_key(app, client, flow, person):
    tok = flow.token(flow.run(person.nik)["code"]).get_json()
    kid = jwt.decode(tok["id_token"], KeySet.import_key_set(_jwks(client))).header["kid"]
    with app.app_context():
        standby = next(k.kid for k in store.list_keys() if k.alg == "ES256" and k.state == "next")
        lifecycle.revoke(kid, actor="test", reason="HSM compromised")
    assert kid not in _kids(client)  # gone at once
    # the standby signs at once: no propagation wait
    new = flow.token(flow.run(person.nik, prompt="login")["code"]).get_json()["id_token"]
    assert jwt.decode(new, KeySet.import_key_set(_jwks(client))).header["kid"] == standby
    # an ID token signed by the revoked key is no longer accepted as id_token_hint
    from tests.conftest import query

    assert query(flow.authorize(id_token_hint=tok["id_token"]).headers["Location"])["error"] == "invalid_request"
    assert _states(app) == ["active", "next", "revoked"]
    with app.app_context():
        assert store.get_key(kid).revoked_reason == "HSM compromised"


def test_revocation_visible_to_another_node_at_once_on_unknown_kid(app, keys_dir, client, flow, person, tmp_path_factory):
    """Node B caches keys; after node A revokes and swaps, B signs with the new key
    within the cache window and JWKS on B drops the revoked key."""
    from idp import create_app

    node_b = create_app(dict(app.config["IDP"]))
    http_b = node_b.test_client()
    http_b.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    before = _kids(http_b)
    with app.app_context():
        active = next(k.kid for k in store.list_keys() if k.alg == "ES256" and k.state == "active")
        lifecycle.revoke(active, actor="test", reason="drill")
    clock.advance(app.config["IDP"]["key_cache_seconds"])
    after = _kids(http_b)
    assert active in before and active not in after


def test_retire_standby_and_guard_active(app):
    with app.app_context():
        standby = next(k for k in store.list_keys() if k.alg == "ES256" and k.state == "next")
        active = next(k for k in store.list_keys() if k.alg == "ES256" and k.state == "active")
        with pytest.raises(lifecycle.InvalidKeyError):
            lifecycle.retire(active.kid, actor="test")
        lifecycle.retire(standby.kid, actor="test")
        # a new standby is published so an emergency swap stays possible
        assert sorted(k.state for k in store.list_keys() if k.alg == "ES256") == ["active", "next", "retiring"]


def test_generate_other_algorithms(app):
    with app.app_context():
        for alg in ("PS256", "EdDSA"):
            row = lifecycle.generate(alg, actor="test")
            assert row.state == "next" and row.public_jwk["alg"] == alg
            assert not {"d", "p", "q"} & set(row.public_jwk)


def _pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def test_T82_import_refuses_weak_keys(app):
    with app.app_context():
        with pytest.raises(lifecycle.InvalidKeyError, match="2048"):
            lifecycle.import_private_key(_pem(rsa.generate_private_key(65537, 1024)), "RS256", actor="test")
        with pytest.raises(lifecycle.InvalidKeyError, match="P-256"):
            lifecycle.import_private_key(_pem(ec.generate_private_key(ec.SECP384R1())), "ES256", actor="test")
        with pytest.raises(lifecycle.InvalidKeyError):
            lifecycle.import_private_key("not a key", "ES256", actor="test")
        good = _pem(ec.generate_private_key(ec.SECP256R1()))
        row = lifecycle.import_private_key(good, "ES256", actor="test")
        assert row.state == "next"
        with pytest.raises(lifecycle.InvalidKeyError, match="already exists"):
            lifecycle.import_private_key(good, "ES256", actor="test")


def test_T82_private_keys_never_logged_or_exported(app, runner, caplog):
    from idp import cli

    exported = json.loads(runner.invoke(cli.main, ["keys", "export-jwks"]).output)
    for k in exported["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(k)
    with app.app_context():
        privates = [store.unseal(k).as_dict(private=True)["d"] for k in store.list_keys()]
    runner.invoke(cli.main, ["keys", "list", "--json"])
    for d in privates:
        assert d not in caplog.text


def test_rewrap_moves_everything_to_new_kek(app, keys_dir, person, tmp_path):
    from idp import create_app
    from idp.authn import totp
    from idp.identity import services as identity

    with app.test_request_context():
        seed = totp.start_enrolment(person.id)
        from idp.registry.local import import_csv

        csv = tmp_path / "registry.csv"
        csv.write_text(f"nik,nama_lengkap,tanggal_lahir\n{person.nik},BUDI SANTOSO,1990-01-01\n")
        import_csv(csv)

    new_kek = os.urandom(32)
    old_kek = app.extensions["idp_secrets"]["kek"]
    enc = lambda b: base64.urlsafe_b64encode(b).decode()
    os.environ["IDP_SECRET_KEK"] = enc(new_kek)
    os.environ["IDP_SECRET_KEK_PREVIOUS"] = enc(old_kek)
    try:
        node = create_app(dict(app.config["IDP"]))
        with node.app_context():
            # during the rotation both KEKs decrypt
            assert identity.decrypt_nik(identity.get_person_by_nik(person.nik)) == person.nik
            assert lifecycle.rewrap(actor="test") >= 7  # 4 keys + 1 TOTP seed + 1 NIK + 1 registry record
            assert lifecycle.rewrap(actor="test") == 0  # idempotent
        del os.environ["IDP_SECRET_KEK_PREVIOUS"]
        only_new = create_app(dict(app.config["IDP"]))
        with only_new.app_context():
            assert identity.decrypt_nik(identity.get_person_by_nik(person.nik)) == person.nik
            for k in store.list_keys():
                store.unseal(k)
            from idp.authn.models import TotpFactor

            assert totp.secret_of(db.session.get(TotpFactor, person.id)) == seed
            from idp.registry import local

            record = db.session.execute(sa.select(local.RegistryRecord)).scalar_one()
            assert local._decrypt(record)
    finally:
        os.environ.pop("IDP_SECRET_KEK", None)
        os.environ.pop("IDP_SECRET_KEK_PREVIOUS", None)


def test_rotation_under_load_zero_verification_failures(app, client, register_client, person):
    """Tokens are issued and verified (as an RP does: cached JWKS, refetch on unknown kid)
    while keys rotate; no verification may fail."""
    c, secret = register_client("rp-load")
    flow = Flow(client, c, secret)
    refresh = flow.token(flow.run(person.nik)["code"]).get_json()["refresh_token"]
    failures, verified = [], []
    stop = threading.Event()
    http = app.test_client()
    http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    jwks = {"set": KeySet.import_key_set(_jwks(http))}

    def issue_and_verify():
        f = Flow(http, c, secret)
        while not stop.is_set():
            resp = f.token_request({"grant_type": "refresh_token", "refresh_token": refresh})
            if resp.status_code != 200:
                failures.append(resp.get_data(as_text=True))
                continue
            idt = resp.get_json()["id_token"]
            try:
                jwt.decode(idt, jwks["set"])
            except (JoseError, ValueError):
                jwks["set"] = KeySet.import_key_set(_jwks(http))  # RP: refetch on unknown kid
                try:
                    jwt.decode(idt, jwks["set"])
                except (JoseError, ValueError) as exc:
                    failures.append(repr(exc))
            verified.append(1)

    worker = threading.Thread(target=issue_and_verify)
    worker.start()
    try:
        for _ in range(3):
            time.sleep(0.2)
            with app.app_context():
                # --force: the standby is younger than 48 h here; an RP that meets an
                # unknown kid refetches the JWKS, where the standby already is.
                lifecycle.rotate("ES256", actor="test", force=True)
                db.session.remove()
    finally:
        time.sleep(0.2)
        stop.set()
        worker.join()
    assert failures == [] and len(verified) > 10


ROTATE_AND_HANG = r"""
import os, sys, time
from idp import create_app
from idp.keys import lifecycle
from idp import clock
clock.advance(int(sys.argv[1]))
app = create_app()
orig = lifecycle._swap
def swap_then_hang(*a, **kw):
    orig(*a, **kw)
    print("swapped", flush=True)
    time.sleep(60)   # killed here: after the UPDATEs, before COMMIT
lifecycle._swap = swap_then_hang
with app.app_context():
    lifecycle.rotate("ES256", actor="test")
"""


def test_killed_rotation_leaves_one_active_and_rerun_completes(app, runner, tmp_path):
    if app.config["IDP_BACKEND"] == "sqlite":
        pytest.skip("tested on PostgreSQL (the multi-node store)")
    script = tmp_path / "rotate_and_hang.py"
    script.write_text(ROTATE_AND_HANG)
    env = {**os.environ, "IDP_CONFIG": runner.env["IDP_CONFIG"], "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(script), str(2 * DAY)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "swapped"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _states(app) == ["active", "next"]  # nothing half-done
    clock.advance(2 * DAY)
    with app.app_context():
        lifecycle.rotate("ES256", actor="test")
    assert _states(app) == ["active", "next", "retiring"]


def test_cli_keys(app, runner):
    from idp import cli

    listed = json.loads(runner.invoke(cli.main, ["keys", "list", "--json"]).output)
    assert {"kid", "alg", "state", "created_at", "activated_at", "retire_after"} <= set(listed[0])
    not_ready = runner.invoke(cli.main, ["keys", "rotate", "--alg", "ES256", "--json"])
    assert not_ready.exit_code == 1 and "error" in json.loads(not_ready.output)["ES256"]
    forced = runner.invoke(cli.main, ["keys", "rotate", "--alg", "ES256", "--force", "--json"])
    assert forced.exit_code == 0 and "activated" in json.loads(forced.output)["ES256"]
    skipped = runner.invoke(cli.main, ["keys", "rotate", "--alg", "ES256", "--if-older-than", "90d", "--json"])
    assert skipped.exit_code == 0 and json.loads(skipped.output)["ES256"] == {"skipped": "not due"}
    gen = json.loads(runner.invoke(cli.main, ["keys", "generate", "--alg", "PS256", "--json"]).output)
    assert gen["state"] == "next"
    # A kid is base64url and may start with "-": "--" ends the options (as the help says).
    revoked = runner.invoke(cli.main, ["keys", "revoke", "--reason", "test", "--json", "--", gen["kid"]])
    assert revoked.exit_code == 0 and json.loads(revoked.output)["state"] == "revoked"
    assert runner.invoke(cli.main, ["keys", "revoke", "nope", "--reason", "x"]).exit_code == 1
    assert runner.invoke(cli.main, ["keys", "rotate", "--if-older-than", "soon"]).exit_code == 2
    with app.app_context():
        assert db.session.query(SigningKey).filter_by(alg="ES256", state="active").count() == 1
