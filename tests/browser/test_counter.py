"""Counter enrolment in real browsers (issue #3). An officer, made one with `idp officers
add`, sets up an authenticator app, signs in with password and code, looks a NIK up,
creates the account after the in-person check and reads the activation code off the page,
all without JavaScript. The citizen, in a second browser on a phone-sized screen, activates
the account and signs in through the demo relying party."""

from __future__ import annotations

import time

import pyotp
import pytest
from selenium.webdriver.common.by import By

from tests.browser.test_registration import fill
from tests.browser.test_signin import (
    assert_no_horizontal_overflow,
    decision_buttons,
    left_page,
    path,
    phone_screen,
    save_screenshots,
    start_at_rp,
    submit_login,
    wait,
    wait_consent,
    wait_rp_home,
)

pytestmark = pytest.mark.browser

# Women add 40 to the day of birth: 57-08-92 is 17 August 1992.
CITIZEN = {"nik": "3578015708920005", "name": "Dewi Anggraini", "birthdate": "1992-08-17"}
NEW_PASSWORD = "perahu kertas di kali ciliwung"


@pytest.fixture(scope="module")
def counter_registry(stack, tmp_path_factory):
    csv = tmp_path_factory.mktemp("counter-registry") / "pilot.csv"
    csv.write_text("nik;nama_lengkap;tanggal_lahir;tempat_lahir;jenis_kelamin\n"
                   f"{CITIZEN['nik']};DEWI ANGGRAINI;17-08-1992;SURABAYA;P\n")
    done = stack.idp.idp("registry", "import", str(csv))
    assert done.returncode == 0, done.stderr
    return csv


def submit_in(driver, element) -> None:
    """Submit the form that holds ``element`` and wait for the next page."""
    form = element.find_element(By.XPATH, "./ancestor::form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(left_page(form))


def set_date(driver, field_id: str, value: str) -> None:
    # Without JavaScript in the page, Chromium's date widget still takes a value over CDP.
    driver.execute_cdp_cmd("Runtime.evaluate", {"expression": f"document.getElementById('{field_id}').value='{value}'"})


def test_officer_creates_account_and_citizen_activates_it(stack, counter_registry, new_browser):
    officer = stack.new_citizen(name="Petugas Loket Surabaya", email="petugas@mpp.go.id")
    added = stack.idp.idp("officers", "add", "--nik", officer.nik, "--location-code", "MPP-3578",
                          "--location-name", "MPP Kota Surabaya")
    assert added.returncode == 0, added.stderr
    assert officer.nik not in added.stdout

    desk = new_browser(javascript=False)
    # Set up the authenticator app on the account pages (they ask for the password first).
    desk.get(stack.idp.url + "/account/totp")
    wait(desk).until(lambda d: path(d).endswith("/login"))
    submit_login(desk, officer.nik, officer.password)
    wait(desk).until(lambda d: path(d) == "/account/totp")
    totp = pyotp.TOTP(desk.find_element(By.ID, "totp-secret").text.replace(" ", ""))
    fill(desk, "code", totp.at(time.time()))
    submit_in(desk, desk.find_element(By.ID, "code"))
    assert path(desk) == "/account"

    # The counter asks for the second factor on top of the password-only session.
    desk.get(stack.idp.url + "/counter")
    wait(desk).until(lambda d: path(d).endswith("/mfa"))
    fill(desk, "code", totp.at(time.time() + 30))  # the next time step: the enrolment's was used
    submit_in(desk, desk.find_element(By.ID, "code"))
    wait(desk).until(lambda d: path(d) == "/counter")
    assert desk.find_element(By.TAG_NAME, "h1").text == "Loket MPP"
    assert "MPP Kota Surabaya" in desk.find_element(By.ID, "officer").text

    fill(desk, "nik", CITIZEN["nik"])
    fill(desk, "reason", "Warga datang ke loket minta dibuatkan akun")
    submit_in(desk, desk.find_element(By.ID, "nik"))
    assert path(desk) == "/counter/lookup" and CITIZEN["nik"] not in desk.current_url
    assert "belum memiliki akun" in desk.find_element(By.ID, "status").text
    desk.find_element(By.ID, "photo_matches").click()
    fill(desk, "name", CITIZEN["name"])
    set_date(desk, "birthdate", CITIZEN["birthdate"])
    save_screenshots(desk, "counter-verify")
    submit_in(desk, desk.find_element(By.ID, "name"))
    assert path(desk) == "/counter/verify"
    assert desk.find_element(By.TAG_NAME, "h1").text == "Akun sudah dibuat"
    code = desk.find_element(By.ID, "activation-code").text
    assert len(code) == 14 and code.count("-") == 2

    # The citizen, at home on a phone, activates the account from the login page's link.
    phone = new_browser(javascript=False)
    phone_screen(phone)
    start_at_rp(phone, stack)
    phone.find_element(By.ID, "activate-link").click()
    wait(phone).until(lambda d: path(d) == "/activate")
    assert phone.find_element(By.TAG_NAME, "h1").text == "Aktifkan akun SatuAkun Anda"
    assert_no_horizontal_overflow(phone)
    fill(phone, "nik", CITIZEN["nik"])
    fill(phone, "code", "ABCD-EFGH-JKMN")
    fill(phone, "password", NEW_PASSWORD)
    fill(phone, "confirm", NEW_PASSWORD)
    submit_in(phone, phone.find_element(By.ID, "nik"))
    assert "kode aktivasi salah" in phone.find_element(By.CSS_SELECTOR, "p.alert[role=alert]").text
    fill(phone, "code", code.lower())
    fill(phone, "password", NEW_PASSWORD)
    fill(phone, "confirm", NEW_PASSWORD)
    save_screenshots(phone, "activate")
    submit_in(phone, phone.find_element(By.ID, "nik"))
    assert path(phone) == "/activate/done"

    start_at_rp(phone, stack)
    submit_login(phone, CITIZEN["nik"], NEW_PASSWORD)
    wait_consent(phone)
    decision_buttons(phone)[0].click()
    wait_rp_home(phone, stack)
    assert phone.find_element(By.ID, "welcome-name").text == CITIZEN["name"]
