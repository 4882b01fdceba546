"""Image-classification datasets: zip uploads, local folders and bundled sets.

Every source ends up as the same thing on disk: a folder of class sub-folders
plus ``dataset.json`` listing the usable images, the ones that failed to decode
and what was skipped. Zip uploads are opened in one
place, playground.finetune.archive, which builds on the layout rules and the
verification here.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from playground._fileio import write_json_atomic
from playground.errors import PlaygroundError
from playground.images import UPLOAD_TYPES, ImageError, load_image
from playground.paths import home_dir

__all__ = [
    "DatasetError",
    "Dataset",
    "DatasetItem",
    "Split",
    "BUNDLED",
    "materialise",
    "IMAGE_EXTENSIONS",
    "INDEX_FILE",
    "MAX_ENTRIES",
    "ProgressFn",
    "from_folder",
    "bundled",
    "load_dataset",
    "link_dataset",
    "stratified_split",
    "skip_reason",
    "assign_classes",
    "describe_skipped",
    "verify_images",
]

# Exactly the formats playground.images decodes; anything else is skipped, not "bad".
IMAGE_EXTENSIONS = frozenset("." + ext for ext in UPLOAD_TYPES)
MAX_ENTRIES = 20_000  # files in a zip or images in a folder
INDEX_FILE = "dataset.json"
# Images are verified at a reduced JPEG draft scale: the whole stream is still
# decoded (a truncated file still fails) but at a fraction of the cost.
_VERIFY_DRAFT = (256, 256)
ProgressFn = Callable[[int, int], None]


class DatasetError(PlaygroundError):
    """The dataset cannot be used as given; the message says why and what to do."""


@dataclass(frozen=True)
class DatasetItem:
    """One usable image: its path relative to the dataset root and its class index."""

    path: str
    label: int


@dataclass
class Dataset:
    """A folder of class sub-folders, checked: usable images, bad ones, skipped files."""

    root: Path
    name: str
    classes: list[str]
    items: list[DatasetItem]
    bad: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    # Paths of the images that must be the validation set (a bundled set built to test something,
    # e.g. shapes-shift); empty: any seeded stratified split.
    fixed_val: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Usable images per class, in class order."""
        c = Counter(item.label for item in self.items)
        return {name: c.get(i, 0) for i, name in enumerate(self.classes)}

    def path(self, item: DatasetItem) -> Path:
        """Absolute path of an item's file."""
        return self.root / item.path

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what ``dataset.json`` holds; ``root`` is implied by the file's folder)."""
        return {
            "name": self.name,
            "classes": list(self.classes),
            "items": [[it.path, it.label] for it in self.items],
            "bad": [list(b) for b in self.bad],
            "skipped": dict(self.skipped),
            **({"fixed_val": list(self.fixed_val)} if self.fixed_val else {}),
        }

    def summary(self) -> dict[str, Any]:
        """Counts for display and the CLI: classes, images per class, bad and skipped."""
        return {
            "name": self.name,
            "classes": list(self.classes),
            "counts": self.counts(),
            "images": len(self.items),
            "bad": len(self.bad),
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(self.skipped),
        }

    def save(self) -> None:
        """Write ``dataset.json`` into the root (atomically)."""
        write_json_atomic(self.root / INDEX_FILE, self.to_dict())

    def check_trainable(self) -> None:
        """Raise DatasetError unless there are >= 2 classes with >= 2 usable images each."""
        if not self.items:
            example = f" (e.g. {self.bad[0][0]}: {self.bad[0][1]})" if self.bad else ""
            raise DatasetError(
                f"none of the {len(self.bad)} images in {self.name!r} could be decoded{example}; "
                "use JPEG or PNG files"
            )
        counts = self.counts()
        if len(self.classes) < 2:
            raise DatasetError(
                f"{self.name!r} has {len(self.classes)} class folder(s); a classifier needs at least 2 "
                "(one sub-folder per class, e.g. cats/ and dogs/)"
            )
        small = [name for name, n in counts.items() if n < 2]
        if small:
            shown = ", ".join(f"{n!r} ({counts[n]})" for n in small[:5]) + (", ..." if len(small) > 5 else "")
            raise DatasetError(
                f"{'class' if len(small) == 1 else 'classes'} {shown} {'has' if len(small) == 1 else 'have'} "
                "fewer than 2 usable images; each class needs at least 2 "
                "(one to train on, one to validate with): add images or remove the folder"
            )

    def __str__(self) -> str:
        counts = self.counts()
        width = max([len(c) for c in self.classes] + [5])
        lines = [f"{self.name}: {len(self.items)} images in {len(self.classes)} classes"]
        lines += [f"  {name:<{width}}  {n:>6}" for name, n in counts.items()]
        if self.bad:
            lines.append(f"  {len(self.bad)} image(s) could not be decoded and are left out")
        if self.skipped:
            lines.append("  skipped: " + ", ".join(f"{n} {why}" for why, n in self.skipped.items()))
        return "\n".join(lines)


@dataclass(frozen=True)
class Split:
    """Indices into ``Dataset.items`` for training and validation."""

    train: list[int]
    val: list[int]


def load_dataset(root: str | Path) -> Dataset:
    """Read a dataset prepared earlier (its ``dataset.json``)."""
    root = Path(root)
    try:
        data = json.loads((root / INDEX_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{root} is not a prepared dataset ({INDEX_FILE} unreadable: {exc})") from None
    return Dataset(
        root=root,
        name=data["name"],
        classes=list(data["classes"]),
        items=[DatasetItem(p, int(lbl)) for p, lbl in data["items"]],
        bad=[(p, r) for p, r in data.get("bad", [])],
        skipped=dict(data.get("skipped", {})),
        fixed_val=[str(p) for p in data.get("fixed_val", [])],
    )


# --------------------------------------------------------------------------- layout rules


def skip_reason(parts: Sequence[str]) -> str | None:
    """Why a file (path parts, already validated) is not a candidate image, or None."""
    if parts[0] == "__MACOSX":
        return "macOS metadata files"
    if any(p.startswith(".") for p in parts):
        return "hidden files"
    if PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_EXTENSIONS:
        return "non-image files"
    return None


def assign_classes(
    paths: Iterable[tuple[str, ...]], skipped: Counter
) -> tuple[list[str], list[tuple[tuple[str, ...], str]]]:
    """Map candidate image paths to classes: first folder level, after one shared top folder.

    Returns (sorted class names, [(original path parts, path below the dataset
    root)]); the class is the first component of the latter. Files not inside
    any class folder are counted in ``skipped``.
    """
    paths = list(paths)
    tops = {p[0] for p in paths}
    # "flowers/roses/a.jpg, flowers/tulips/b.jpg": one top folder holding the
    # class folders. "roses/a.jpg" alone stays one class (and fails later).
    strip = 1 if len(tops) == 1 and any(len(p) >= 3 for p in paths) else 0
    assigned = []
    for p in paths:
        rest = p[strip:]
        if len(rest) < 2:
            skipped["files outside class folders"] += 1
            continue
        assigned.append((p, "/".join(rest)))
    classes = sorted({rel.split("/", 1)[0] for _, rel in assigned})
    return classes, assigned


def describe_skipped(skipped: Counter) -> str:
    """What was skipped, for a message about a source with no usable images."""
    if not skipped:
        return "it is empty"
    return "skipped " + ", ".join(f"{n} {why}" for why, n in skipped.items())


# --------------------------------------------------------------------------- verification


def verify_images(
    root: Path,
    name: str,
    classes: list[str],
    relpaths: list[str],
    skipped: Counter,
    on_progress: ProgressFn | None,
) -> Dataset:
    """Decode every candidate through playground.images; keep the good ones, list the bad.

    ``relpaths`` are below ``root`` and start with their class folder.
    """
    index = {c: i for i, c in enumerate(classes)}
    items: list[DatasetItem] = []
    bad: list[tuple[str, str]] = []
    relpaths = sorted(relpaths)
    for n, rel in enumerate(relpaths, 1):
        cls = rel.split("/", 1)[0]
        try:
            load_image(root / rel, name=rel, draft_size=_VERIFY_DRAFT)
        except ImageError as exc:
            bad.append((rel, str(exc)))
        else:
            items.append(DatasetItem(rel, index[cls]))
        if on_progress is not None:
            on_progress(n, len(relpaths))
    used = sorted({classes[it.label] for it in items})
    if used != classes:  # a class whose every image is broken is not a class
        remap = {classes.index(c): i for i, c in enumerate(used)}
        items = [DatasetItem(it.path, remap[it.label]) for it in items]
        classes = used
    return Dataset(root=root, name=name, classes=classes, items=items, bad=bad, skipped=dict(skipped))


def from_folder(path: str | Path, *, on_progress: ProgressFn | None = None) -> Dataset:
    """Check a local folder of class sub-folders in place (nothing is copied or written).

    The same layout rules as a zip apply: class folders at the top, or all under
    one top folder; hidden files and non-images are skipped and counted.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; give a folder of class sub-folders, a .zip, or a bundled name")
    skipped: Counter = Counter()
    candidates = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(root).parts
        for fname in sorted(filenames):
            parts = tuple(rel_dir) + (fname,)
            why = skip_reason(parts)
            if why:
                skipped[why] += 1
            else:
                candidates.append(parts)
        if len(candidates) > MAX_ENTRIES:
            raise DatasetError(f"{root} has more than {MAX_ENTRIES:,} images; use a smaller folder")
    classes, assigned = assign_classes(candidates, skipped)
    if not assigned:
        raise DatasetError(
            f"{root} contains no images inside class folders ({describe_skipped(skipped)}); "
            "expected e.g. cats/1.jpg, dogs/2.jpg"
        )
    # For a folder the root itself moves down past a shared top folder.
    relpaths = [rel for _, rel in assigned]
    top = assigned[0][0][: len(assigned[0][0]) - len(assigned[0][1].split("/"))]
    return verify_images(root.joinpath(*top), root.name, classes, relpaths, skipped, on_progress)


# --------------------------------------------------------------------------- bundled sets


def _write_digits(dest: Path) -> None:
    """scikit-learn's handwritten digits (1,797 images, 8x8, 10 classes) as 32x32 PNGs.

    The 8x8 grids (ink 0..16) are inverted to dark ink on white and upsampled
    bicubically, so they look like digits in the sample grid and survive the
    model's resize like any other photo.
    """
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (grid, target) in enumerate(zip(digits.images, digits.target)):
        gray = (255 - grid * (255 / 16)).clip(0, 255).astype(np.uint8)  # (8, 8)
        img = Image.fromarray(gray, mode="L").resize((32, 32), Image.Resampling.BICUBIC).convert("RGB")
        folder = dest / str(int(target))
        folder.mkdir(parents=True, exist_ok=True)
        img.save(folder / f"{i:04d}.png")


def _shapes_writer(image_size: int, shift: bool = False) -> Callable[[Path], list[str] | None]:
    """Writes the generated shapes set (playground.finetune.shapes, numpy: imported when first used)."""
    def write(dest: Path) -> list[str] | None:
        from playground.finetune.shapes import write_shapes

        return write_shapes(dest, image_size=image_size, shift=shift)

    return write


@dataclass(frozen=True)
class BundledDataset:
    """A dataset shipped by an installed package, written to disk on first use."""

    name: str
    title: str
    description: str
    writer: Callable[[Path], list[str] | None]  # writes the images; returns a fixed validation set's paths, if any
    image_size: int  # a sensible training input size for these images (the page's default)


BUNDLED: dict[str, BundledDataset] = {
    "digits": BundledDataset(
        "digits",
        "Handwritten digits (scikit-learn)",
        "1,797 scanned handwritten digits 0-9 from the UCI ML repository, 8x8 pixels, ~180 per class.",
        _write_digits,
        # Tiny originals: 64 px inputs reach ~95% with the head alone, in seconds on a CPU.
        image_size=64,
    ),
    "shapes": BundledDataset(
        "shapes", "Shapes (generated)",
        "5,000 generated 32x32 pictures of 5 shapes (circle, cross, square, star, triangle) at random places, "
        "sizes, angles and colours on textured backgrounds; 1,000 per class. For training a design from scratch.",
        _shapes_writer(32), image_size=32),
    "shapes64": BundledDataset(
        "shapes64", "Shapes, 64x64 (generated)", "The shapes set drawn at 64x64 pixels (5,000 images).",
        _shapes_writer(64), image_size=64),
    "shapes-shift": BundledDataset(
        "shapes-shift", "Shapes, shifted (generated)",
        "Translation test: 5,000 training shapes only in the left half of the picture, 1,250 validation shapes "
        "only in the right half (32x32). A network that is translation invariant does as well on both.",
        _shapes_writer(32, shift=True), image_size=32),
}


def bundled(name: str, *, on_progress: ProgressFn | None = None) -> Dataset:
    """A bundled dataset by name, materialised once under ``<home>/datasets/<name>``."""
    if name not in BUNDLED:
        raise DatasetError(f"no bundled dataset called {name!r}; choose one of: {', '.join(BUNDLED)}")
    return materialise(home_dir() / "datasets" / name, name, BUNDLED[name].writer, on_progress=on_progress)


def materialise(root: Path, name: str, writer: Callable[[Path], list[str] | None], *,
                on_progress: ProgressFn | None = None) -> Dataset:
    """The dataset in folder ``root``, written by ``writer`` (images into a folder; returns a fixed validation
    set's paths, if any) on first use. Built in a scratch folder and renamed, so a half-written set is never
    used, and two processes building it at once both end with one whole set."""
    if (root / INDEX_FILE).exists():
        return load_dataset(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        fixed_val = writer(scratch)
        ds = from_folder(scratch, on_progress=on_progress)
        ds.name = name
        ds.fixed_val = list(fixed_val or [])
        ds.save()
        with contextlib.suppress(OSError):  # another process finished first: use theirs
            os.replace(scratch, root)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return load_dataset(root)


# --------------------------------------------------------------------------- job copies


def link_dataset(dataset: Dataset, dest: str | Path) -> Dataset:
    """Give ``dest`` its own copy of the dataset's usable images (hard links where possible).

    A job folder then holds its data, yet re-using one upload for many jobs
    costs no extra disk on the same filesystem.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for item in dataset.items:
        src, dst = dataset.path(item), dest / item.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    copy = Dataset(root=dest, name=dataset.name, classes=list(dataset.classes), items=list(dataset.items),
                   bad=list(dataset.bad), skipped=dict(dataset.skipped), fixed_val=list(dataset.fixed_val))
    copy.save()
    return copy


# --------------------------------------------------------------------------- split


def stratified_split(dataset: Dataset, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """Seeded, stratified train/validation split of ``dataset.items``.

    Each class contributes ``round(n * val_fraction)`` validation images, at
    least 1 and at most n - 1, so every class appears on both sides.
    """
    import numpy as np

    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"validation fraction must be between 0 and 1 (got {val_fraction})")
    dataset.check_trainable()
    if dataset.fixed_val:
        return _fixed_split(dataset)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, item in enumerate(dataset.items):
        by_class.setdefault(item.label, []).append(i)
    train: list[int] = []
    val: list[int] = []
    for label in sorted(by_class):
        idx = np.array(by_class[label])
        rng.shuffle(idx)
        n_val = min(max(1, round(len(idx) * val_fraction)), len(idx) - 1)
        val.extend(int(i) for i in idx[:n_val])
        train.extend(int(i) for i in idx[n_val:])
    return Split(sorted(train), sorted(val))


def _fixed_split(dataset: Dataset) -> Split:
    """The split a dataset prescribes (``fixed_val``): those images validate, all the others train."""
    val_paths = set(dataset.fixed_val)
    val = [i for i, item in enumerate(dataset.items) if item.path in val_paths]
    train = [i for i, item in enumerate(dataset.items) if item.path not in val_paths]
    if not val or not train:
        raise DatasetError(f"{dataset.name!r} prescribes a validation set that leaves "
                           f"{'no validation' if not val else 'no training'} images; re-create the dataset")
    return Split(train, val)
