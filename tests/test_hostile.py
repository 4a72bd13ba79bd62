"""Hostile and careless input (issue 15): regex bombs in metadata, special files, huge images,
oversized PNG chunks, stalled uploads and checks that run past their deadline."""

from __future__ import annotations

import io
import os
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from artcheck.cli.output import expand_paths
from artcheck.images import ImageError, load_image
from artcheck.provenance.metadata import MAX_PARAMETERS_CHARS, looks_like_a1111, read_metadata_evidence


def _png(info: PngInfo | None = None, size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 60, 200)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _params_png(text: str) -> bytes:
    info = PngInfo()
    info.add_text("parameters", text)
    return _png(info)


def test_a1111_parameters_are_still_recognised():
    ev = read_metadata_evidence(load_image(_params_png("a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7")))
    assert ev and ev[0].weight == 1.0 and "Automatic1111" in ev[0].detail
    assert not read_metadata_evidence(load_image(_params_png("Sampler: Euler, Steps: 20")))   # wrong order
    assert not read_metadata_evidence(load_image(_params_png("Steps: many, Sampler: x")))


def test_regex_bomb_is_linear_and_oversized_parameters_are_not_scanned():
    # The old pattern took about 35 s on this megabyte and hours on 50 MB
    bomb = "Steps: 1 " + "Steps: 2, " * 100_000
    t0 = time.perf_counter()
    assert looks_like_a1111(bomb) is False and looks_like_a1111(bomb + "Sampler: x") is True
    assert time.perf_counter() - t0 < 5, "matching must be linear in the text"
    ev = read_metadata_evidence(load_image(_params_png(bomb + "Sampler: x")))
    assert len(ev) == 1 and ev[0].weight == 0 and "not scanned" in ev[0].detail
    assert len(bomb) > MAX_PARAMETERS_CHARS


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


@pytest.mark.parametrize("ctype", [b"zTXt", b"iTXt", b"iCCP"])
def test_image_with_an_oversized_metadata_chunk_is_read_with_a_note(ctype):
    png = _png()
    payload = zlib.compress(b"A" * 3_000_000)
    body = {b"zTXt": b"Comment\0\0", b"iTXt": b"Comment\0\1\0\0\0", b"iCCP": b"icc\0\0"}[ctype] + payload
    data = png[:33] + _chunk(ctype, body) + png[33:]          # after IHDR
    loaded = load_image(data)
    assert loaded.image.size == (64, 64) and loaded.image.getpixel((3, 3)) == (120, 60, 200)
    ev = read_metadata_evidence(loaded)
    assert any(ctype.decode() in e.detail and "skipped" in e.detail for e in ev)
    with pytest.raises(ImageError, match="damaged or truncated"):     # a truly broken PNG is still refused
        load_image(png[:33] + _chunk(ctype, body)[:-40])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_each_get_their_own_error_and_nothing_blocks(tmp_path):
    (tmp_path / "ok.png").write_bytes(_png())
    os.mkfifo(tmp_path / "x.png")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "linked-dir").symlink_to(tmp_path / "dir.png")
    (tmp_path / "manifest.csv").write_text("path,label\n")      # a dataset's own file: not an image
    files, missing = expand_paths([str(tmp_path)])
    names = sorted(Path(f).name for f in files)
    assert names == ["dangling.png", "dir.png", "linked-dir", "loop.png", "ok.png", "x.png"] and not missing
    assert expand_paths([str(tmp_path / "dir.png")])[0] == [str(tmp_path / "dir.png")]   # named: its own row
    errors = {}

    def read_all():
        for f in files:
            try:
                load_image(f)
            except ImageError as e:
                errors[Path(f).name] = e.reason

    t = threading.Thread(target=read_all, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "reading a FIFO must never block"
    assert "FIFO" in errors["x.png"] and "dangling" in errors["dangling.png"] and "loop" in errors["loop.png"]
    assert "directory" in errors["dir.png"] and "directory" in errors["linked-dir"] and "ok.png" not in errors


def test_watermark_reader_in_strips_equals_the_whole_image():
    from artcheck.provenance import watermark as wm

    def whole(img, n_bits):   # the reference: everything at once
        rgb = np.asarray(img.convert("RGB"))
        h, w = (rgb.shape[0] // 4) * 4, (rgb.shape[1] // 4) * 4
        ll = wm._haar_ll(wm._u_channel(rgb[:h, :w]))
        rows, cols = ll.shape[0] // 4, ll.shape[1] // 4
        flat = ll[:rows * 4, :cols * 4].reshape(rows, 4, cols, 4).transpose(0, 2, 1, 3).reshape(rows * cols, 16)[:, 1:]
        peak = np.abs(flat[np.arange(len(flat)), np.argmax(np.abs(flat), axis=1)])
        bits = ((peak % wm.SCALE) > 0.5 * wm.SCALE).astype(float)
        pos = np.arange(len(bits)) % n_bits
        return np.bincount(pos, weights=bits, minlength=n_bits) / np.maximum(np.bincount(pos, minlength=n_bits), 1)

    rng = np.random.default_rng(0)
    img = wm.embed(Image.fromarray(rng.integers(0, 255, (700, 523, 3), dtype=np.uint8)))   # > one strip
    assert np.array_equal(wm.decode_scores(img, 136, max_blocks=None), whole(img, 136))
    assert wm.bit_accuracy(img) > 0.95
    # the bounded read (the default) is the whole-image read of its top block rows
    top = img.crop((0, 0, img.width, -(-wm.MAX_BLOCKS // (img.width // 8)) * 8))
    assert top.height < img.height and np.array_equal(wm.decode_scores(img, 136), whole(top, 136))


def test_watermark_read_is_bounded_and_still_finds_the_mark_on_a_large_image():
    from artcheck.provenance import watermark as wm

    rng = np.random.default_rng(1)
    base = Image.fromarray(rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)).resize((2000, 1500))
    marked = wm.embed(base)
    assert wm.bit_accuracy(marked) > 0.95 and wm.bit_accuracy(base) < wm.MATCH_BIT_ACCURACY
    seen = []
    real_crop = Image.Image.crop
    Image.Image.crop = lambda self, box=None: seen.append(box) or real_crop(self, box)
    try:
        wm.decode_scores(marked, 136)
    finally:
        Image.Image.crop = real_crop
    assert max(b[3] for b in seen) <= -(-wm.MAX_BLOCKS // (2000 // 8)) * 8 < 1500   # top rows only


# -- the server -------------------------------------------------------------------------------

@pytest.fixture()
def live_server(tiny_detector_dir):
    """A real uvicorn on loopback, checking in two worker processes with a 3 s deadline."""
    import functools

    from artcheck.service.app import create_app
    from artcheck.service.settings import ServiceSettings
    from conftest import serve_on_loopback
    from tiny_backbone import load_tiny_detector

    settings = ServiceSettings(max_concurrency=2, max_queue=4, request_timeout_s=3, body_timeout_s=2)
    app = create_app(settings=settings, factory=functools.partial(load_tiny_detector, str(tiny_detector_dir), 60.0))
    for port in serve_on_loopback(app):
        yield f"http://127.0.0.1:{port}", port


def test_a_check_past_its_deadline_gets_504_and_others_are_served(live_server):
    import httpx

    from tiny_backbone import SLOW_MARKER

    url, _ = live_server
    slow = _png() + SLOW_MARKER          # trailing bytes after IEND: still a valid PNG
    results = {}

    def post_slow():
        results["slow"] = httpx.post(url + "/v1/check", files=[("files", ("slow.png", slow, "image/png"))], timeout=60)

    t = threading.Thread(target=post_slow)
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    ok = httpx.post(url + "/v1/check", files=[("files", ("ok.png", _png(), "image/png"))], timeout=60)
    assert ok.status_code == 200 and ok.json()["results"][0]["verdict"] in ("ai", "human", "uncertain")
    assert time.monotonic() - t0 < 3, "a normal request must not wait behind a stuck one"
    t.join(60)
    r = results["slow"]
    assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
    # the stuck worker was killed and replaced: the service keeps answering
    for _ in range(3):
        assert httpx.post(url + "/v1/check", files=[("files", ("ok.png", _png(), "image/png"))],
                          timeout=60).status_code == 200
    assert httpx.get(url + "/healthz").json()["workers_recycled"] == 1


def test_a_stalled_upload_is_cut_off(live_server):
    _, port = live_server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: 100000\r\n\r\n--b\r\n")
        t0 = time.monotonic()
        s.settimeout(10)
        answer = b""
        while True:
            try:
                part = s.recv(4096)
            except socket.timeout:
                break
            if not part:
                break
            answer += part
        assert time.monotonic() - t0 < 8
    assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer


def test_pixel_budget_runs_huge_images_one_at_a_time_and_small_ones_together():
    from artcheck.images import PixelBudget

    budget = PixelBudget(100)
    inside, peak, lock = [0], [0], threading.Lock()

    def work(n):
        budget.reserve(n)
        budget.reserve(n)           # a retry in the same thread does not reserve twice (no deadlock)
        with lock:
            inside[0] += n
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.05)
        with lock:
            inside[0] -= n
        budget.release()

    threads = [threading.Thread(target=work, args=(80,)) for _ in range(4)]
    threads += [threading.Thread(target=work, args=(150,))]          # bigger than the budget: runs alone
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads) and peak[0] <= 150 and budget.used == 0
    small = [threading.Thread(target=work, args=(20,)) for _ in range(5)]
    for t in small:
        t.start()
    for t in small:
        t.join(10)
    assert peak[0] <= 150
