"""Sign-in and consent in a real browser, through the demo relying party
("MPP Kabupaten Contoh", clients/demo_rp/app.py) and a live provider."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ARTIFACTS, PHONE

pytestmark = pytest.mark.browser

RP_NAME = "MPP Kabupaten Contoh"
PURPOSE_ID = "Masuk ke layanan Mal Pelayanan Publik Kabupaten Contoh dan mengisi formulir permohonan dengan data Anda."
PURPOSE_EN = "Sign in to the Mal Pelayanan Publik services of Kabupaten Contoh and prefill your application forms."
UNKNOWN_NIK = "3374010101909999"
# Computed properties that make a button more or less prominent than another.
PROMINENCE = (
    "background-color", "color", "font-size", "font-weight", "font-family", "text-decoration-line",
    "border-top-width", "border-top-style", "border-top-color", "border-bottom-width", "border-bottom-color",
    "border-left-width", "border-left-color", "border-right-width", "border-right-color", "border-radius",
    "padding-top", "padding-bottom", "padding-left", "padding-right", "box-shadow", "opacity", "height", "width",
)


class FormActionBlocked(AssertionError):
    """Chromium refused to follow a form POST's redirect to the RP: CSP form-action."""


# -- helpers -------------------------------------------------------------------------------------
def wait(driver, timeout: float = 10) -> WebDriverWait:
    return WebDriverWait(driver, timeout)


def check_csp(driver) -> None:
    """Fail at once, with Chromium's own words, when the page hit a CSP violation."""
    for entry in driver.get_log("browser"):
        msg = entry.get("message", "")
        if "Content Security Policy" in msg:
            if "form-action" in msg:
                raise FormActionBlocked(msg)
            raise AssertionError(msg)


def at_rp(driver, stack, path_prefix: str = "/") -> bool:
    check_csp(driver)
    return driver.current_url.startswith(stack.rp_url + path_prefix)


def path(driver) -> str:
    return urlsplit(driver.current_url).path


def html_lang(driver) -> str:
    return driver.find_element(By.TAG_NAME, "html").get_attribute("lang")


def left_page(element):
    """Wait condition: ``element``'s page has been replaced. Like EC.staleness_of, but a
    navigation in progress can also answer "Node … does not belong to the document"
    (a plain WebDriverException), which means the same thing."""
    def gone(_driver) -> bool:
        try:
            element.is_enabled()
        except WebDriverException:  # StaleElementReferenceException included
            return True
        return False

    return gone


def start_at_rp(driver, stack) -> None:
    """RP home -> "Masuk dengan SatuAkun" -> the provider's login page."""
    driver.get(stack.rp_url + "/")
    link = driver.find_element(By.ID, "login")
    assert link.text == "Masuk dengan SatuAkun"
    link.click()
    wait(driver).until(lambda d: d.current_url.startswith(stack.idp.url) and path(d).endswith("/login"))


def submit_login(driver, nik: str, password: str) -> None:
    form = driver.find_element(By.CSS_SELECTOR, "main form")
    nik_input = driver.find_element(By.ID, "nik")
    nik_input.clear()
    nik_input.send_keys(nik)
    driver.find_element(By.ID, "password").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(left_page(form))


def wait_consent(driver) -> None:
    wait(driver).until(lambda d: path(d).endswith("/consent"))


def decision_buttons(driver):
    approve = driver.find_element(By.CSS_SELECTOR, "form.decide button[value=approve]")
    deny = driver.find_element(By.CSS_SELECTOR, "form.decide button[value=deny]")
    return approve, deny


def wait_rp_home(driver, stack) -> None:
    wait(driver).until(lambda d: at_rp(d, stack) and d.find_elements(By.ID, "welcome-name"))
    assert driver.current_url == stack.rp_url + "/"


def rp_claims(driver) -> dict[str, str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#claims tr")
    return {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text for r in rows}


def sign_in_and_agree(driver, stack, citizen) -> None:
    start_at_rp(driver, stack)
    submit_login(driver, citizen.nik, citizen.password)
    wait_consent(driver)
    decision_buttons(driver)[0].click()
    wait_rp_home(driver, stack)


def styles(driver, element) -> dict[str, str]:
    return driver.execute_script(
        "const s = getComputedStyle(arguments[0]); return Object.fromEntries(arguments[1].map(p => [p, s.getPropertyValue(p)]));",
        element, list(PROMINENCE),
    )


def phone_screen(driver) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True},
    )


def save_screenshots(driver, name: str) -> None:
    """<name>.png: what a 360x740 phone shows first; <name>-full.png: the whole page."""
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    try:
        # Best effort: a picture for people to look at, not an assertion. Chromium's
        # beyond-viewport capture occasionally fails on a loaded machine.
        full = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        (ARTIFACTS / f"{name}-full.png").write_bytes(base64.b64decode(full["data"]))
    except WebDriverException:
        pass


def assert_no_horizontal_overflow(driver) -> None:
    widths = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]"
    )
    assert widths[0] <= widths[1], f"page scrolls sideways at {PHONE[0]} px: scrollWidth/clientWidth/innerWidth {widths}"


def press(driver, *keys) -> None:
    ActionChains(driver).send_keys(*keys).perform()


def active(driver):
    return driver.switch_to.active_element


# -- tests ---------------------------------------------------------------------------------------
def test_sign_in_and_consent_through_demo_rp(stack, browser):
    citizen = stack.new_citizen()
    start_at_rp(browser, stack)
    assert html_lang(browser) == "id"
    assert RP_NAME in browser.find_element(By.TAG_NAME, "h1").text
    submit_login(browser, citizen.nik, citizen.password)

    wait_consent(browser)
    assert html_lang(browser) == "id"
    assert RP_NAME in browser.find_element(By.TAG_NAME, "h1").text
    assert PURPOSE_ID in browser.find_element(By.CSS_SELECTOR, "dl.rp").text
    items = [li.text.strip() for li in browser.find_elements(By.CSS_SELECTOR, "ul.items li")]
    # openid + name/birthdate/gender (profile) + email + phone + address, at least.
    assert len(items) >= 4 and all(items), items
    approve, deny = decision_buttons(browser)
    assert (approve.text, deny.text) == ("Setuju", "Tolak")
    assert approve.tag_name == deny.tag_name == "button"
    assert approve.get_attribute("class") == deny.get_attribute("class")
    a, d = styles(browser, approve), styles(browser, deny)
    assert a == d, {k: (a[k], d[k]) for k in a if a[k] != d[k]}
    assert abs(approve.size["width"] - deny.size["width"]) <= 1 and approve.size["height"] == deny.size["height"]

    approve.click()
    wait_rp_home(browser, stack)
    assert browser.find_element(By.ID, "welcome-name").text == citizen.name
    claims = rp_claims(browser)
    assert claims.get("email") == citizen.email, claims
    assert claims.get("name") == citizen.name, claims


def test_second_sign_in_uses_sso_and_remembered_consent(stack, browser):
    citizen = stack.new_citizen(name="Rina Wulandari", email="rina@contoh.go.id")
    sign_in_and_agree(browser, stack, citizen)
    # Sign out of the RP only (its own cookie); the provider's SSO session stays.
    browser.delete_cookie("demo_rp")
    browser.get(stack.rp_url + "/")
    assert not browser.find_elements(By.ID, "welcome-name")
    browser.find_element(By.ID, "login").click()
    # No login page, no consent page: straight back to the RP, signed in.
    wait_rp_home(browser, stack)
    assert browser.find_element(By.ID, "welcome-name").text == citizen.name
    history = browser.execute_script("return performance.getEntriesByType('navigation').map(e => e.name)")
    assert all("/interaction/" not in u for u in history), history


def test_wrong_password_and_unknown_nik_give_the_same_error(stack, browser):
    citizen = stack.new_citizen()
    start_at_rp(browser, stack)
    login_path = path(browser)

    submit_login(browser, citizen.nik, "salah-" + citizen.password)
    assert path(browser) == login_path
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    wrong_password = alert.text.strip()
    assert wrong_password
    assert browser.find_element(By.ID, "nik").get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "password").get_attribute("value") == ""

    submit_login(browser, UNKNOWN_NIK, citizen.password)
    assert path(browser) == login_path
    unknown_nik = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text.strip()
    assert unknown_nik == wrong_password

    # Still usable: the right password now gets through to consent.
    submit_login(browser, citizen.nik, citizen.password)
    wait_consent(browser)


def test_language_switch_to_english_keeps_the_login_page(stack, browser):
    citizen = stack.new_citizen()
    start_at_rp(browser, stack)
    login_path = path(browser)
    assert html_lang(browser) == "id"

    browser.find_element(By.LINK_TEXT, "English").click()
    wait(browser).until(lambda d: html_lang(d) == "en")
    assert path(browser) == login_path
    assert browser.find_element(By.LINK_TEXT, "English").get_attribute("aria-current") == "true"
    assert browser.find_element(By.LINK_TEXT, "Bahasa Indonesia").get_attribute("aria-current") is None
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Sign in to continue to {RP_NAME}"

    # The choice sticks for the rest of the flow: the consent page is in English too.
    submit_login(browser, citizen.nik, citizen.password)
    wait_consent(browser)
    assert html_lang(browser) == "en"
    assert PURPOSE_EN in browser.find_element(By.CSS_SELECTOR, "dl.rp").text
    approve, deny = decision_buttons(browser)
    assert (approve.text, deny.text) == ("Agree (Setuju)", "Refuse (Tolak)")


def test_language_switch_after_a_failed_sign_in_keeps_the_login_page(stack, browser):
    citizen = stack.new_citizen()
    start_at_rp(browser, stack)
    login_path = path(browser)
    submit_login(browser, citizen.nik, "salah")
    browser.find_element(By.LINK_TEXT, "English").click()
    wait(browser).until(lambda d: html_lang(d) == "en")
    assert path(browser) == login_path


def test_refusing_consent_returns_access_denied_to_the_rp(stack, browser):
    citizen = stack.new_citizen()
    start_at_rp(browser, stack)
    submit_login(browser, citizen.nik, citizen.password)
    wait_consent(browser)
    decision_buttons(browser)[1].click()
    wait(browser).until(lambda d: at_rp(d, stack, "/callback"))
    url = browser.current_url
    assert "error=access_denied" in url and "iss=" in url, url
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert q["error"] == "access_denied" and q["iss"] == stack.idp.url and q.get("state"), q
    assert "code" not in q


def test_sign_in_and_consent_work_without_javascript(stack, new_browser):
    driver = new_browser(javascript=False)
    driver.get("data:text/html,<title>off</title><script>document.title='on'</script>")
    assert driver.title == "off", "JavaScript is not disabled in this profile"
    citizen = stack.new_citizen()
    sign_in_and_agree(driver, stack, citizen)
    assert driver.find_element(By.ID, "welcome-name").text == citizen.name


def test_login_form_with_keyboard_only(stack, browser):
    citizen = stack.new_citizen()
    start_at_rp(browser, stack)

    press(browser, Keys.TAB)
    skip = active(browser)
    assert skip.get_attribute("class") == "skip"
    assert skip.location["x"] >= 0, "skip link stays off-screen when focused"

    for _ in range(8):
        if active(browser).get_attribute("id") == "nik":
            break
        press(browser, Keys.TAB)
    assert active(browser).get_attribute("id") == "nik"
    outline = browser.execute_script("const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]")
    assert outline[0] != "none" and outline[1] != "0px", f"no visible focus indicator on the NIK field: {outline}"
    press(browser, citizen.nik, Keys.TAB)
    assert active(browser).get_attribute("id") == "password"
    press(browser, citizen.password, Keys.ENTER)
    wait_consent(browser)

    # Consent by keyboard too: Tab to "Setuju", Enter.
    for _ in range(12):
        if active(browser).get_attribute("value") == "approve":
            break
        press(browser, Keys.TAB)
    assert active(browser).get_attribute("value") == "approve"
    press(browser, Keys.ENTER)
    wait_rp_home(browser, stack)


def test_phone_screenshots(stack, browser):
    citizen = stack.new_citizen()
    phone_screen(browser)
    start_at_rp(browser, stack)
    assert browser.execute_script("return window.innerWidth") == PHONE[0]
    save_screenshots(browser, "login-id")
    assert_no_horizontal_overflow(browser)

    submit_login(browser, citizen.nik, "salah")
    save_screenshots(browser, "login-error-id")
    assert_no_horizontal_overflow(browser)

    submit_login(browser, citizen.nik, citizen.password)
    wait_consent(browser)
    save_screenshots(browser, "consent-id")
    assert_no_horizontal_overflow(browser)

    browser.find_element(By.LINK_TEXT, "English").click()
    wait(browser).until(lambda d: html_lang(d) == "en")
    save_screenshots(browser, "consent-en")
    assert_no_horizontal_overflow(browser)
    approve, deny = decision_buttons(browser)
    assert approve.size == deny.size and approve.location["y"] == deny.location["y"]
