"""Grad-CAM and occlusion find a planted artefact; explain and check --explain write pictures."""

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from artcheck.cli import main  # noqa: E402
from artcheck.lab.explain import gradcam, model_score, occlusion  # noqa: E402

SIZE, PATCH = 32, 8


def planted(seed: int, with_patch: bool):
    """Smooth random colours; AI images carry a high-contrast checkerboard patch at a random place."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(np.clip(rng.normal(128, 40, (4, 4, 3)), 0, 255).astype(np.uint8))
    img = np.asarray(base.resize((SIZE, SIZE), Image.Resampling.BICUBIC), np.float64) + rng.normal(0, 4, (SIZE, SIZE, 3))
    box = None
    if with_patch:
        x, y = (int(v) for v in rng.integers(0, SIZE - PATCH + 1, 2))
        img[y:y + PATCH, x:x + PATCH] += ((np.indices((PATCH, PATCH)).sum(0) % 2) * 120 - 60)[..., None]
        box = (x, y)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), box


@pytest.fixture(scope="module")
def patch_model():
    from artcheck.models import create_model

    torch.manual_seed(0)
    model = create_model("bird-lotfi")
    pairs = [planted(i, i % 2 == 1) for i in range(400)]
    x = torch.from_numpy(model.preprocess.normalize(np.stack([model.preprocess.to_uint8(p[0]) for p in pairs])))
    y = torch.tensor([i % 2 for i in range(400)])
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(8):
        perm = torch.randperm(len(y), generator=gen)
        for k in range(0, len(y), 32):
            idx = perm[k:k + 32]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def _near(point, box, margin):
    (yy, xx), (bx, by) = point, box
    return bx - margin <= xx < bx + PATCH + margin and by - margin <= yy < by + PATCH + margin


def test_gradcam_concentrates_on_the_planted_artefact(patch_model):
    hits, shares = 0, []
    for seed in range(1000, 1010):
        img, box = planted(seed, True)
        heat, p = gradcam(patch_model, img)
        assert heat.shape == (SIZE, SIZE) and 0 <= heat.min() and heat.max() == pytest.approx(1.0)
        assert p > 0.5
        hits += _near(np.unravel_index(heat.argmax(), heat.shape), box, 2)
        shares.append(heat[box[1]:box[1] + PATCH, box[0]:box[0] + PATCH].sum() / heat.sum())
    # the patch is 6% of the image; uniform heat would put 6% of the mass there
    assert hits >= 8 and np.mean(shares) > 0.25, (hits, shares)


def test_occlusion_finds_the_artefact_with_any_score_function(patch_model):
    hits = 0
    for seed in range(1000, 1006):
        img, box = planted(seed, True)
        heat, p = occlusion(model_score(patch_model), img, grid=4)
        hits += _near(np.unravel_index(heat.argmax(), heat.shape), box, 4)
    assert hits >= 5


def test_explain_cli_on_a_run_and_on_a_detector(synth_dir, tiny_detector_dir, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--data", str(synth_dir), "--model", "bird-lotfi", "--epochs", "2", "--out", str(run),
                 "-q"]) == 0
    image = next((synth_dir / "ai").glob("*.png"))
    for target, method in ((str(run), "auto"), (str(tiny_detector_dir), "auto"), (str(run), "occlusion")):
        out = tmp_path / f"heat-{method}-{len(list(tmp_path.glob('heat-*')))}.png"
        assert main(["explain", target, str(image), "--out", str(out), "--method", method, "--grid", "4"]) == 0
        pic = Image.open(out)
        assert min(pic.size) >= 256 and pic.mode == "RGB"
        top_band = np.asarray(pic)[:8, : pic.width // 2]
        assert top_band.mean() < 120            # the dark caption band is there
    assert main(["explain", str(tiny_detector_dir), str(image), "--method", "gradcam"]) == 2   # no conv model
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["explain", str(run), str(bad), "--out", str(tmp_path / "x.png")]) == 1


def test_check_explain_writes_one_picture_per_readable_image(synth_dir, tiny_detector_dir, tmp_path):
    images = sorted((synth_dir / "human").glob("*.png"))[:3]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n")
    heat_dir = tmp_path / "heat"
    code = main(["check", *map(str, images), str(bad), "--model", str(tiny_detector_dir), "--explain", str(heat_dir),
                 "-q", "--format", "json"])
    assert code == 1                            # the broken file is reported, the others explained
    written = sorted(p.name for p in heat_dir.glob("*.png"))
    assert written == [f"{k:05d}-{p.stem}.png" for k, p in enumerate(images)]


def test_heat_map_shows_the_whole_caption_and_a_colour_legend():
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from artcheck.lab.explain import _wrap, overlay

    img = Image.new("RGB", (200, 120), (90, 120, 150))
    heat = np.zeros((120, 200))
    heat[:, 150:] = 1
    caption = "uncertain · P(ai) = 0.52 · occlusion · artcheck-default 0.4.0 with a name longer than the picture"
    out = overlay(img, heat, caption)
    assert out.width == 256 and out.height > round(120 * 256 / 200)            # a legend band below the picture
    strip = np.asarray(out)[-20:]                                              # the legend: dark to bright
    assert strip[..., 0].max() > 200 and strip[..., 0].min() < 40
    font = ImageFont.load_default(size=10)
    lines = _wrap(ImageDraw.Draw(out), caption, font, 100)
    assert " ".join(lines) == caption and len(lines) > 2
