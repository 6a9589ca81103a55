"""The document vault in a real browser without JavaScript: a citizen stores a family card
(KK) in /account/documents, the demo relying party's requirement check asks for it
(`doc:kk`), the consent page names it and its attributes, the RP shows what it received,
and /account/data-access lists the read (issue #6)."""

from __future__ import annotations

import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.test_registration import fill
from tests.browser.test_signin import (
    RP_NAME,
    check_csp,
    decision_buttons,
    left_page,
    path,
    save_screenshots,
    submit_login,
    wait,
    wait_consent,
)

pytestmark = pytest.mark.browser

KK = {"number": "3374010101900042", "holder_name": "Agus Prasetyo", "address": "Jl. Pemuda 7, Kabupaten Contoh"}
MEMBERS = "Agus Prasetyo, kepala keluarga\nSri Wahyuni, istri"


def kk_image(tmp_path):
    file = tmp_path / "kk.png"
    Image.new("RGB", (120, 80), (240, 240, 230)).save(file, "PNG")
    return file


def test_store_a_family_card_and_share_it_with_the_demo_rp(stack, new_browser, tmp_path):
    citizen = stack.new_citizen(name="Agus Prasetyo", email="agus@contoh.go.id")
    driver = new_browser(javascript=False)

    # Sign in to the account pages.
    driver.get(stack.idp.url + "/account")
    wait(driver).until(lambda d: path(d).endswith("/login"))
    submit_login(driver, citizen.nik, citizen.password)
    wait(driver).until(lambda d: path(d) == "/account")

    # Choose the kind of document (a GET form: works without JavaScript), then upload.
    driver.get(stack.idp.url + "/account/documents")
    assert driver.find_elements(By.ID, "no-documents")
    Select(driver.find_element(By.ID, "type")).select_by_value("kk")
    choose = driver.find_element(By.ID, "choose-type")
    choose.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(left_page(choose))
    upload = wait(driver).until(lambda d: d.find_element(By.ID, "upload"))
    for name, value in KK.items():
        fill(driver, f"attr_{name}", value)
    fill(driver, "attr_members", MEMBERS)
    driver.find_element(By.ID, "file").send_keys(str(kk_image(tmp_path)))
    upload.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(left_page(upload))
    check_csp(driver)
    assert path(driver) == "/account/documents"
    assert not driver.find_elements(By.ID, "documents-error")
    table = driver.find_element(By.ID, "documents")
    assert "Kartu Keluarga (KK)" in table.text
    save_screenshots(driver, "documents-list")

    # The demo RP's requirement check asks for the KK; already signed in, so consent next.
    driver.get(stack.rp_url + "/syarat-kk")
    wait(driver).until(lambda d: d.current_url.startswith(stack.idp.url) and path(d).endswith(("/consent", "/login")))
    if path(driver).endswith("/login"):
        submit_login(driver, citizen.nik, citizen.password)
    wait_consent(driver)
    assert RP_NAME in driver.find_element(By.TAG_NAME, "h1").text
    shared = driver.find_element(By.ID, "consent-documents").text
    for label in ("Kartu Keluarga (KK)", "Nomor KK", "Kepala keluarga", "Alamat", "Anggota keluarga"):
        assert label in shared, shared
    save_screenshots(driver, "documents-consent")
    approve = decision_buttons(driver)[0]
    approve.click()
    wait(driver).until(lambda d: d.current_url.startswith(stack.rp_url + "/") and d.find_elements(By.ID, "welcome-name"))

    # The RP shows the attributes it received from /claims/documents.
    assert not driver.find_elements(By.ID, "no-document"), driver.find_element(By.TAG_NAME, "body").text
    received = driver.find_element(By.ID, "document-1").text
    for value in (*KK.values(), "Sri Wahyuni, istri", "uploaded"):
        assert value in received, received

    # The citizen sees the read in the access history.
    driver.get(stack.idp.url + "/account/data-access")
    wait(driver).until(lambda d: path(d) == "/account/data-access")
    history = driver.find_element(By.ID, "history").text
    assert RP_NAME in history and "Nomor KK" in history, history
    grants = driver.find_element(By.ID, "grants").text
    assert RP_NAME in grants and "Kartu Keluarga (KK)" in grants
    save_screenshots(driver, "documents-data-access")
