"""Hostile input, round two (issue 25): thin images, formats that start other programs, files that
fail while being read, markup and formula injection, container bombs, metadata that breaks parsers."""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from artcheck.cli import main
from artcheck.images import IMAGE_EXTENSIONS, ImageError, load_image


def _png(size=(64, 64), info: PngInfo | None = None) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 60, 200)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _check(capsys, *args) -> tuple[int, str, str]:
    code = main(["check", *map(str, args)])
    got = capsys.readouterr()
    return code, got.out, got.err


def _rows(out: str) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}


def test_thin_images_are_refused_with_a_row_and_the_resize_never_upscales_the_whole_image(tmp_path, capsys,
                                                                                         tiny_detector_dir):
    from artcheck.detect.backbones import get_spec

    Image.new("RGB", (20000, 1)).save(tmp_path / "w.png")           # 143 bytes; 4.5 GB in 0.3.0's resize
    (tmp_path / "ok.png").write_bytes(_png())
    code, out, _ = _check(capsys, tmp_path, "--model", tiny_detector_dir, "--format", "jsonl", "-q")
    rows = _rows(out)
    assert code == 1 and rows["ok.png"]["error"] is None
    assert "aspect ratio over 50:1" in rows["w.png"]["error"] and "20000x1" in rows["w.png"]["error"]
    # within the limit: the crop is taken first, so the resize output is the input size and no larger
    pre = get_spec("clip-vit-b16").preprocess
    t0 = time.perf_counter()
    assert pre.to_uint8(Image.new("RGB", (12000, 240))).shape == (224, 224, 3)
    assert time.perf_counter() - t0 < 2


def test_formats_that_start_other_programs_are_never_opened(tmp_path, monkeypatch):
    """An EPS named .png made Pillow start Ghostscript. A stand-in `gs` on PATH records any run."""
    marker = tmp_path / "gs-ran"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gs").write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    (bin_dir / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    (tmp_path / "eps.png").write_bytes(eps)
    with pytest.raises(ImageError, match="not an image artcheck reads"):
        load_image(tmp_path / "eps.png")
    with pytest.raises(ImageError, match="not an image artcheck reads"):
        load_image(eps, name="upload.png")
    assert not marker.exists(), "Ghostscript (or its stand-in) must never run on untrusted bytes"
    assert ".heic" not in IMAGE_EXTENSIONS          # listed before, though nothing decoded it


def test_a_file_that_fails_while_being_read_gets_a_row_and_the_scan_goes_on(tmp_path, capsys, tiny_detector_dir,
                                                                            monkeypatch):
    if Path("/proc/self/mem").exists():
        (tmp_path / "mem.png").symlink_to("/proc/self/mem")          # EIO on read
    (tmp_path / "ok.png").write_bytes(_png())
    (tmp_path / "odd.png").write_bytes(_png(size=(32, 32)))
    import artcheck.detect.detector as detector_module

    real = detector_module.collect_evidence

    def flaky(loaded):                       # an unexpected bug in a reader, for one file
        if loaded.width == 32:
            raise RuntimeError("boom")
        return real(loaded)

    monkeypatch.setattr(detector_module, "collect_evidence", flaky)
    code, out, _ = _check(capsys, tmp_path, "--model", tiny_detector_dir, "--format", "jsonl", "-q")
    rows = _rows(out)
    assert code == 1 and rows["ok.png"]["verdict"] in ("ai", "human", "uncertain")
    assert "RuntimeError: boom" in rows["odd.png"]["error"]
    if "mem.png" in rows:
        assert rows["mem.png"]["error"] and "reading the file failed" in rows["mem.png"]["error"]


def test_names_and_metadata_are_printed_as_text_and_csv_cells_cannot_run(tmp_path, capsys, tiny_detector_dir,
                                                                        monkeypatch):
    info = PngInfo()
    info.add_text("Software", "[/]Midjourney")
    (tmp_path / "[bold red]x.png").write_bytes(_png(info=info))
    (tmp_path / "markup.png").write_bytes(b"[/] not an image")
    (tmp_path / "\x1b[31mred.png").write_bytes(_png())
    (tmp_path / "=HYPERLINK(1).png").write_bytes(_png())
    code, out, _ = _check(capsys, tmp_path, "--model", tiny_detector_dir, "-q")
    assert code == 1
    flat = " ".join(out.split())
    assert "[bold red]x.png" in out.replace("\n", "") or "[bold red]x.png" in flat
    assert "\x1b" not in out and "\\x1b[31mred.png" in out.replace("\n", "").replace("│", "").replace(" ", "")
    monkeypatch.chdir(tmp_path)
    code, out, _ = _check(capsys, "=HYPERLINK(1).png", "--model", tiny_detector_dir, "--format", "csv", "-q")
    assert [r["path"] for r in csv.DictReader(io.StringIO(out))] == ["'=HYPERLINK(1).png"]


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def test_container_bombs_are_refused_from_their_headers(tmp_path):
    png = _png()
    many_chunks = png[:33] + _chunk(b"tEXt", b"") * 200_000 + png[33:]       # 2.4 MB of empty chunks
    jpeg = io.BytesIO()
    Image.new("RGB", (16, 16)).save(jpeg, "JPEG")
    jpeg = jpeg.getvalue()
    many_segments = jpeg[:2] + b"\xff\xe5\x00\x02" * 50_000 + jpeg[2:]         # empty APP5 segments
    # a TIFF whose StripOffsets claims 30 million strips (the file holds none of them)
    ifd = struct.pack("<H", 4) + b"".join(struct.pack("<HHII", tag, typ, count, value) for tag, typ, count, value in
                                          ((256, 4, 1, 64), (257, 4, 1, 64), (273, 4, 30_000_000, 8),
                                           (279, 4, 30_000_000, 8))) + struct.pack("<I", 0)
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd
    for data, fragment in ((many_chunks, "chunks"), (many_segments, "marker segments"), (tiff, "30,000,000 strips")):
        t0 = time.perf_counter()
        with pytest.raises(ImageError, match=fragment):
            load_image(data, name="bomb")
        assert time.perf_counter() - t0 < 3
    # ordinary files of each kind still load
    tif = io.BytesIO()
    Image.new("RGB", (64, 64)).save(tif, "TIFF")
    for ok in (png, jpeg, tif.getvalue(), png[:33] + _chunk(b"tEXt", b"a\0b") * 50 + png[33:]):
        assert load_image(ok).image.size in ((64, 64), (16, 16))


def test_one_field_that_breaks_a_parser_keeps_the_other_findings():
    from artcheck.provenance.metadata import read_metadata_evidence

    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
           'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
           '</rdf:RDF></x:xmpmeta>')
    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7")
    info.add_itxt("XML:com.adobe.xmp", xmp)
    info.add_text("Comment", "[" * 100_000)                 # RecursionError in json.loads
    info.add_text("prompt", "{" * 100_000)
    ev = read_metadata_evidence(load_image(_png(info=info)))
    strong = [e for e in ev if e.weight >= 1.0]
    assert {e.kind for e in strong} == {"metadata", "xmp"}, ev
    assert any("Automatic1111" in e.detail for e in strong)


def test_paths_the_system_refuses_and_stray_files_in_folders(tmp_path, capsys, tiny_detector_dir):
    assert main(["check", ""]) == 2
    assert "empty path" in capsys.readouterr().err
    assert main(["check", "x" * 300 + ".png"]) == 2
    assert "not a usable path" in capsys.readouterr().err
    assert main(["check", "/".join(["y" * 200] * 21)]) == 2
    capsys.readouterr()
    (tmp_path / "ok.png").write_bytes(_png())
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "notes.md").write_text("# notes")
    (tmp_path / "README.md").write_text("# readme")
    (tmp_path / ".hidden.png").write_bytes(_png())
    code, out, err = _check(capsys, tmp_path, "--model", tiny_detector_dir, "--format", "jsonl")
    assert code == 0 and list(_rows(out)) == ["ok.png"]
    assert ("4 files in folders skipped: not images (.md 1, .txt 1); hidden 1; a dataset's own files "
            "(manifest.csv, README) 1") in " ".join(err.split())
    (tmp_path / "notes.txt").rename(tmp_path / "named.txt")
    code, out, _ = _check(capsys, tmp_path / "named.txt", "--model", tiny_detector_dir, "--format", "jsonl", "-q")
    assert code == 1 and _rows(out)["named.txt"]["error"]          # named on the command line: its own row


# -- the server: held connections and the memory held by uploads -------------------------------

@pytest.fixture()
def guarded_server(tiny_detector_dir, monkeypatch):
    """A real uvicorn on loopback with short header deadlines, a small connection cap and a
    3 MB budget for bodies in flight (the detector runs in threads: no worker processes)."""
    from artcheck.detect.detector import load_detector
    from artcheck.service import server
    from artcheck.service.app import create_app
    from artcheck.service.settings import ServiceSettings
    from conftest import serve_on_loopback

    monkeypatch.setattr(server.GuardedH11Protocol, "header_timeout", 1.0)
    monkeypatch.setattr(server.GuardedH11Protocol, "max_connections", 8)
    settings = ServiceSettings(max_request_bytes=2_000_000, max_bytes_in_flight=3_000_000, body_timeout_s=5)
    app = create_app(load_detector(tiny_detector_dir), settings=settings)
    for port in serve_on_loopback(app):
        yield port


def _closed_within(sock, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except OSError:
        return False


def test_idle_and_slow_header_connections_are_closed_and_connections_capped(guarded_server):
    import socket

    port = guarded_server
    idle = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    assert _closed_within(idle, 5) and time.monotonic() - t0 < 4, "a connection that sends nothing is closed"
    slow = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    closed = False
    for ch in b"GET /healthz HTTP/1.1\r\nHost: x\r\n":       # one byte every 0.2 s: headers never complete in time
        try:
            slow.sendall(bytes([ch]))
        except OSError:
            closed = True
            break
        time.sleep(0.2)
    assert closed or _closed_within(slow, 3)
    assert time.monotonic() - t0 < 8
    import select

    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    t0 = time.monotonic()
    closed: set = set()
    while time.monotonic() - t0 < 0.5:                  # well before the 1 s header deadline
        readable, _, _ = select.select([s for s in held if s not in closed], [], [], 0.05)
        for s in readable:
            if not s.recv(4096):
                closed.add(s)
    assert len(closed) >= 10, f"only {len(closed)} of 20 connections past a cap of 8 were refused at once"
    for s in held:
        s.close()
    import httpx

    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200   # still serving


def test_bodies_past_the_memory_budget_are_refused_before_they_are_read(guarded_server):
    import socket

    import httpx

    port = guarded_server
    # a 1.9 MB upload that arrives slowly holds 1.9 MB of the 3 MB budget ...
    first = socket.create_connection(("127.0.0.1", port))
    first.sendall(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: 1900000\r\n\r\n--b\r\n")
    time.sleep(0.3)
    # ... so a second one of the same size is refused at once, before its body is read
    t0 = time.monotonic()
    r = httpx.post(f"http://127.0.0.1:{port}/v1/check", timeout=10,
                   files=[("files", ("big.png", b"\0" * 1_800_000, "image/png"))])
    assert r.status_code == 503 and r.json()["error"]["code"] == "busy" and "Retry-After" in r.headers
    assert time.monotonic() - t0 < 3
    first.close()
    time.sleep(0.3)
    ok = httpx.post(f"http://127.0.0.1:{port}/v1/check", timeout=30, files=[("files", ("ok.png", _png(), "image/png"))])
    assert ok.status_code == 200, ok.text          # the budget was given back


def test_a_failure_inside_the_server_answers_in_the_json_error_shape():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from artcheck.service.app import create_app

    class Broken:
        model_info, lo, hi, config = {"name": "broken", "version": "0"}, 0.5, 0.5, {}

        def check_many(self, items, **kw):
            raise RuntimeError("worker fell over")

    with TestClient(create_app(Broken()), raise_server_exceptions=False) as c:
        r = c.post("/v1/check", files=[("files", ("a.png", _png(), "image/png"))])
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"


def test_the_cli_gives_each_file_a_deadline_and_the_scan_goes_on(tmp_path, tiny_detector_dir):
    """--file-timeout: files are checked in worker processes; one past its time gets an error row,
    its worker is replaced, and the files after it are checked."""
    import functools

    from artcheck.cli.check import _check_isolated
    from tiny_backbone import SLOW_MARKER, load_tiny_detector

    files = []
    for name, extra in (("a.png", b""), ("slow.png", SLOW_MARKER), ("b.png", b""), ("c.png", b"")):
        (tmp_path / name).write_bytes(_png() + extra)       # trailing bytes after IEND: still a valid PNG
        files.append(str(tmp_path / name))
    t0 = time.monotonic()
    rows = list(_check_isolated(files, str(tiny_detector_dir), None, True, 2, 3.0,
                                factory=functools.partial(load_tiny_detector, str(tiny_detector_dir), 60.0)))
    assert [Path(v.path).name for v in rows] == ["a.png", "slow.png", "b.png", "c.png"]
    assert "longer than --file-timeout 3 s" in rows[1].error
    assert all(v.verdict in ("ai", "human", "uncertain") for v in (rows[0], rows[2], rows[3]))
    assert time.monotonic() - t0 < 45
