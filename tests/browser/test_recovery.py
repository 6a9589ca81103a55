"""Password reset in a real browser, phone-sized and without JavaScript: from the sign-in
page the demo relying party sends the citizen to, through the e-mail code (read from the
development outbox) and a new password, back to the sign-in and into the relying party."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.browser.test_registration import fill, outbox_code, submit
from tests.browser.test_signin import (
    assert_no_horizontal_overflow,
    decision_buttons,
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

NEW_PASSWORD = "layang-layang merah di sawah"


def test_reset_the_password_from_the_sign_in_page_and_sign_in(stack, new_browser):
    citizen = stack.new_citizen(name="Dewi Lestari", email="dewi.lestari@contoh.go.id")
    driver = new_browser(javascript=False)
    phone_screen(driver)
    start_at_rp(driver, stack)
    link = driver.find_element(By.ID, "forgot-password")
    assert link.text == "Lupa kata sandi?"
    link.click()
    wait(driver).until(lambda d: path(d) == "/recover")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Atur ulang kata sandi"
    assert_no_horizontal_overflow(driver)

    fill(driver, "nik", citizen.nik)
    # Without JavaScript the date input still takes a typed value in Chromium's widget; set
    # it directly, as the browser would submit it.
    driver.execute_cdp_cmd("Runtime.evaluate", {"expression": "document.getElementById('birthdate').value='1990-01-01'"})
    driver.find_element(By.CSS_SELECTOR, "input[name=channel][value=email]").click()
    save_screenshots(driver, "recover-start")
    submit(driver)
    wait(driver).until(lambda d: path(d) == "/recover/code")
    # The page says what would have happened, never whether it did.
    assert "Jika data cocok" in driver.find_element(By.TAG_NAME, "main").text
    assert citizen.email not in driver.page_source

    fill(driver, "code", outbox_code(stack, citizen.email))
    submit(driver)
    wait(driver).until(lambda d: path(d) == "/recover/password")
    assert "15" in driver.find_element(By.TAG_NAME, "main").text  # no second factor: 15 characters
    fill(driver, "password", NEW_PASSWORD)
    fill(driver, "confirm", NEW_PASSWORD)
    submit(driver)
    wait(driver).until(lambda d: path(d) == "/recover/done")
    assert_no_horizontal_overflow(driver)
    save_screenshots(driver, "recover-done")
    outbox = requests.get(stack.idp.url + "/dev/outbox", timeout=5).text
    assert "Kata sandi SatuAkun Anda telah diubah" in outbox

    # "Masuk": back to the sign-in the relying party started, with the new password.
    driver.find_element(By.ID, "sign-in").click()
    wait(driver).until(lambda d: path(d).endswith("/login"))
    submit_login(driver, citizen.nik, citizen.password)  # the old password is dead
    assert driver.find_element(By.CSS_SELECTOR, "p.alert[role=alert]").text
    submit_login(driver, citizen.nik, NEW_PASSWORD)
    wait_consent(driver)
    decision_buttons(driver)[0].click()
    wait_rp_home(driver, stack)
    assert driver.find_element(By.ID, "welcome-name").text == citizen.name

