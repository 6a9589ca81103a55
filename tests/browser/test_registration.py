"""Self-registration in a real browser, phone-sized and without JavaScript: from the demo
relying party's sign-in link, through the registry check, the SMS code (read from the
development outbox), the password, and back to the relying party signed in."""

from __future__ import annotations

import re

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.browser.test_signin import (
    assert_no_horizontal_overflow,
    decision_buttons,
    left_page,
    path,
    phone_screen,
    rp_claims,
    save_screenshots,
    start_at_rp,
    wait,
    wait_consent,
    wait_rp_home,
)

pytestmark = pytest.mark.browser

CITIZEN = {"nik": "3578016504030001", "name": "Ratna Sari Dewi", "birthdate": "2003-04-25", "phone": "0813 1111 2222"}


@pytest.fixture(scope="module")
def registry(stack, tmp_path_factory):
    csv = tmp_path_factory.mktemp("registry") / "pilot.csv"
    csv.write_text("nik;nama_lengkap;tanggal_lahir;tempat_lahir;jenis_kelamin\n"
                   f"{CITIZEN['nik']};RATNA SARI DEWI;25-04-2003;SURABAYA;P\n")
    done = stack.idp.idp("registry", "import", str(csv))
    assert done.returncode == 0, done.stderr
    return csv


def fill(driver, field_id: str, value: str) -> None:
    el = driver.find_element(By.ID, field_id)
    el.clear()
    el.send_keys(value)


def submit(driver) -> None:
    """Submit the page's form and wait until the next page (or the same one again, with
    an error) has replaced it."""
    form = driver.find_element(By.CSS_SELECTOR, "main form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(left_page(form))


def outbox_code(stack, destination: str) -> str:
    page = requests.get(stack.idp.url + "/dev/outbox", timeout=5).text
    m = re.search(re.escape(destination) + r".*?\b(\d{6})\b", page, re.DOTALL)
    assert m, "no code in the development outbox"
    return m.group(1)


def test_register_from_a_phone_without_javascript_and_sign_in(stack, registry, new_browser):
    driver = new_browser(javascript=False)
    phone_screen(driver)
    start_at_rp(driver, stack)
    driver.find_element(By.PARTIAL_LINK_TEXT, "Buat akun SatuAkun").click()
    wait(driver).until(lambda d: path(d) == "/register")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Buat akun SatuAkun Anda"
    assert_no_horizontal_overflow(driver)

    # A date of birth that disagrees with the NIK is explained in Bahasa Indonesia.
    fill(driver, "nik", CITIZEN["nik"])
    fill(driver, "name", CITIZEN["name"])
    # Without JavaScript a date input still accepts typed text in Chromium's own widget;
    # set the value directly, as the browser would submit it.
    driver.execute_cdp_cmd("Runtime.evaluate", {"expression": "document.getElementById('birthdate').value='2003-04-26'"})
    submit(driver)
    alert = driver.find_element(By.CSS_SELECTOR, "p.alert[role=alert]")
    assert "tanggal lahir" in alert.text.lower()
    assert driver.find_element(By.ID, "birthdate").get_attribute("aria-invalid") == "true"

    driver.execute_cdp_cmd("Runtime.evaluate", {"expression": f"document.getElementById('birthdate').value='{CITIZEN['birthdate']}'"})
    fill(driver, "nik", CITIZEN["nik"])
    submit(driver)
    wait(driver).until(lambda d: path(d) == "/register/contact")
    save_screenshots(driver, "register-contact")
    fill(driver, "destination", CITIZEN["phone"])
    submit(driver)
    wait(driver).until(lambda d: path(d) == "/register/code")
    assert "+6281******222" in driver.find_element(By.TAG_NAME, "main").text

    fill(driver, "code", outbox_code(stack, "+6281311112222"))
    submit(driver)
    wait(driver).until(lambda d: path(d) == "/register/password")
    fill(driver, "password", "Indonesia2024!!!!")
    fill(driver, "confirm", "Indonesia2024!!!!")
    submit(driver)
    assert "terlalu umum" in driver.find_element(By.CSS_SELECTOR, "p.alert").text
    fill(driver, "password", "sepeda biru di pasar pagi")
    fill(driver, "confirm", "sepeda biru di pasar pagi")
    submit(driver)
    wait(driver).until(lambda d: path(d) == "/register/done")
    save_screenshots(driver, "register-done")

    submit(driver)  # "Lanjutkan ke layanan": signed in as the new account, then consent
    wait_consent(driver)
    decision_buttons(driver)[0].click()
    wait_rp_home(driver, stack)
    assert driver.find_element(By.ID, "welcome-name").text == CITIZEN["name"]
    claims = rp_claims(driver)
    assert claims.get("phone_number") in (None, "+6281311112222"), claims
