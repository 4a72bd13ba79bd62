from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from artcheck.data.synthetic import make_dataset


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    """A learnable synthetic dataset at 32 px (manifest CSV layout), shared by the session."""
    root = tmp_path_factory.mktemp("synth")
    make_dataset(root, n_per_class=120, size=32, seed=1, layout="manifest")
    return root


@pytest.fixture(scope="session")
def tiny_detector_dir(synth_dir, tmp_path_factory):
    """A detector folder: tiny ONNX backbone + a probe fitted and calibrated on synthetic data."""
    from artcheck.detect.backbones import get_backbone
    from artcheck.data import read_dataset
    from artcheck.detect.features import extract
    from artcheck.detect.probe import LinearProbe
    from tiny_backbone import NAME, register

    root = tmp_path_factory.mktemp("det")
    register(root / "tiny.onnx")
    manifest = read_dataset(synth_dir)
    backbone = get_backbone(NAME)
    X, idx, errors = extract(backbone, [r.path for r in manifest], progress=False)
    y = np.array([manifest[i].target for i in idx])
    head = LinearProbe(backbone=NAME).fit(X[::2], y[::2], Cs=(1.0,))
    head.calibrate(head.decision_function(X[1::2]), y[1::2])
    head.save(root / "head.json")
    (root / "detector.json").write_text(json.dumps({
        "name": "tiny-test", "version": "0", "backbone": NAME, "head": "head.json", "uncertain_band": [0.3, 0.7]}))
    return root


def add_family_head(folder, synth_dir) -> list[str]:
    """Give the detector in ``folder`` a family head on its own features (two made-up families,
    no open-set threshold); returns the image paths it was fitted on, AI ones first."""
    from artcheck.data import read_dataset
    from artcheck.detect.detector import load_detector
    from artcheck.images import load_image
    from artcheck.lab.attribution import fit_family_head

    det = load_detector(folder)
    records = list(read_dataset(synth_dir))
    records = [r for r in records if r.target == 1][:20] + [r for r in records if r.target == 0][:20]
    X = det.backbone.features(np.stack([det.preprocess.to_uint8(load_image(r.path).image) for r in records]))
    fam = np.array(["flux" if i % 2 else "sdxl" for i in range(len(X))])
    head = fit_family_head(X, fam, np.array(["s"] * len(X)), C=1.0)
    head.open_threshold, head.open_rule = 0.0, "top_p"
    head.save(folder / "attribution.npz")
    cfg = json.loads((folder / "detector.json").read_text())
    cfg["attribution"] = "attribution.npz"
    (folder / "detector.json").write_text(json.dumps(cfg))
    return [r.path for r in records]


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture()
def browser(tmp_path):
    """Headless Chromium through Selenium (Debian's chromium and chromium-driver; .ci/run installs them)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,900"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


def serve_on_loopback(app, start_timeout: float = 120.0):
    """Run ``app`` in a real uvicorn on a free loopback port (a generator: yields the port,
    then stops the server). Shared by the browser and hostile-input tests."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from artcheck.service.server import server_config

    server = uvicorn.Server(server_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield port
    server.should_exit = True
    thread.join(20)
