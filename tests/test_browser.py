"""End to end: the real server on a loopback port, the page driven in headless Chromium."""

import shutil

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


@pytest.fixture()
def server(tiny_detector_dir):
    from artcheck.detect.detector import load_detector
    from artcheck.service.app import create_app
    from conftest import serve_on_loopback

    for port in serve_on_loopback(create_app(load_detector(tiny_detector_dir)), start_timeout=20):
        yield f"http://127.0.0.1:{port}"


def test_page_checks_an_image(server, browser, synth_dir, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    assert "artcheck" in browser.title
    images = [str(next(synth_dir.glob("ai/*.png"))), str(next(synth_dir.glob("human/*.png")))]
    browser.find_element(By.ID, "pick").send_keys("\n".join(images))
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".card")) == 2)
    verdicts = [e.text.lower() for e in browser.find_elements(By.CSS_SELECTOR, ".card .verdict")]
    assert all(v in ("ai", "human", "uncertain") for v in verdicts)
    bars = browser.find_elements(By.CSS_SELECTOR, ".card .bar")
    assert len(bars) == 4 and "AI" in bars[0].text and "human" in bars[1].text
    WebDriverWait(browser, 10).until(EC.text_to_be_present_in_element((By.ID, "status"), "2 checked"))
    assert browser.find_element(By.ID, "csv").is_displayed()
    shot = tmp_path / "page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
