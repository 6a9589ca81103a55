"""Real-browser fixtures: headless Debian Chromium driven by Selenium, a live provider
(gunicorn, tests/live.py) and the demo relying party (clients/demo_rp/app.py).

Nothing downloads a browser or driver: the paths below are passed explicitly, so
selenium-manager never runs. Tests skip, saying why, when they are absent
(`apt-get install -y chromium chromium-driver`, as scripts/services.sh does in CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests import live

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = live.ROOT
RP_TOML = ROOT / "clients" / "mpp-kabupaten-contoh.toml"
RP_APP = ROOT / "clients" / "demo_rp" / "app.py"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "Kata-Sandi-Uji-2026"
PHONE = (360, 740)

_nik_seq = iter(range(1, 10_000))


def _missing_browser() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} not found: apt-get install -y chromium chromium-driver"
    return None


@pytest.fixture(scope="session", autouse=True)
def _browser_available():
    reason = _missing_browser()
    if reason:
        pytest.skip(reason)


@dataclass
class Citizen:
    nik: str
    name: str
    email: str
    password: str = PASSWORD


@dataclass
class Stack:
    idp: live.LiveServer
    rp_url: str
    rp_process: subprocess.Popen
    citizens: list[Citizen] = field(default_factory=list)

    def new_citizen(self, name: str = "Siti Aminah", email: str = "siti@contoh.go.id") -> Citizen:
        nik = f"337401010190{next(_nik_seq):04d}"
        done = self.idp.idp(
            "users", "create", "--nik", nik, "--name", name, "--birthdate", "1990-01-01",
            "--email", email, "--password-stdin", input=PASSWORD + "\n",
        )
        assert done.returncode == 0, done.stderr
        return Citizen(nik, name, email)


def _rp_registration(clients_dir: Path, port: int) -> None:
    text = RP_TOML.read_text()
    for host in ("127.0.0.1", "localhost"):
        text = text.replace(f"http://{host}:5001/", f"http://{host}:{port}/")
    assert ":5001/" not in text, "demo RP registration: a redirect URI was not rewritten"
    clients_dir.mkdir(parents=True, exist_ok=True)
    (clients_dir / RP_TOML.name).write_text(text)
    # the registration's logo file, relative to the registration
    shutil.copytree(RP_TOML.parent / "logos", clients_dir / "logos", dirs_exist_ok=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    """Provider + demo RP, one pair per test module; three citizens created up front.
    A module may set IDP_HOST (e.g. "localhost" for WebAuthn) for the provider's issuer."""
    work = tmp_path_factory.mktemp("browser-stack")
    rp_port = live.free_port()
    _rp_registration(work / "clients", rp_port)
    idp = live.start(work / "idp", work / "clients", host=getattr(request.module, "IDP_HOST", "127.0.0.1"))
    rp_log = open(work / "demo_rp.log", "w")  # noqa: SIM115 - the RP process writes it
    rp = subprocess.Popen(
        [str(live.BIN / "python"), str(RP_APP)],
        env={**os.environ, "SATUAKUN_ISSUER": idp.url, "DEMO_RP_PORT": str(rp_port)},
        cwd=ROOT, stdout=rp_log, stderr=subprocess.STDOUT,
    )
    s = Stack(idp, f"http://127.0.0.1:{rp_port}", rp)
    try:
        deadline = time.monotonic() + 20
        while True:
            if rp.poll() is not None:
                raise RuntimeError(f"demo RP exited: {(work / 'demo_rp.log').read_text()[-2000:]}")
            try:
                if requests.get(s.rp_url + "/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or slow on a loaded machine
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("demo RP did not answer in 20 s")
            time.sleep(0.1)
        yield s
    finally:
        _stop(rp)
        rp_log.close()
        idp.stop()


@pytest.fixture
def new_browser():
    """Factory: a fresh headless Chromium (own temporary profile) per call; all quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made = []

    def make(*, javascript: bool = True, size: tuple[int, int] = (1280, 900)):
        profile = tempfile.mkdtemp(prefix="satuakun-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
        ):
            opts.add_argument(arg)
        if not javascript:
            opts.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
        driver.set_page_load_timeout(20)
        made.append((driver, profile))
        return driver

    yield make
    for driver, profile in made:
        try:
            driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(new_browser):
    return new_browser()
