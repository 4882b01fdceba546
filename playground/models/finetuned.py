"""The fine-tuned model folder: written by :func:`save_finetuned`, read by :func:`load_finetuned`.

A folder holds ``model.safetensors`` (the whole model's state dict, the new
head included), ``meta.json`` (:data:`FINETUNED_FORMAT`: architecture,
classes, preprocessing, metrics), ``model.py`` and ``load_example.py`` (plain
PyTorch, no playground needed; :mod:`playground.models.standalone`) and
``README.md``. Only the folder's format lives here: where a folder is found (a
path, or a job's ``job:<id>``) is :mod:`playground.catalog`'s business, so this
module knows nothing of jobs and is told its ``job:<id>``, if any, by the caller.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from playground._format import visible
from playground.errors import PlaygroundError
from playground.models.designed import DESIGN_ARCHITECTURE, design_entry
from playground.models.preprocess import Preprocess
from playground.models.registry import (
    MODELS,
    LoadedModel,
    ModelEntry,
    ModelStatus,
    load_strict,
    replace_head,
)
from playground.models.standalone import MODEL_FILE, design_model_source, example_source, model_source, requirements
from playground.models.weights import ModelUnavailable

__all__ = [
    "FINETUNED_FORMAT",
    "WEIGHTS_FILE",
    "META_FILE",
    "EXAMPLE_FILE",
    "README_FILE",
    "MODEL_FILE",
    "FINE_TUNED",
    "TrainedModel",
    "save_finetuned",
    "write_readme",
    "load_finetuned",
    "folder_status",
]

FINETUNED_FORMAT = "cnn-playground/finetuned-v1"
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
EXAMPLE_FILE = "load_example.py"
README_FILE = "README.md"
FINE_TUNED = "fine-tuned"  # ModelStatus.source of a fine-tuned model folder
_SAVED_METRICS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss", "per_class_accuracy", "epochs",
                  "train_seconds", "train_images", "val_images", "trainable_params")
_README_CLASSES = 10  # class names listed in README.md
_STATUS_CLASSES = 4  # ...and in the model list

_README = """# Fine-tuned {arch}

{n} classes: {classes}. Validation accuracy {acc:.1%} on {val} images ({strategy} strategy, {epochs} epoch(s)).

Every file named here is in this folder (the one holding this README).

- `model.safetensors`: the full model's state dict (the new {n}-class head included).
- `meta.json`: architecture, classes, preprocessing, metrics.
- `model.py`: the architecture, its preprocessing and a loader in plain PyTorch (needs {requirements};
  not the playground).
- `load_example.py`: classify photos with it: `python load_example.py IMAGE` (from this folder).

With the playground installed: `python -m playground predict IMAGE --model .` from this folder
(or give this folder's path to `--model`).{job_line}
"""
_README_JOB = """
On the playground server that trained it, it is also the model `{ref}`:
`python -m playground predict IMAGE --model {ref}`.
"""


class _Settings(Protocol):
    """What the folder records of a run's settings (a :class:`~playground.finetune.config.TrainConfig`)."""

    @property
    def strategy(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class TrainedModel(Protocol):
    """What :func:`save_finetuned` reads from a finished run (a
    :class:`~playground.finetune.result.TrainResult`): stated here, so that the folder format
    does not import the fine-tuning code that produces it."""

    @property
    def model(self) -> nn.Module: ...

    @property
    def entry(self) -> ModelEntry: ...

    @property
    def preprocess(self) -> Preprocess: ...

    @property
    def classes(self) -> list[str]: ...

    @property
    def config(self) -> _Settings: ...

    def metrics(self) -> dict[str, Any]: ...


def _shown(classes: list[str], limit: int) -> str:
    return ", ".join(classes[:limit]) + (", ..." if len(classes) > limit else "")


_MARKDOWN_ACTIVE = frozenset("\\`*_[]<>|~#!")


def _md_name(name: str) -> str:
    """A class name (an uploaded folder's name) for README.md: control characters and bidi overrides
    escaped (:func:`playground._format.visible`: a newline cannot start a heading), and the characters
    markdown acts on inside a sentence (emphasis, code, links, HTML, tables) backslash-escaped, so it reads
    as its own characters wherever the README is rendered; others (``:``, ``.``) stay as they are."""
    return "".join("\\" + ch if ch in _MARKDOWN_ACTIVE else ch for ch in visible(name))


# --------------------------------------------------------------------------- writing


def save_finetuned(result: TrainedModel, out_dir: str | Path, *, job_ref: str | None = None) -> Path:
    """Write the fine-tuned model folder (model.safetensors, meta.json, model.py, load_example.py, README.md).

    model.py and load_example.py run with torch + safetensors + Pillow alone (torchvision too for a
    torchvision architecture): see :mod:`playground.models.standalone`. ``job_ref``: the ``job:<id>``
    this folder will be reachable as on this server, named in its README; None (the default) for a
    folder no job reference leads to (the README must not name one that does not lead here)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": FINETUNED_FORMAT})
    metrics = result.metrics()
    meta = {
        "format": FINETUNED_FORMAT,
        "architecture": result.entry.name,
        "classes": result.classes,
        "num_classes": len(result.classes),
        "preprocess": result.preprocess.to_dict(),
        "strategy": result.config.strategy,
        "config": result.config.to_dict(),
        "metrics": {k: metrics[k] for k in _SAVED_METRICS},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    design = getattr(result.config, "spec", None)  # a design trained from scratch: its layer spec
    if design is not None:
        meta["design"] = design
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    n = len(result.classes)
    source = design_model_source(design, n) if design is not None else model_source(result.entry, n)
    (out / MODEL_FILE).write_text(source, encoding="utf-8")
    (out / EXAMPLE_FILE).write_text(example_source(result.entry, n), encoding="utf-8")
    write_readme(out, job_ref)
    return out


def write_readme(folder: str | Path, job_ref: str | None = None) -> Path:
    """(Re)write a model folder's README.md from its meta.json; it names only files in the folder
    (so it stays true in a download or a copy) and, given ``job_ref``, the server's ``job:<id>``."""
    out = Path(folder)
    meta, entry, _, classes = _read_meta(out, str(out))
    metrics, config = meta.get("metrics", {}), meta.get("config", {})
    acc = metrics.get("val_accuracy")
    text = _README.format(
        arch=entry.name, n=len(classes), classes=_shown([_md_name(c) for c in classes], _README_CLASSES),
        acc=acc if isinstance(acc, (int, float)) else float("nan"), val=metrics.get("val_images", "?"),
        strategy=meta.get("strategy", "?"), epochs=config.get("epochs", "?"), requirements=requirements(entry),
        job_line=_README_JOB.format(ref=job_ref) if job_ref else "")
    path = out / README_FILE
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- reading


def _read_meta(folder: Path, label: str) -> tuple[dict[str, Any], ModelEntry, Preprocess, list[str]]:
    """Validate a fine-tuned folder's meta.json; ModelUnavailable names the folder and the problem."""
    meta_path, weights_path = folder / META_FILE, folder / WEIGHTS_FILE
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise ModelUnavailable(
                f"{label}: {path.name} is missing; a fine-tuned model folder holds {WEIGHTS_FILE} "
                f"and {META_FILE} (from `python -m playground finetune --out DIR`)"
            )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnavailable(f"{label}: meta.json is not valid JSON ({exc}); re-run the fine-tune") from None
    if not isinstance(meta, dict) or meta.get("format") != FINETUNED_FORMAT:
        raise ModelUnavailable(f"{label}: meta.json is not a {FINETUNED_FORMAT} file; re-run the fine-tune")
    arch = meta.get("architecture")
    if arch not in MODELS and arch != DESIGN_ARCHITECTURE:
        raise ModelUnavailable(f"{label}: unknown architecture {arch!r}; expected one of {', '.join(MODELS)}")
    classes = meta.get("classes")
    if (not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes)
            or meta.get("num_classes", len(classes)) != len(classes)):
        raise ModelUnavailable(f"{label}: meta.json needs 'classes' (a list of names) matching 'num_classes'")
    try:
        preprocess = Preprocess.from_dict(meta.get("preprocess"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise ModelUnavailable(f"{label}: meta.json {exc}") from None
    if arch != DESIGN_ARCHITECTURE:
        return meta, MODELS[arch], preprocess, list(classes)
    try:  # a design trained from scratch: its entry comes from the spec in meta.json
        entry = design_entry(meta.get("design"), list(classes))  # type: ignore[arg-type]
    except (PlaygroundError, TypeError, AttributeError) as exc:
        raise ModelUnavailable(f"{label}: meta.json's design cannot be built ({exc})") from None
    return meta, entry, preprocess, list(classes)


def load_finetuned(folder: Path, label: str) -> LoadedModel:
    """Build the architecture with its fine-tuned head and load the folder's weights (CPU, eval mode)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    _, entry, preprocess, classes = _read_meta(folder, label)
    try:
        state = load_file(str(folder / WEIGHTS_FILE), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelUnavailable(f"{label}: {WEIGHTS_FILE} cannot be read ({exc}); re-run the fine-tune") from None
    # A design's spec fixes its head; a zoo model gets a new one with the folder's classes.
    model = entry.builder() if entry.name == DESIGN_ARCHITECTURE else replace_head(entry.builder(), entry, len(classes))
    load_strict(model, state, label)
    return LoadedModel(name=label, model=model.eval(), preprocess=preprocess, categories=classes,
                       entry=entry, source=str(folder.resolve()))


def folder_status(folder: Path, label: str) -> ModelStatus:
    """Whether the fine-tuned model folder ``folder`` (shown as ``label``) can be loaded, and what it is."""
    try:
        if not folder.is_dir():
            raise ModelUnavailable(f"{label}: no such model folder")
        _, entry, _, classes = _read_meta(folder, label)
    except ModelUnavailable as exc:
        return ModelStatus(label, "fine-tuned model", False, str(exc))
    what = "a design trained from scratch" if entry.name == DESIGN_ARCHITECTURE else f"{entry.name} fine-tuned"
    return ModelStatus(label, f"{what} on {len(classes)} classes "
                              f"({_shown(classes, _STATUS_CLASSES)})", True, f"weights from {folder}",
                       source=FINE_TUNED, licence=f"derived from {entry.name}'s weights: {entry.weights.licence}")
