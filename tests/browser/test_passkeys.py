"""Passkeys in a real browser: Chromium's virtual authenticator (DevTools WebAuthn domain)
stands in for the phone's screen lock. Register from the account page, sign out, sign in
at the demo relying party without a password, then use the passkey as second factor.

The provider's issuer is http://localhost:<port> here: WebAuthn needs a domain as
relying party id (an IP address is refused) and a secure context (localhost is one)."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from tests.browser.test_signin import (
    check_csp,
    decision_buttons,
    path,
    start_at_rp,
    submit_login,
    wait,
    wait_consent,
    wait_rp_home,
)

pytestmark = pytest.mark.browser

IDP_HOST = "localhost"  # read by the `stack` fixture


def add_virtual_authenticator(driver) -> str:
    """A platform authenticator with discoverable credentials and a verified user (as after
    a fingerprint), answering without a prompt."""
    driver.execute_cdp_cmd("WebAuthn.enable", {"enableUI": False})
    return driver.execute_cdp_cmd("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True,
    }})["authenticatorId"]


def id_token_claims(driver) -> dict[str, str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#idtoken tr")
    return {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text for r in rows}


def wait_path(driver, expected: str) -> None:
    wait(driver).until(lambda d: path(d) == expected)
    check_csp(driver)


def register_passkey(driver, stack, citizen, name: str) -> None:
    driver.get(stack.idp.url + "/account")
    wait(driver).until(lambda d: path(d).endswith("/login"))
    submit_login(driver, citizen.nik, citizen.password)
    wait_path(driver, "/account")
    driver.find_element(By.ID, "passkeys-link").click()
    wait_path(driver, "/account/passkeys")
    driver.find_element(By.ID, "add-passkey").click()
    wait_path(driver, "/account/passkeys/new")
    field = wait(driver).until(EC.visibility_of_element_located((By.ID, "name")))  # revealed by the script
    assert not driver.find_element(By.ID, "passkey-unsupported").is_displayed()
    field.send_keys(name)
    driver.find_element(By.ID, "create-passkey").click()
    wait_path(driver, "/account/passkeys")


def test_register_then_sign_in_without_password_and_as_second_factor(stack, browser):
    citizen = stack.new_citizen(name="Dewi Lestari", email="dewi@contoh.go.id")
    authenticator = add_virtual_authenticator(browser)

    register_passkey(browser, stack, citizen, "Laptop uji")
    assert "Laptop uji" in browser.find_element(By.ID, "passkeys").text
    [credential] = browser.execute_cdp_cmd("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert credential["isResidentCredential"] and credential["rpId"] == "localhost"
    assert citizen.nik not in credential.get("userName", "")  # the NIK never goes onto an authenticator

    # Sign out of SatuAkun (the confirmation page: no id_token_hint here).
    browser.get(stack.idp.url + "/logout")
    browser.find_element(By.CSS_SELECTOR, "button[value=logout]").click()
    wait(browser).until(lambda d: "/logout" in path(d) and not d.find_elements(By.CSS_SELECTOR, "button[value=logout]"))

    # Passwordless from the relying party's authorization request.
    start_at_rp(browser, stack)
    button = wait(browser).until(EC.visibility_of_element_located((By.ID, "passkey-button")))
    assert button.text == "Masuk dengan passkey"
    check_csp(browser)
    button.click()
    wait_consent(browser)
    decision_buttons(browser)[0].click()
    wait_rp_home(browser, stack)
    assert browser.find_element(By.ID, "welcome-name").text == citizen.name
    claims = id_token_claims(browser)
    assert claims["acr"] == "urn:id:satuakun:loa:2", claims
    assert claims["amr"] == "['hwk', 'user', 'mfa']", claims

    # Sign out at the RP (RP-initiated logout), then password + passkey as second factor.
    browser.find_element(By.LINK_TEXT, "Keluar (sign out)").click()
    wait(browser).until(lambda d: d.current_url == stack.rp_url + "/" and d.find_elements(By.ID, "login"))
    start_at_rp(browser, stack)
    submit_login(browser, citizen.nik, citizen.password)
    wait(browser).until(lambda d: path(d).endswith("/mfa"))
    assert not browser.find_elements(By.ID, "code")  # no authenticator app, no recovery codes
    wait(browser).until(EC.visibility_of_element_located((By.ID, "passkey-button"))).click()
    wait_rp_home(browser, stack)  # consent is remembered
    claims = id_token_claims(browser)
    assert claims["acr"] == "urn:id:satuakun:loa:2", claims
    assert claims["amr"] == "['pwd', 'hwk', 'user', 'mfa']", claims


def test_cancelled_ceremony_says_so_and_stays(stack, browser):
    """No passkey for this site on this device: the browser's request fails; the page says
    so in an alert and the password form still works."""
    add_virtual_authenticator(browser)  # empty: no credential for this site
    citizen = stack.new_citizen()
    start_at_rp(browser, stack)
    login_path = path(browser)
    wait(browser).until(EC.visibility_of_element_located((By.ID, "passkey-button"))).click()
    alert = wait(browser, 30).until(EC.visibility_of_element_located((By.ID, "passkey-error")))
    assert alert.text.strip() and alert.get_attribute("role") == "alert"
    assert path(browser) == login_path
    submit_login(browser, citizen.nik, citizen.password)
    wait_consent(browser)


def test_no_passkey_button_without_javascript(stack, new_browser):
    driver = new_browser(javascript=False)
    start_at_rp(driver, stack)
    assert driver.find_elements(By.ID, "passkey-button")
    assert not driver.find_element(By.ID, "passkey-button").is_displayed()
    assert driver.find_element(By.ID, "nik").is_displayed()
