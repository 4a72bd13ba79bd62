"""docs/page.png: the web page after checking three bundled samples with the default detector.

    python scripts/page_screenshot.py     # needs the [serve] extra, selenium and Debian's chromium
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
SAMPLES = ROOT / "src" / "artcheck" / "assets" / "samples"
PICK = ("human-painting-starry-night.png", "ai-painting-dalle2.png", "ai-anime-illustration.png")


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from artcheck.detect.detector import load_detector
    from artcheck.service.app import create_app
    from conftest import serve_on_loopback

    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1000,1100", "--user-data-dir=/tmp/page-shot"):
        opts.add_argument(flag)
    for port in serve_on_loopback(create_app(load_detector()), start_timeout=120):
        browser = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
        try:
            browser.get(f"http://127.0.0.1:{port}/")
            browser.find_element(By.ID, "pick").send_keys("\n".join(str(SAMPLES / f) for f in PICK))
            WebDriverWait(browser, 120).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".card")) == 3)
            time.sleep(1)
            browser.save_screenshot(str(ROOT / "docs" / "page.png"))
        finally:
            browser.quit()
    print("wrote docs/page.png")


if __name__ == "__main__":
    main()
