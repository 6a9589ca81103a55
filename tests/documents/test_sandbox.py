"""Uploads are checked in a child process with CPU and memory limits (SECURITY.md
"Uploads": parse/scan in a sandbox <= 2 s CPU, <= 256 MiB; idp/documents/sandbox.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
from PIL import Image
from sqlalchemy import select

from idp.documents import sandbox, validate
from idp.documents.models import Document
from idp.extensions import db
from tests.documents import files
from tests.documents.conftest import upload

MAX = 10 * 1024 * 1024
LIMITS = {"max_bytes": MAX, "cpu_seconds": 2, "memory_mb": 256}


def _child(monkeypatch, code: str) -> None:
    """Replace the child by ``code`` (the parent still applies the limits and environment)."""
    monkeypatch.setattr(sandbox, "_command", lambda: [sys.executable, "-I", "-B", "-c", code])


@pytest.mark.parametrize(
    "name,data",
    [("ktp.pdf", files.pdf(3)), ("scan.png", files.png(text="nomor-rahasia")), ("foto.jpg", files.jpeg()),
     ("scan.png", files.png(mode="RGBA"))],
)
def test_accepted_files_come_back_as_in_process(name, data):
    direct = validate.check(name, data, max_bytes=MAX)
    checked = sandbox.check(name, data, **LIMITS)
    assert (checked.content_type, checked.data, checked.pages, checked.pixels) == (
        direct.content_type, direct.data, direct.pages, direct.pixels)


@pytest.mark.parametrize(
    "name,data,reason",
    [("ktp.pdf", files.pdf(js=True), "PDF with active content (raw)"),
     ("ktp.png", files.png() + files.HTML, "markup inside (polyglot)"),
     ("bom.png", files.png_header_only(50_000, 50_000), "decompression bomb"),
     ("ktp.zip", files.zip_file(), "extension '.zip' not accepted")],
)
def test_refusals_keep_their_reason(name, data, reason):
    with pytest.raises(validate.RefusedFileError) as info:
        sandbox.check(name, data, **LIMITS)
    assert info.value.reason == reason and not isinstance(info.value, validate.FileTooComplexError)


def test_too_large_before_and_after_the_child():
    with pytest.raises(validate.FileTooLargeError):
        sandbox.check("ktp.pdf", b"%PDF-" + b"0" * MAX, **LIMITS)
    out = io.BytesIO()
    Image.effect_noise((300, 300), 60).convert("RGB").save(out, "JPEG", quality=10)
    data = out.getvalue()  # re-encoded at quality 90, it grows
    with pytest.raises(validate.FileTooLargeError):  # the re-encoded image is over the limit
        sandbox.check("foto.jpg", data, max_bytes=len(data), cpu_seconds=2, memory_mb=256)


def test_memory_limit_refuses_a_large_valid_image():
    big = files.png((3000, 3000))
    assert validate.check("scan.png", big, max_bytes=MAX).pixels == 9_000_000  # valid in-process
    with pytest.raises(validate.FileTooComplexError, match="too complex to check: MemoryError"):
        sandbox.check("scan.png", big, max_bytes=MAX, cpu_seconds=2, memory_mb=40)
    assert sandbox.check("scan.png", files.png(), max_bytes=MAX, cpu_seconds=2, memory_mb=40).pixels == 64 * 48


def test_memory_limit_from_config_is_415_and_leaves_nothing(app, client, citizen, blob_dir):
    app.config["IDP"]["document_parse_memory_mb"] = 40
    resp = upload(client, "kk.png", files.png((3000, 3000)))
    assert resp.status_code == 415
    with app.app_context():
        assert db.session.execute(select(Document).where(Document.person_id == citizen.id)).first() is None
    assert not blob_dir.exists() or list(blob_dir.iterdir()) == []
    # The worker is unharmed: the next upload goes through.
    assert upload(client, "kk.png", files.png()).status_code == 303


def test_cpu_limit_ends_a_looping_child(monkeypatch):
    _child(monkeypatch, "while True: pass")
    started = time.monotonic()
    with pytest.raises(validate.FileTooComplexError, match="SIGXCPU|SIGKILL"):
        sandbox.check("ktp.pdf", files.pdf(), max_bytes=MAX, cpu_seconds=1, memory_mb=256)
    assert time.monotonic() - started < sandbox._wall_seconds(1)  # the CPU limit, not the wall clock


def test_wall_clock_limit_ends_a_waiting_child(monkeypatch):
    _child(monkeypatch, "import time; time.sleep(60)")
    monkeypatch.setattr(sandbox, "_wall_seconds", lambda cpu: 1)
    with pytest.raises(validate.FileTooComplexError, match="no answer within 1 s"):
        sandbox.check("ktp.pdf", files.pdf(), **LIMITS)


@pytest.mark.parametrize(
    "code,reason",
    [("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "SIGSEGV"),
     ("x = bytearray(1024 * 1024 * 1024)", "exit 1"),  # MemoryError outside the checks
     ("import sys; sys.stdin.buffer.read(); print('not json')", "malformed answer"),
     (("import sys; sys.stdin.buffer.read(); sys.stdout.write('{\"verdict\": \"ok\", \"content_type\": "
       "\"image/png\"}\\n<html>')"), "malformed answer")],
)
def test_crashes_and_bad_answers_are_refusals(monkeypatch, code, reason):
    _child(monkeypatch, code)
    with pytest.raises(validate.FileTooComplexError, match=reason):
        sandbox.check("scan.png", files.png(), **LIMITS)


def test_child_environment_holds_no_secrets(monkeypatch):
    monkeypatch.setenv("IDP_SECRET_KEY", "rahasia")
    monkeypatch.setenv("IDP_DOCUMENT_S3_SECRET_KEY", "rahasia")
    _child(monkeypatch, "import json, os, sys; sys.stdin.buffer.read(); "
                        "print(json.dumps({'verdict': 'refused', 'reason': ','.join(sorted(os.environ))}))")
    with pytest.raises(validate.RefusedFileError) as info:
        sandbox.check("scan.png", files.png(), **LIMITS)
    names = set(info.value.reason.split(","))
    assert not any(n.startswith("IDP_") for n in names)
    assert names <= {"PATH", "LANG", "PYTHONDONTWRITEBYTECODE", "LC_CTYPE"}


def test_child_imports_no_flask_and_no_idp_package():
    # The real child's code, run as the sandbox runs it, then asked what it imported.
    command = sandbox._command()
    assert command[1:3] == ["-I", "-B"] and command[-1].endswith("sandbox.py")
    code = ("import runpy, sys; main = runpy.run_path(sys.argv[1])['main']; main(); "
            "sys.stderr.write(','.join(sorted(sys.modules)))")
    request = json.dumps({"filename": "scan.png", "max_bytes": MAX}).encode() + b"\n" + files.png()
    done = subprocess.run([*command[:3], "-c", code, command[-1]], input=request, capture_output=True,
                          env=sandbox._environment(), cwd="/", timeout=30, check=True)
    assert json.loads(done.stdout.partition(b"\n")[0])["verdict"] == "ok"
    modules = set(done.stderr.decode().split(","))
    assert "PIL.Image" in modules
    assert not {m for m in modules if m.split(".")[0] in ("flask", "idp", "sqlalchemy", "werkzeug", "cryptography")}
