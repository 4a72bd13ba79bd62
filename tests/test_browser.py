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
def server(tiny_detector_dir, tmp_path, synth_dir):
    import json

    from artcheck.detect.detector import load_detector
    from artcheck.service.app import create_app
    from conftest import add_family_head, serve_on_loopback

    folder = tmp_path / "det"
    shutil.copytree(tiny_detector_dir, folder)
    cfg = json.loads((folder / "detector.json").read_text())     # held-out figures, as a built detector has
    cfg["metrics"] = {"loso_clean_at_0.5": {"balanced_accuracy": 0.861, "roc_auc": 0.934,
                                            "human_false_positive_rate": 0.1547},
                      "band": {"human_called_ai": 0.0455}}
    (folder / "detector.json").write_text(json.dumps(cfg))
    add_family_head(folder, synth_dir)
    for port in serve_on_loopback(create_app(load_detector(folder)), start_timeout=20):
        yield f"http://127.0.0.1:{port}"


def test_page_checks_an_image(server, browser, synth_dir, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    assert "artcheck" in browser.title
    # a favicon, served by the app
    icon = browser.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href")
    assert icon.endswith("/favicon.svg") and browser.execute_script(
        "return fetch(arguments[0]).then(r => r.status)", icon) == 200
    ai, human = sorted(synth_dir.glob("ai/*.png")), sorted(synth_dir.glob("human/*.png"))
    picked = [str(ai[0]), str(human[0])]
    browser.find_element(By.ID, "pick").send_keys("\n".join(picked))
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".card")) == 2)
    # cards in the order picked, the file name prominent
    names = browser.find_elements(By.CSS_SELECTOR, ".card h3.name")
    assert [n.text for n in names] == [ai[0].name, human[0].name]
    assert float(names[0].value_of_css_property("font-size").rstrip("px")) >= 15
    verdicts = [e.text.lower() for e in browser.find_elements(By.CSS_SELECTOR, ".card .verdict")]
    assert all(v in ("ai", "human", "uncertain") for v in verdicts)
    # one P(ai) scale per card, the uncertain band marked and the verdict's region shaded; no two-bar display
    assert not browser.find_elements(By.CSS_SELECTOR, ".card .bar")
    cards = browser.find_elements(By.CSS_SELECTOR, ".card")
    for card, v in zip(cards, verdicts):
        assert len(card.find_elements(By.CSS_SELECTOR, ".scale")) == 1
        assert len(card.find_elements(By.CSS_SELECTOR, ".scale .region.uncertain")) == 1
        shaded = card.find_elements(By.CSS_SELECTOR, ".scale .region.on")
        assert len(shaded) == 1 and v in shaded[0].get_attribute("class")
        assert "P(ai) =" in card.find_element(By.CSS_SELECTOR, ".scale .value").text
        # the generator family: a row on ai and uncertain cards only (issue 27)
        family = card.find_elements(By.CSS_SELECTOR, ".family")
        assert (len(family) == 1) == (v in ("ai", "uncertain"))
        if family:
            assert "Generator family:" in family[0].text and ("flux" in family[0].text or "sdxl" in family[0].text)
    assert verdicts[0] in ("ai", "uncertain") and verdicts[1] == "human"
    band = browser.find_element(By.CSS_SELECTOR, ".card .scale .region.uncertain")
    assert band.get_attribute("style").replace(".0%", "%").startswith("left: 30%; width: 40%")   # the band 0.3-0.7
    WebDriverWait(browser, 10).until(EC.text_to_be_present_in_element((By.ID, "status"), "2 checked"))
    assert browser.find_element(By.ID, "csv").is_displayed()
    # a second upload: the status line counts every card on the page
    browser.find_element(By.ID, "pick").send_keys(str(human[1]))
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".card")) == 3)
    WebDriverWait(browser, 10).until(EC.text_to_be_present_in_element((By.ID, "status"), "3 checked"))
    assert browser.find_elements(By.CSS_SELECTOR, ".card h3.name")[-1].text == human[1].name
    footer = browser.find_element(By.ID, "model").text
    assert "balanced accuracy 0.86" in footer and "human images called AI: 15.5% at 50%, 4.5% with the uncertain band" in footer
    shot = tmp_path / "page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
