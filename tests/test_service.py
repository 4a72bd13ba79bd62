import io
import os
import tempfile

import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from artcheck.detect.detector import load_detector  # noqa: E402
from artcheck.service.app import create_app  # noqa: E402
from artcheck.service.settings import ServiceSettings  # noqa: E402


@pytest.fixture(scope="module")
def client(tiny_detector_dir):
    app = create_app(load_detector(tiny_detector_dir), ServiceSettings(max_files=4, max_file_bytes=200_000,
                                                                       max_request_bytes=600_000))
    with TestClient(app) as c:
        yield c


def _png(colour=(10, 200, 30), size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_healthz_and_models(client):
    assert client.get("/healthz").json() == {"status": "ok", "model_loaded": True, "workers": "threads",
                                              "workers_recycled": 0}
    m = client.get("/v1/models").json()["models"][0]
    assert m["name"] == "tiny-test" and m["uncertain_band"] == [0.3, 0.7]
    assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200


def test_check_one_and_many_same_schema_as_cli(client, synth_dir):
    ai = (next(synth_dir.glob("ai/*.png"))).read_bytes()
    r = client.post("/v1/check", files=[("files", ("../../etc/passwd.png", ai, "image/png"))])
    assert r.status_code == 200
    body = r.json()
    res = body["results"][0]
    assert set(res) >= {"path", "verdict", "p_ai", "evidence", "model", "image", "error", "reason"}
    assert res["path"] == "passwd.png"   # a label only: directory parts are dropped
    assert body["summary"]["checked"] == 1
    r = client.post("/v1/check", files=[("files", ("a.png", ai, "image/png")), ("files", ("b.png", _png(), "image/png")),
                                        ("files", ("bad.png", b"nope", "image/png"))])
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["path"] for x in results] == ["a.png", "b.png", "bad.png"]
    assert results[2]["error"] and results[2]["verdict"] is None and results[0]["error"] is None


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty"), (b"this is not an image", "not an image"), (_png()[:60], "truncated"),
])
def test_unreadable_upload_is_422(client, data, fragment):
    r = client.post("/v1/check", files=[("files", ("x.png", data, "image/png"))])
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "unreadable_images" and fragment in err["message"]


def test_limits_and_bad_requests(client):
    assert client.post("/v1/check", json={"image": "abc"}).status_code == 415
    r = client.post("/v1/check", files=[("other", ("x.png", _png(), "image/png"))])
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_files"
    r = client.post("/v1/check", files=[("files", (f"{i}.png", _png(), "image/png")) for i in range(5)])
    assert r.status_code == 413 and "at most 4" in r.json()["error"]["message"]
    r = client.post("/v1/check", files=[("files", ("big.png", b"\x00" * 250_000, "image/png"))])
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"
    r = client.post("/v1/check", files=[("files", ("huge.png", b"\x00" * 700_000, "image/png"))])
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    r = client.post("/v1/check", content=b"--x\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=x"})
    assert 400 <= r.status_code < 500


def test_decompression_bomb_declared_size(client):
    from test_images import _huge_png_header

    r = client.post("/v1/check", files=[("files", ("bomb.png", _huge_png_header(50_000, 50_000), "image/png"))])
    assert r.status_code == 422 and "pixel limit" in r.json()["error"]["message"]


def test_pixel_limit_is_configurable(tiny_detector_dir):
    app = create_app(load_detector(tiny_detector_dir), ServiceSettings(max_pixels=1000))
    with TestClient(app) as c:
        r = c.post("/v1/check", files=[("files", ("a.png", _png(size=(64, 64)), "image/png"))])
    assert r.status_code == 422 and "1000-pixel limit" in r.json()["error"]["message"]


def test_nothing_left_in_temp(client, synth_dir):
    before = set(os.listdir(tempfile.gettempdir()))
    for _ in range(3):
        client.post("/v1/check", files=[("files", ("a.png", next(synth_dir.glob("ai/*.png")).read_bytes(), "image/png"))])
    assert set(os.listdir(tempfile.gettempdir())) - before == set()


def test_busy_server_answers_503_with_retry_after(tiny_detector_dir):
    """One slot, no queue: while a request is inside the detector, the next one gets 503."""
    import threading

    det = load_detector(tiny_detector_dir)
    inside, release = threading.Event(), threading.Event()
    real = det.check_many

    def slow(items, **kw):
        inside.set()
        release.wait(10)
        return real(items, **kw)

    det.check_many = slow
    app = create_app(det, ServiceSettings(max_concurrency=1, max_queue=0, retry_after_s=3))
    with TestClient(app) as c:
        first = {}
        t = threading.Thread(target=lambda: first.update(r=c.post(
            "/v1/check", files=[("files", ("a.png", _png(), "image/png"))])))
        t.start()
        assert inside.wait(10)
        r = c.post("/v1/check", files=[("files", ("b.png", _png(), "image/png"))])
        release.set()
        t.join(10)
    assert r.status_code == 503 and r.headers["retry-after"] == "3" and r.json()["error"]["code"] == "busy"
    assert first["r"].status_code == 200


def test_page_is_served(client):
    r = client.get("/")
    assert r.status_code == 200 and "artcheck" in r.text and '"max_files": 4' in r.text


def test_api_docs_work_offline_and_describe_the_upload(client):
    html = client.get("/docs").text
    assert "cdn." not in html and "/static-offline-docs/swagger-ui-bundle.js" in html
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    assert "cdn." not in client.get("/redoc").text
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/check"]["post"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["files"]["items"]["format"] == "binary" and body["required"] == ["files"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("CheckResponse")
    assert post["responses"]["413"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")


def test_every_error_has_one_shape(client):
    r = client.get("/v1/check")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
