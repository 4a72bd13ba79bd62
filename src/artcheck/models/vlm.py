"""``vlm-lora``: a small vision-language model asked "Is this image AI-generated?", fine-tuned with LoRA.

MAI's approach (moondream answering "Yes." / "No."). P(ai) is the probability of the first
answer token "Yes" against "No", normalised over the two. Training is the usual next-token loss on
that first answer token, with LoRA adapters (peft) on the attention projections and everything
else frozen. The run directory holds only the adapter weights (``adapter_model.safetensors``) and,
in ``model.json``, the base model's id and revision.

Works with any model ``AutoModelForImageTextToText`` loads whose processor takes an image and a
text: chat VLMs (SmolVLM, moondream-style; the question goes through the processor's chat
template) and captioners with a text decoder (BLIP; the question is the text prefix). Needs the
``[generate]`` extra (transformers, peft). transformers and peft are imported only when a model is
built, so the registry stays importable without them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from artcheck.detect.preprocess import PreprocessConfig, predict_proba_images
from artcheck.labels import CLASSES
from artcheck.models.registry import register_model

QUESTION = "Is this image AI-generated?"
ANSWERS = ("Yes", "No")                      # ai, human: the first token of "Yes." / "No."
DEFAULT_BASE = "HuggingFaceTB/SmolVLM-256M-Instruct"
ADAPTER_DIR = "adapter"
# attention projections LoRA adapts, by the names common architectures use
TARGET_NAMES = ("q_proj", "v_proj", "query", "value")


def _input_size(processor) -> tuple[int, int]:
    size = getattr(getattr(processor, "image_processor", None), "size", None) or {}
    if "height" in size and "width" in size:
        return int(size["height"]), int(size["width"])
    side = int(size.get("longest_edge") or size.get("shortest_edge") or 384)
    return side, side


class VLMDetector:
    """A VLM plus LoRA adapters behind the torch models' prediction interface (``predict_arrays``)."""

    family = "vlm"
    num_outputs = 2
    classes = CLASSES

    def __init__(self, base: str = DEFAULT_BASE, lora_rank: int = 8, lora_alpha: int = 16, device: str = "auto"):
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from artcheck.lab.generate import _device, _quiet_libraries, resolve_model

        _quiet_libraries()
        self.base, self.lora_rank, self.lora_alpha = base, int(lora_rank), int(lora_alpha)
        self.path, self.base_revision = resolve_model(base, "vision-language model")
        self.device = _device(device)
        self.processor = AutoProcessor.from_pretrained(self.path)
        net = AutoModelForImageTextToText.from_pretrained(self.path)
        targets = sorted({n.rsplit(".", 1)[-1] for n, m in net.named_modules()
                          if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in TARGET_NAMES})
        if not targets:
            raise ValueError(f"{base}: found no attention projections named {TARGET_NAMES} to put LoRA adapters on")
        self.net = get_peft_model(net, LoraConfig(r=self.lora_rank, lora_alpha=self.lora_alpha, lora_dropout=0.0,
                                                  target_modules=targets)).to(self.device)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.answer_ids = [self._first_token(a) for a in ANSWERS]
        h, w = _input_size(self.processor)
        self.preprocess = PreprocessConfig((h, w), interpolation="bicubic", crop="resize")
        self.chat = bool(getattr(self.processor, "chat_template", None))

    def _first_token(self, word: str) -> int:
        for form in (word, word.lower(), " " + word):
            ids = self.tokenizer(form, add_special_tokens=False)["input_ids"]
            if ids and ids[0] != getattr(self.tokenizer, "unk_token_id", None):
                return int(ids[0])
        raise ValueError(f"{self.base}: its tokenizer has no token for the answer {word!r}")

    # -- one forward: logits of the first answer token ------------------------------------
    def _prompt(self, images: list) -> dict:
        if self.chat:
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
            inputs = self.processor(images=[[im] for im in images], text=[text] * len(images), return_tensors="pt")
        else:
            inputs = self.processor(images=images, text=[QUESTION] * len(images), return_tensors="pt")
            ids = inputs["input_ids"]
            sep = getattr(self.tokenizer, "sep_token_id", None)
            if sep is not None and bool((ids[:, -1] == sep).all()):     # BERT-style tokenizers end with [SEP]
                inputs["input_ids"], inputs["attention_mask"] = ids[:, :-1], inputs["attention_mask"][:, :-1]
        return inputs.to(self.device)

    def _next_token_logits(self, batch_uint8: np.ndarray):
        """(N, vocab) logits of the token after the question: the first answer token."""
        from PIL import Image

        inputs = self._prompt([Image.fromarray(a) for a in batch_uint8])
        logits = self.net(**inputs).logits
        if getattr(self.tokenizer, "padding_side", "right") == "right":
            return logits[range(len(logits)), inputs["attention_mask"].sum(dim=1) - 1]
        return logits[:, -1]

    def answer_logits(self, batch_uint8: np.ndarray):
        """(N, 2) logits of "Yes" and "No" as the first answer token."""
        return self._next_token_logits(batch_uint8)[:, self.answer_ids]

    # -- the estimator contract ----------------------------------------------------------
    def set_classes(self, classes: Sequence[str]) -> None:
        if tuple(classes) != CLASSES:
            raise ValueError(f"vlm-lora answers yes or no ({', '.join(CLASSES)}); got --classes {','.join(classes)}")

    def predict_arrays(self, batch_uint8: np.ndarray) -> np.ndarray:
        import torch

        self.net.eval()
        with torch.no_grad():
            out = []
            for i in range(0, len(batch_uint8), 8):
                z = self.answer_logits(batch_uint8[i:i + 8])
                out.append(torch.softmax(z.float(), dim=1)[:, 0].cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def predict_proba(self, images: Sequence, batch_size: int = 8) -> np.ndarray:
        return predict_proba_images(self.predict_arrays, self.preprocess, images, batch_size)

    def loss(self, batch_uint8: np.ndarray, targets: np.ndarray):
        """Next-token cross-entropy on the first answer token ("Yes" for ai, "No" for human)."""
        import torch

        rows = self._next_token_logits(batch_uint8)
        want = torch.tensor([self.answer_ids[0] if t == 1 else self.answer_ids[1] for t in targets],
                            device=rows.device)
        return torch.nn.functional.cross_entropy(rows.float(), want)

    def trainable_parameters(self):
        return [p for p in self.net.parameters() if p.requires_grad]

    def eval(self) -> "VLMDetector":
        self.net.eval()
        return self

    # -- persistence: the adapter only -----------------------------------------------------
    def save(self, run_dir: Path) -> None:
        self.net.save_pretrained(str(Path(run_dir) / ADAPTER_DIR))
        (Path(run_dir) / ADAPTER_DIR / "base.json").write_text(json.dumps(
            {"base": self.base, "base_revision": self.base_revision, "lora_rank": self.lora_rank}, indent=2))

    def load_fitted(self, run_dir: Path) -> "VLMDetector":
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        path = Path(run_dir) / ADAPTER_DIR / "adapter_model.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"{run_dir}: no {ADAPTER_DIR}/adapter_model.safetensors; expected a vlm-lora run "
                                    "written by 'artcheck train --model vlm-lora'")
        set_peft_model_state_dict(self.net, load_file(str(path)))
        self.net.eval()
        return self

    def state_summary(self) -> dict[str, Any]:
        return {"base": self.base, "base_revision": self.base_revision, "lora_rank": self.lora_rank}


@register_model("vlm-lora", family="vlm",
                summary="a small vision-language model asked 'Is this image AI-generated?', LoRA-tuned "
                        "([generate] extra; model_kwargs base, lora_rank)")
def vlm_lora(**kwargs: Any) -> VLMDetector:
    return VLMDetector(**kwargs)
