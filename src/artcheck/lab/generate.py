"""Make your own training data: ``generate`` (diffusers), ``caption`` (transformers) and ``pair`` (both).

The ``[generate]`` extra. Every command writes a labelled dataset (or a captions CSV) that
``--data`` reads, appends as it goes and skips finished work when run again.

- :func:`generate`: text-to-image with any pipeline ``AutoPipelineForText2Image`` loads (SD 1.x/2.x,
  SDXL, SD3, FLUX). Each PNG carries its generation parameters as Automatic1111-style
  ``parameters`` text, so artcheck's own provenance reader recognises it; ``manifest.csv`` has
  label ``ai``, the generator (model and revision), prompt, seed, steps, guidance and size.
- :func:`titles_from`: prompts from a human dataset's titles (file names), as ArtBecomeHuman
  prompted Stable Diffusion with the titles of human paintings.
- :func:`caption`: image-to-text with a captioning or vision-language model (BLIP, Florence-2,
  moondream, SmolVLM: whatever ``AutoModelForImageTextToText`` loads).
- :func:`pair`: caption each human image, generate its AI twin at the same aspect ratio (or
  regenerate from the image itself with ``img2img``, SDEdit-style), and write both into one
  manifest where each pair shares a ``group``, so a pair never straddles a split.

Models resolve as a local folder, or the Hugging Face cache, or the hub when online. Offline
with nothing cached, :func:`resolve_model` fails at once, naming the model and how to provide it.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from artcheck import __version__
from artcheck.images import ImageError, load_image

INSTALL = "pip install 'artcheck[generate]'"
MANIFEST_FIELDS = ("path", "label", "source", "generator", "style", "group", "prompt", "seed", "steps", "guidance",
                   "width", "height")
CAPTION_FIELDS = ("path", "caption", "model")
TITLE_TEMPLATE = "a painting titled {title}, in the style of {style}"
DEFAULT_STYLE = "fine art"
CAPTION_PROMPT = "Describe this image in one sentence."


class ModelNotAvailable(FileNotFoundError):
    """A model id that is neither a local folder nor in the Hugging Face cache, with no hub to fetch it from."""


def _require(*modules: str) -> None:
    import importlib

    for m in modules:
        try:
            importlib.import_module(m)
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(f"this command needs {e.name!r}: {INSTALL}") from e


def resolve_model(ref: str, kind: str) -> tuple[str, str]:
    """``ref`` (a folder or a hub id) -> (local folder, 'id@revision' for the manifest)."""
    p = Path(ref).expanduser()
    if p.is_dir():
        return str(p), f"{p.name} (local folder {p.resolve()})"
    if p.exists() or ref.startswith((".", "/", "~")):
        raise ModelNotAvailable(f"{ref}: not a {kind} folder; pass a folder written by save_pretrained() or a "
                                "Hugging Face model id")
    help_ = (f"artcheck needs the {kind} {ref!r} and cannot find it: it is not a local folder and not in the Hugging "
             f"Face cache, and the hub cannot be reached. Provide it one of these ways: on a machine with internet, "
             f"`huggingface-cli download {ref}` (then copy ~/.cache/huggingface here), or save it with "
             f"`.save_pretrained(DIR)` and pass --model DIR")
    try:
        from huggingface_hub import snapshot_download
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(f"resolving a model id needs huggingface_hub: {INSTALL}") from e
    try:
        local = snapshot_download(ref, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached (the hub library's own error types vary across versions)
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise ModelNotAvailable(help_ + " (HF_HUB_OFFLINE is set)") from None
        try:
            local = snapshot_download(ref, etag_timeout=10)
        except Exception as e:  # noqa: BLE001 - offline, unknown id, gated model: one clear message
            raise ModelNotAvailable(f"{help_} ({type(e).__name__}: {str(e)[:200]})") from None
    revision = Path(local).name          # the hub cache keeps each snapshot under its commit hash
    return local, f"{ref}@{revision}"


def _device(device: str):
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is visible to torch here; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda; got {device!r}")
    return device


def _quiet_libraries() -> None:
    try:
        from diffusers.utils import logging as dlog

        dlog.set_verbosity_error()
        dlog.disable_progress_bar()
    except ModuleNotFoundError:
        pass
    try:
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
    except ModuleNotFoundError:
        pass


# -- manifests that grow as work is done -----------------------------------------------------
class _Appender:
    """Rows appended to a CSV and flushed one by one; rows already there are read back on start."""

    def __init__(self, path: Path, fields: Sequence[str]):
        self.path, self.fields = path, tuple(fields)
        self.rows: list[dict[str, str]] = []
        if path.is_file() and path.stat().st_size:
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                if tuple(reader.fieldnames or ()) != self.fields:
                    raise ValueError(f"{path}: expected the columns {', '.join(self.fields)}; got "
                                     f"{', '.join(reader.fieldnames or ())}. Write to another --out")
                self.rows = list(reader)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields).writeheader()

    def add(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields).writerow({k: row.get(k, "") for k in self.fields})
            f.flush()
            os.fsync(f.fileno())
        self.rows.append({k: str(row.get(k, "")) for k in self.fields})


def a1111_parameters(prompt: str, steps: int, guidance: float, seed: int, width: int, height: int, sampler: str,
                     model: str) -> str:
    """The generation parameters as Automatic1111 writes them (what artcheck's provenance reader matches)."""
    return (f"{prompt}\nNegative prompt: \nSteps: {steps}, Sampler: {sampler}, CFG scale: {guidance}, Seed: {seed}, "
            f"Size: {width}x{height}, Model: {model}, Generator: artcheck {__version__} (diffusers)")


def _save_png(img, path: Path, parameters: str) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", parameters)
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="PNG", pnginfo=info)
    os.replace(tmp, path)


# -- generate ---------------------------------------------------------------------------------
class Generator:
    """A loaded text-to-image pipeline (and its image-to-image twin, made on demand)."""

    def __init__(self, model: str, device: str = "auto"):
        _require("torch", "diffusers", "transformers")
        import torch
        from diffusers import AutoPipelineForText2Image

        _quiet_libraries()
        self.path, self.name = resolve_model(model, "text-to-image model")
        self.device = _device(device)
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.pipe = AutoPipelineForText2Image.from_pretrained(self.path, dtype=dtype).to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.sampler = type(self.pipe.scheduler).__name__
        self.multiple = int(getattr(self.pipe, "vae_scale_factor", 8))    # image sides must be multiples of it
        self._img2img = None

    def size_for(self, width: int, height: int, max_side: int) -> tuple[int, int]:
        """The same size and aspect ratio, the long side at most ``max_side``, both sides multiples of the
        VAE's factor."""
        scale = min(1.0, max_side / max(width, height))
        m = self.multiple
        return max(m, round(width * scale / m) * m), max(m, round(height * scale / m) * m)

    def __call__(self, prompts: list[str], seeds: list[int], steps: int, guidance: float, width: int, height: int,
                 init_images: list | None = None, strength: float = 0.6) -> list:
        import torch

        gens = [torch.Generator(self.device).manual_seed(int(s)) for s in seeds]
        if init_images is not None:
            if self._img2img is None:
                from diffusers import AutoPipelineForImage2Image

                self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
                self._img2img.set_progress_bar_config(disable=True)
            images = [im.resize((width, height)) for im in init_images]
            return self._img2img(prompt=prompts, image=images, strength=strength, num_inference_steps=steps,
                                 guidance_scale=guidance, generator=gens).images
        return self.pipe(prompt=prompts, num_inference_steps=steps, guidance_scale=guidance, width=width,
                         height=height, generator=gens).images


def _parse_size(size: str | int) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", str(size))
    if not m:
        raise ValueError(f"--size must be N or WxH (e.g. 512 or 768x512); got {size!r}")
    w = int(m.group(1))
    return w, int(m.group(2) or w)


def _chunks(items: list, n: int) -> Iterable[list]:
    for i in range(0, len(items), max(1, n)):
        yield items[i:i + max(1, n)]


def generate(model: str, prompts: Sequence[str], out_dir: str | Path, n_per_prompt: int = 1, steps: int = 25,
             guidance: float = 7.0, size: str | int = 512, seed: int = 0, batch_size: int = 1, device: str = "auto",
             style: str = "", on_image: Callable[[], None] | None = None) -> tuple[Path, int, int]:
    """Images for ``prompts`` into ``out_dir`` (PNG + ``manifest.csv``). Returns (manifest, made, skipped)."""
    if not prompts:
        raise ValueError("no prompts: --prompts FILE needs one prompt per line (or use --titles-from DATA)")
    out = Path(out_dir)
    width, height = _parse_size(size)
    resolve_model(model, "text-to-image model")          # fail at once, before any work, if it is not there
    jobs = [(k, p, seed + k) for k, p in enumerate(p for p in prompts for _ in range(max(1, n_per_prompt)))]
    sheet = _Appender(out / "manifest.csv", MANIFEST_FIELDS)
    done = {r["path"] for r in sheet.rows if (out / r["path"]).is_file()}
    todo = [j for j in jobs if f"images/gen-{j[0]:06d}.png" not in done]
    if not todo:
        return sheet.path, 0, len(jobs)
    gen = Generator(model, device)
    (out / "images").mkdir(parents=True, exist_ok=True)
    for batch in _chunks(todo, batch_size):
        images = gen([p for _, p, _ in batch], [s for *_, s in batch], steps, guidance, width, height)
        for (k, prompt, s), img in zip(batch, images):
            rel = f"images/gen-{k:06d}.png"
            _save_png(img, out / rel, a1111_parameters(prompt, steps, guidance, s, img.width, img.height,
                                                       gen.sampler, gen.name))
            sheet.add({"path": rel, "label": "ai", "source": f"generate:{Path(gen.name.split('@')[0]).name}",
                       "generator": gen.name, "style": style, "prompt": prompt, "seed": s, "steps": steps,
                       "guidance": guidance, "width": img.width, "height": img.height})
            if on_image:
                on_image()
    return sheet.path, len(todo), len(jobs) - len(todo)


def titles_from(data: str | Path, template: str = TITLE_TEMPLATE) -> list[str]:
    """One prompt per human image of a dataset, from its title (the file name) and style."""
    from artcheck.data import read_dataset

    prompts = []
    for r in read_dataset(data):
        if r.label != "human":
            continue
        words = [w for w in re.split(r"[\s_\-.]+", Path(r.path).stem) if w and not w.isdigit()]
        title = " ".join(words) or "untitled"
        prompts.append(template.format(title=title, style=(r.style or DEFAULT_STYLE).replace("_", " ")))
    if not prompts:
        raise ValueError(f"{data}: no human images to take titles from")
    return prompts


def _image_paths(data: str | Path) -> list[str]:
    """The images of a labelled dataset, or else every image-named file under a folder (sorted)."""
    from artcheck.data import read_dataset
    from artcheck.images import is_image_path

    try:
        return [r.path for r in read_dataset(data)]
    except (ValueError, FileNotFoundError):
        root = Path(data)
        if not root.is_dir():
            raise
        return sorted(str(p.resolve()) for p in root.rglob("*") if p.is_file() and is_image_path(p))


# -- caption ----------------------------------------------------------------------------------
class Captioner:
    """An image-to-text model: a chat VLM (its processor has a chat template) or a captioner (BLIP)."""

    def __init__(self, model: str, device: str = "auto", prompt: str | None = None, max_new_tokens: int = 40):
        _require("torch", "transformers")
        from transformers import AutoModelForImageTextToText, AutoProcessor

        _quiet_libraries()
        self.path, self.name = resolve_model(model, "captioning model")
        self.device = _device(device)
        self.processor = AutoProcessor.from_pretrained(self.path)
        self.model = AutoModelForImageTextToText.from_pretrained(self.path).to(self.device).eval()
        self.prompt, self.max_new_tokens = prompt, max_new_tokens
        self.chat = bool(getattr(self.processor, "chat_template", None))

    def __call__(self, image) -> str:
        import torch

        if self.chat:
            messages = [{"role": "user", "content": [{"type": "image"},
                                                      {"type": "text", "text": self.prompt or CAPTION_PROMPT}]}]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
            inputs = self.processor(images=[image], text=text, return_tensors="pt")
        elif self.prompt:
            inputs = self.processor(images=image, text=self.prompt, return_tensors="pt")
        else:
            inputs = self.processor(images=image, return_tensors="pt")
        inputs = inputs.to(self.device)
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        if self.chat:                       # a decoder-only VLM returns the prompt too
            out = out[:, inputs["input_ids"].shape[1]:]
        text = self.processor.batch_decode(out, skip_special_tokens=True)[0].strip()
        if self.prompt and not self.chat and text.lower().startswith(self.prompt.lower()):
            text = text[len(self.prompt):].strip()
        return " ".join(text.split())


def caption(data: str | Path, model: str, out_csv: str | Path, prompt: str | None = None, device: str = "auto",
            on_image: Callable[[], None] | None = None) -> tuple[Path, int, int, list[tuple[str, str]]]:
    """A caption per image of a dataset (or a plain folder of images). Returns (csv, made, skipped, unreadable)."""
    resolve_model(model, "captioning model")
    paths = _image_paths(data)
    sheet = _Appender(Path(out_csv), CAPTION_FIELDS)
    done = {r["path"] for r in sheet.rows}
    todo = [p for p in paths if p not in done]
    failed: list[tuple[str, str]] = []
    if todo:
        cap = Captioner(model, device, prompt)
        for path in todo:
            try:
                text = cap(load_image(path).image)
            except ImageError as e:
                failed.append((path, e.reason))
                continue
            sheet.add({"path": path, "caption": text, "model": cap.name})
            if on_image:
                on_image()
    return sheet.path, len(todo) - len(failed), len(paths) - len(todo), failed


# -- pair -------------------------------------------------------------------------------------
def pair(data: str | Path, captioner: str, generator: str, out_dir: str | Path, img2img: float | None = None,
         steps: int = 25, guidance: float = 7.0, max_side: int = 512, seed: int = 0, device: str = "auto",
         caption_prompt: str | None = None, on_image: Callable[[], None] | None = None) -> tuple[Path, int, int]:
    """Each human image and its AI twin (generated from its caption) in one manifest, sharing a group."""
    import shutil

    from artcheck.data import read_dataset

    if img2img is not None and not 0 < img2img <= 1:
        raise ValueError(f"--img2img is a strength in (0, 1]; got {img2img}")
    resolve_model(captioner, "captioning model")
    resolve_model(generator, "text-to-image model")
    out = Path(out_dir)
    humans = [r for r in read_dataset(data) if r.label == "human"]
    if not humans:
        raise ValueError(f"{data}: no human images to pair")
    sheet = _Appender(out / "manifest.csv", MANIFEST_FIELDS)
    done = {r["group"] for r in sheet.rows if r["label"] == "ai" and (out / r["path"]).is_file()}
    todo = [(k, r) for k, r in enumerate(humans) if f"pair-{k:06d}" not in done]
    if not todo:
        return sheet.path, 0, len(humans)
    cap, gen = Captioner(captioner, device, caption_prompt), Generator(generator, device)
    (out / "human").mkdir(parents=True, exist_ok=True)
    (out / "ai").mkdir(parents=True, exist_ok=True)
    made = 0
    for k, r in todo:
        group = f"pair-{k:06d}"
        try:
            img = load_image(r.path).image
        except ImageError:
            continue
        prompt = cap(img) or "an image"
        w, h = gen.size_for(img.width, img.height, max_side)
        twin = gen([prompt], [seed + k], steps, guidance, w, h,
                   init_images=[img] if img2img is not None else None, strength=img2img or 0.6)[0]
        human_rel = f"human/{k:06d}{Path(r.path).suffix.lower()}"
        shutil.copyfile(r.path, out / human_rel)
        ai_rel = f"ai/{k:06d}.png"
        _save_png(twin, out / ai_rel, a1111_parameters(prompt, steps, guidance, seed + k, twin.width, twin.height,
                                                       gen.sampler, gen.name))
        # the human row first: a crash between the two leaves the pair unfinished, and it is redone
        if not any(row["group"] == group and row["label"] == "human" for row in sheet.rows):
            sheet.add({"path": human_rel, "label": "human", "source": r.source or "pair-human", "style": r.style,
                       "group": group, "width": img.width, "height": img.height})
        sheet.add({"path": ai_rel, "label": "ai", "source": f"pair:{Path(gen.name.split('@')[0]).name}",
                   "generator": gen.name, "style": r.style, "group": group, "prompt": prompt, "seed": seed + k,
                   "steps": steps, "guidance": guidance, "width": twin.width, "height": twin.height,
                   **({"style": f"{r.style} img2img={img2img}".strip()} if img2img is not None else {})})
        made += 1
        if on_image:
            on_image()
    return sheet.path, made, len(humans) - len(todo)
