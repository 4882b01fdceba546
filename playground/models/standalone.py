"""The plain-PyTorch side of a fine-tuned model folder: ``model.py`` and ``load_example.py``.

A downloaded model must run where the playground is not installed, with torch, safetensors and
Pillow alone (and torchvision for a torchvision architecture). So ``model.py`` carries its own
copy of everything playground-specific that the model needs, taken from the playground's source
at save time rather than written out a second time (one definition, however it is read):

- the architecture: for EfficientNet-Lite the whole of :mod:`playground.models.efficientnet_lite`,
  verbatim (it imports nothing but torch, which :func:`embedded_module_source` checks); for a
  torchvision classifier, torchvision's own constructor;
- the preprocessing: :meth:`Preprocess.crop_image <playground.models.preprocess.Preprocess.crop_image>`
  and the helpers it calls, verbatim, in a small class that normalises without torchvision;
- a loader (meta.json + model.safetensors) and an image opener that decodes as
  :func:`playground.images.load_image` does for the predict command.
"""
from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from playground.models import preprocess as _preprocess
from playground.models.registry import ModelEntry

__all__ = ["MODEL_FILE", "model_source", "design_model_source", "example_source", "embedded_module_source",
           "needs_torchvision", "requirements"]

MODEL_FILE = "model.py"  # the architecture, preprocessing and loader; load_example.py imports it
_PREPROCESS_HELPERS = (_preprocess._crop_offset, _preprocess._resample_box)  # what crop_image calls

_MODEL_HEADER = '''\
# {model_file}: the fine-tuned {arch} of this folder (model.safetensors + meta.json) in plain PyTorch.
# Written by CNN Playground; it needs {requirements}, not the playground.
#   from model import load_model, open_image
#   model, meta = load_model()  # eval mode, CPU; meta: classes, preprocessing, metrics
# Part 1 is the architecture{arch_origin}.
# Part 2 builds it with this folder's {n}-class head, and holds the preprocessing it was trained with.
'''

_TORCHVISION_ARCH = '''\
"""{arch}: torchvision's own constructor (``torchvision.models.{builder}``)."""
from __future__ import annotations

from torchvision.models import {builder}
'''

_PART_2 = '''

# ============================================================================================
# Part 2: this fine-tuned model. Build, load, open an image, preprocess it.

# (Its imports are here, after part 1, which is a module of its own.)
import json
import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps
from safetensors.torch import load_file

ARCHITECTURE = {arch!r}
HERE = Path(__file__).resolve().parent
_JPEG_FORMATS = ("JPEG", "MPO")  # many phones write MPO: a JPEG with extra pictures appended
_ORIENTATION_TAG = 0x0112  # EXIF


def build_model(num_classes: int) -> torch.nn.Module:
    """{arch} with random weights and a ``num_classes`` head: the modules model.safetensors is keyed by."""
    return {builder}({builder_args})


def load_model(folder: str | Path = HERE) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The fine-tuned model (eval mode, CPU) and its meta.json (classes, preprocessing, metrics)."""
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    model = build_model(meta["num_classes"])
    model.load_state_dict(load_file(str(folder / "model.safetensors"), device="cpu"))  # strict: all keys
    return model.eval(), meta


def open_image(path: str | Path, draft_side: int | None = None) -> Image.Image:
    """An image file as 8-bit RGB, decoded as the playground's predict command decodes it.

    A JPEG is decoded at the smallest 1/2, 1/4 or 1/8 scale still at least ``draft_side`` pixels
    (the model's resize) on each side; the EXIF orientation is applied; transparency goes on white.
    (The playground also scales 16-bit greyscale down to 8 bits; here Pillow clips it.)"""
    img = Image.open(path)
    if draft_side is not None and img.format in _JPEG_FORMATS:
        img.draft("RGB", (draft_side, draft_side))
    img.seek(0)  # the first frame of an animation
    img.load()
    try:
        if img.getexif().get(_ORIENTATION_TAG, 1) not in (1, None):
            img = ImageOps.exif_transpose(img)
    except Exception:  # a malformed EXIF block must not sink an otherwise fine photo
        pass
    if img.mode == "P":  # a palette may carry transparency (a colour index or per-entry alpha)
        alpha = "transparency" in img.info or (img.palette is not None and img.palette.mode == "RGBA")
        img = img.convert("RGBA" if alpha else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return img.convert("RGB")


# The playground's own resize + centre crop (playground/models/preprocess.py), verbatim.
_PIL_FILTERS = {{{filters}
}}
_SUPPORT = {support!r}
_MARGIN_ROWS = {margin!r}


{helpers}

class Preprocess:
    """Resize the shorter side to ``resize``, centre-crop ``crop`` x ``crop``, scale to [0, 1], normalise
    with ``mean``/``std``: what the model saw in training (meta.json's "preprocess")."""

    def __init__(self, resize: int, crop: int, mean: list[float], std: list[float],
                 interpolation: str = "bilinear") -> None:
        self.resize, self.crop, self.interpolation = int(resize), int(crop), str(interpolation)
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]

{crop_image}
    def __call__(self, img: Image.Image) -> torch.Tensor:
        """PIL image -> normalised float tensor (3, crop, crop)."""
        region = self.crop_image(img)
        pixels = torch.frombuffer(bytearray(region.tobytes()), dtype=torch.uint8)
        x = pixels.view(self.crop, self.crop, 3).permute(2, 0, 1).float().div_(255.0)  # (3, crop, crop) in [0, 1]
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return x.sub_(mean).div_(std)
'''

_LOAD_EXAMPLE = '''\
"""Classify photos with this fine-tuned {arch} in plain PyTorch (no playground needed).

    python load_example.py IMAGE [IMAGE ...] [--top K]

It needs {requirements}. model.py, next to this file, holds the architecture, the
preprocessing the model was trained with (meta.json) and the loader.
"""
import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # model.py sits next to this file, wherever it is run from
from model import Preprocess, load_model, open_image  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("images", nargs="+", metavar="IMAGE")
parser.add_argument("--top", type=int, default=3, metavar="K", help="classes shown per image (default: 3)")
args = parser.parse_args()

model, meta = load_model(HERE)  # {arch} with a {n}-class head, weights from model.safetensors
preprocess = Preprocess(**meta["preprocess"])  # exactly what the model saw in training
status = 0
for path in args.images:
    try:
        image = open_image(path, draft_side=preprocess.resize)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # not an image, damaged, too big
        print(f"{{path}}: cannot read this image ({{exc}})", file=sys.stderr)
        status = 2
        continue
    with torch.inference_mode():
        probs = model(preprocess(image).unsqueeze(0)).softmax(1)[0]  # (num_classes,)
    if len(args.images) > 1:
        print(path)
    for p, i in zip(*probs.topk(max(1, min(args.top, len(probs))))):
        print(f"{{meta['classes'][int(i)]}}: {{float(p):.6f}}")
sys.exit(status)
'''


def needs_torchvision(entry: ModelEntry) -> bool:
    """Whether the architecture is torchvision's (so the exported files import torchvision)."""
    return _builder(entry).__module__.startswith("torchvision.")


def requirements(entry: ModelEntry) -> str:
    """The packages the exported files import, as a phrase."""
    return "torch, torchvision, safetensors and Pillow" if needs_torchvision(entry) else \
        "torch, safetensors and Pillow"


def _builder(entry: ModelEntry) -> Callable[..., Any]:
    """The architecture's own constructor (a registry builder may be a partial of it)."""
    builder: Callable[..., Any] = getattr(entry.builder, "func", entry.builder)
    return builder


def embedded_module_source(module: ModuleType) -> str:
    """A module's source, checked to stand alone: it may import only the standard library and torch.

    Raises RuntimeError (a playground bug, not a user error) when it imports the playground, so a
    downloaded model can never fail with ModuleNotFoundError."""
    source = inspect.getsource(module)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):  # a relative import reaches into its own package
            names = ["." * node.level] if node.level else [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in ("torch", "__future__") and top not in sys.stdlib_module_names:
                raise RuntimeError(f"{module.__name__} imports {name!r}, so it cannot be exported with a model")
    return source


def _architecture(entry: ModelEntry) -> tuple[str, str, str]:
    """Part 1 of model.py, where it comes from, and the builder's arguments for ``num_classes``."""
    builder = _builder(entry)
    name = getattr(builder, "__name__", "")
    params = inspect.signature(builder).parameters
    if "num_classes" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise RuntimeError(f"{entry.name}: {name} takes no num_classes, so its head cannot be rebuilt")
    keywords = getattr(entry.builder, "keywords", {})
    args = ", ".join([f"{k}={v!r}" for k, v in keywords.items()] + ["num_classes=num_classes"])
    if needs_torchvision(entry):
        return _TORCHVISION_ARCH.format(arch=entry.name, builder=name), f": torchvision's {name}", args
    module = sys.modules[builder.__module__]
    origin = f": the playground's own {module.__name__.replace('.', '/')}.py, verbatim"
    return embedded_module_source(module), origin, args


def model_source(entry: ModelEntry, num_classes: int) -> str:
    """The text of model.py for a fine-tuned ``entry`` with ``num_classes`` classes."""
    arch_source, origin, args = _architecture(entry)
    header = _MODEL_HEADER.format(model_file=MODEL_FILE, arch=entry.name, requirements=requirements(entry),
                                  arch_origin=origin, n=num_classes)
    part_2 = _part_2(entry.name, getattr(_builder(entry), "__name__", ""), args)
    return header + "\n# Part 1: the architecture.\n" + arch_source + part_2


def _part_2(arch: str, builder: str, builder_args: str) -> str:
    """Part 2 of model.py: build with ``builder(builder_args)``, load, open an image, preprocess it."""
    filters = "".join(f"\n    {k!r}: Image.Resampling.{v.name}," for k, v in _preprocess._PIL_FILTERS.items())
    return _PART_2.format(
        arch=arch, builder=builder, builder_args=builder_args, filters=filters,
        support=_preprocess._SUPPORT, margin=_preprocess._MARGIN_ROWS,
        helpers="\n\n".join(inspect.getsource(f).rstrip() + "\n" for f in _PREPROCESS_HELPERS),
        crop_image=inspect.getsource(_preprocess.Preprocess.crop_image).rstrip() + "\n")


def design_model_source(spec: dict[str, Any], num_classes: int) -> str:
    """The text of model.py for a design trained from scratch: the Designer's own export of it
    (``to_pytorch_code``: ``class Net``) behind :class:`~playground.models.designed.DesignClassifier`
    (verbatim), then the same loader, image opener and preprocessing as every model folder."""
    from playground.design.build import to_pytorch_code
    from playground.models import designed

    arch_source = (to_pytorch_code(spec).rstrip() + "\n\n\n# RGB -> grey for a 1-channel design, as Pillow weighs "
                   f"the channels.\nGREY_WEIGHTS = {designed.GREY_WEIGHTS!r}\n\n\n"
                   + inspect.getsource(designed.DesignClassifier))
    header = _MODEL_HEADER.format(
        model_file=MODEL_FILE, arch="design", requirements="torch, safetensors and Pillow", n=num_classes,
        arch_origin=": the design exported by the Designer (class Net), behind the step that feeds it")
    args = f"Net(), in_channels={int(spec['input'][0])}"
    return header + "\n# Part 1: the architecture.\n" + arch_source + _part_2("design", "DesignClassifier", args)


def example_source(entry: ModelEntry, num_classes: int) -> str:
    """The text of load_example.py: classify images given on the command line, print the top classes."""
    return _LOAD_EXAMPLE.format(arch=entry.name, n=num_classes, requirements=requirements(entry))
