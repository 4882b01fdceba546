"""Model test data shared by several test modules: ImageNet's cat labels, a fine-tuned model folder."""
from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file
from torch import nn

from playground.models.finetuned import FINETUNED_FORMAT
from playground.models.registry import DEFAULT_MODEL, MODELS, replace_head

__all__ = ["CAT_CLASSES", "write_finetuned"]

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat", "lynx"}


def write_finetuned(folder: Path, classes: tuple[str, ...] = ("apple", "pear", "plum"), arch: str = DEFAULT_MODEL,
                    **meta_overrides: object) -> nn.Module:
    """A fine-tuned model folder (random new head) as the fine-tuning jobs write it; returns the model saved."""
    entry = MODELS[arch]
    model = replace_head(entry.builder(), entry, len(classes))
    folder.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(folder / "model.safetensors"))
    meta = {"format": FINETUNED_FORMAT, "architecture": arch, "classes": list(classes),
            "num_classes": len(classes), "preprocess": entry.preprocess.to_dict(), "metrics": {},
            "strategy": "head", "created": "2025-01-01T00:00:00Z", **meta_overrides}
    (folder / "meta.json").write_text(json.dumps(meta))
    return model
