"""Generator families: which model family made an AI image, as data, not substring rules.

``assets/generator_families.csv`` maps every generator string of the training pool (the
manifests' ``generator`` column) to one family, each reviewed by hand (the ``how`` column says
whether by a named exception or by its name); a test checks that every generator string of the
pool is mapped, once. Used for leave-one-family-out in the build; the attribution head of the
attribution issue will answer in these families.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

FAMILIES = {
    "sd1-2": "Stable Diffusion 1.x and 2.x, and their fine-tunes and LoRAs",
    "sdxl": "SDXL and models built on it (Pony, Illustrious, NoobAI, Juggernaut XL, Playground v2, SSD-1B ...)",
    "sd3": "Stable Diffusion 3 and 3.5",
    "flux": "FLUX.1 and FLUX.2 (Black Forest Labs) and models built on them (Chroma, Shuttle ...)",
    "dalle-2": "OpenAI DALL-E 2 (2022)",
    "dalle-3": "OpenAI DALL-E 3 and GPT image models",
    "midjourney": "Midjourney",
    "gemini-imagen": "Google Imagen, Gemini image models and Nano Banana",
    "novelai-anime": "NovelAI and the SD-based anime checkpoints (Anything, AbyssOrangeMix, WD, MeinaMix ...)",
    "early-diffusion": "2021-2022 diffusion before Stable Diffusion: CompVis latent diffusion, GLID-3, Disco and "
                       "Majesty Diffusion",
    "gan-clip": "GANs and CLIP-guided generators: VQGAN+CLIP, Big Sleep, Deep Daze, StyleGAN, dalle-mini",
    "open-dit": "other open models: Qwen-Image, HiDream, Hunyuan, Kolors, Kandinsky, PixArt, Sana, Lumina, CogView, "
                "Z-Image, OmniGen, Stable Cascade ...",
    "api-other": "other closed API models (Ideogram, Recraft, Seedream ...)",
    "unknown": "the generator is not named",
}
TABLE = "generator_families.csv"


@lru_cache(maxsize=1)
def generator_table() -> dict[str, str]:
    """generator string -> family, from the packaged table."""
    with (resources.files("artcheck") / "assets" / TABLE).open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    table = {}
    for r in rows:
        if r["family"] not in FAMILIES:
            raise ValueError(f"{TABLE}: generator {r['generator']!r} has family {r['family']!r}; expected one of "
                             f"{', '.join(FAMILIES)}")
        table[r["generator"]] = r["family"]
    return table


def family_of(generator: str | None) -> str:
    """The family of a generator string of the pool; ``unknown`` for one the table does not hold."""
    return generator_table().get(generator or "", "unknown")
