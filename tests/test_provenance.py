import io
import json

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from artcheck.images import load_image
from artcheck.provenance import collect_evidence, read_metadata_evidence
from artcheck.provenance.evidence import STRONG

A1111 = "a castle at dusk\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64"
XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
       'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/{term}"/>'
       '</rdf:RDF></x:xmpmeta>')


def _png(**text) -> bytes:
    info = PngInfo()
    for k, v in text.items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 20, 30)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _with_user_comment(fmt: str, comment: str) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + comment.encode("utf-16-be")
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, format=fmt, exif=exif.tobytes())
    return buf.getvalue()


def _strong(data: bytes) -> list:
    return [e for e in read_metadata_evidence(load_image(data)) if e.weight >= STRONG]


def test_a1111_png_parameters():
    ev = _strong(_png(parameters=A1111))
    assert len(ev) == 1 and "Automatic1111" in ev[0].detail


def test_comfyui_prompt_and_workflow():
    prompt = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}})
    assert "ComfyUI" in _strong(_png(prompt=prompt))[0].detail
    assert "ComfyUI" in _strong(_png(workflow=json.dumps({"nodes": [], "links": []})))[0].detail


def test_user_comment_in_jpeg_and_webp():
    for fmt in ("JPEG", "WEBP"):
        ev = _strong(_with_user_comment(fmt, A1111))
        assert ev and "parameters" in ev[0].detail, fmt


def test_novelai_invokeai_fooocus():
    assert "NovelAI" in _strong(_png(Software="NovelAI", Comment=json.dumps({"steps": 28, "sampler": "k_euler"})))[0].detail
    assert "InvokeAI" in _strong(_png(invokeai_metadata="{}"))[0].detail
    assert "Fooocus" in _strong(_png(fooocus_scheme="fooocus"))[0].detail


def test_xmp_digital_source_type():
    ev = _strong(_png(**{"XML:com.adobe.xmp": XMP.format(term="trainedAlgorithmicMedia")}))
    assert ev and "trainedAlgorithmicMedia" in ev[0].detail
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, format="JPEG",
                                    xmp=XMP.format(term="compositeWithTrainedAlgorithmicMedia").encode())
    assert "compositeWithTrainedAlgorithmicMedia" in _strong(buf.getvalue())[0].detail
    camera = read_metadata_evidence(load_image(_png(**{"XML:com.adobe.xmp": XMP.format(term="digitalCapture")})))
    assert camera and camera[0].weight == 0


def test_hostile_xml_is_not_evidence():
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            '<x>&lol2;</x>')
    ev = read_metadata_evidence(load_image(_png(**{"XML:com.adobe.xmp": bomb})))
    assert all(e.weight < STRONG for e in ev)


def test_plain_image_has_no_evidence():
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, format="JPEG")
    assert collect_evidence(load_image(buf.getvalue())) == []
    assert collect_evidence(load_image(_png(parameters="just a caption"))) == []


def test_c2pa_signed_ai_image_is_strong_evidence():
    from c2pa_fixture import signed_jpeg

    data = signed_jpeg(Image.new("RGB", (64, 64), (10, 120, 200)))
    ev = collect_evidence(load_image(data))
    assert len(ev) == 1 and ev[0].kind == "c2pa" and ev[0].weight >= STRONG
    assert "trainedAlgorithmicMedia" in ev[0].detail and "test-generator" in ev[0].detail


def test_c2pa_camera_capture_is_not_ai_evidence_and_tampering_is_caught():
    from c2pa_fixture import CAMERA, signed_jpeg

    ev = collect_evidence(load_image(signed_jpeg(Image.new("RGB", (64, 64), (200, 1, 1)), CAMERA)))
    assert ev and ev[0].weight == 0 and "digitalCapture" in ev[0].detail
    data = bytearray(signed_jpeg(Image.new("RGB", (64, 64), (10, 120, 200))))
    data[-200] ^= 0xFF   # flip bits in the image data after signing
    ev = collect_evidence(load_image(bytes(data)))
    assert ev and ev[0].weight < STRONG


def _textured(size=512):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize((size, size), Image.Resampling.BICUBIC)


def test_sd_watermark_is_weak_positive_evidence():
    from watermark_fixture import embed

    from artcheck.provenance.evidence import WEAK
    from artcheck.provenance.watermark import MATCH_BIT_ACCURACY, bit_accuracy

    img = _textured()
    marked = embed(img)
    assert bit_accuracy(marked) >= 0.95 and bit_accuracy(img) < 0.7
    buf = io.BytesIO()
    marked.save(buf, format="PNG")
    ev = [e for e in collect_evidence(load_image(buf.getvalue())) if e.kind == "watermark"]
    assert len(ev) == 1 and ev[0].weight == WEAK and "StableDiffusionV1" in ev[0].detail
    assert MATCH_BIT_ACCURACY > 0.8
    assert bit_accuracy(img.resize((128, 128))) is None   # too small to carry the mark


def test_watermark_alone_does_not_decide(tiny_detector_dir):
    from watermark_fixture import embed

    from artcheck.detect.detector import load_detector

    det = load_detector(tiny_detector_dir)
    v = det.check(embed(_textured()))
    assert any(e.kind == "watermark" for e in v.evidence)
    assert not v.reason.startswith("AI: the Stable")   # weak evidence is listed, the model decides


def test_every_generator_of_the_pool_has_one_family():
    import csv
    from importlib import resources
    from pathlib import Path

    from artcheck.families import FAMILIES, family_of, generator_table

    with (resources.files("artcheck") / "assets" / "generator_families.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    names = [r["generator"] for r in rows]
    assert len(names) == len(set(names)), "a generator string is mapped twice"
    assert set(generator_table().values()) <= set(FAMILIES)
    assert family_of("glid-3-xl") == "early-diffusion" and family_of("dalle2") == "dalle-2"
    assert family_of("Juggernaut SD Reborn (juggernaut_reborn.safetensors)") == "sd1-2"
    assert family_of("nano-banana-pro (gemini-3-pro-image)") == "gemini-imagen" and family_of("midjourney-v3") == "midjourney"
    assert family_of("vqgan+clip (nerdyrodent generate.py, VQGAN imagenet f16 + CLIP)") == "gan-clip"
    assert family_of("a generator nobody named") == "unknown"
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    pool = [shared / d / "manifest.csv" for d in ("wild-dev", "github-art", "github-art-2")]
    if not all(p.is_file() for p in pool):
        pytest.skip("the shared data sets are not on this machine")
    seen = {r["generator"] for p in pool for r in csv.DictReader(p.open()) if r["label"] == "ai"}
    assert seen <= set(names), f"generators of the pool without a family: {sorted(seen - set(names))[:10]}"
