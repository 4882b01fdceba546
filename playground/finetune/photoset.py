"""A class set built photo by photo (camera shots or files), kept on disk, Teachable Machine style.

The set of one browser lives in one folder under the data directory's ``uploads/`` (next to the
staged zips), named from a hash of the owner id, so a rerun, a reload, another tab or a restarted
server sees the same classes and photos. The folder is already in the staged-upload format: one
sub-folder per class holding its images, plus ``dataset.json`` (written by :meth:`PhotoSet.dataset`),
so a job takes it exactly as it takes an extracted zip, and :mod:`playground.housekeeping` ages it
out like any other upload (its name is hex; its age counts from the last change).

The folder itself is the only record: classes are its sub-folders, photos the image files in them
(named ``<nanoseconds>-<content hash><ext>``, so they sort in the order they were added). Nothing
is read-modify-written, so two tabs adding photos at once lose nothing. Every photo is decoded
through :func:`playground.images.load_image` before it is kept, under the same pixel and aspect
limits as any upload, and the set has its own caps on classes, photos and bytes.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import unicodedata
from pathlib import Path, PurePosixPath

from playground.finetune.archive import _check_member_name
from playground.finetune.data import (
    IMAGE_EXTENSIONS,
    INDEX_FILE,
    Dataset,
    DatasetError,
    DatasetItem,
    load_dataset,
    skip_reason,
)
from playground.images import ImageError, load_image
from playground.paths import home_dir

__all__ = [
    "PhotoSet",
    "PhotoSetError",
    "check_class_name",
    "PHOTOSET_NAME",
    "MIN_PER_CLASS",
    "MAX_CLASSES",
    "MAX_PER_CLASS",
    "MAX_PHOTOS",
    "MAX_PHOTO_BYTES",
    "MAX_PHOTO_PIXELS",
    "MAX_UPLOAD_PIXELS",
    "MAX_SET_BYTES",
    "decoded_pixels",
    "CLASS_NAME_MAX",
]

PHOTOSET_NAME = "My photos"  # the dataset's name on the page and in a job's settings
# Dataset.check_trainable's rule (one image to train on, one to validate with); dataset() applies it itself.
MIN_PER_CLASS = 2
MAX_CLASSES = 20
MAX_PER_CLASS = 300
MAX_PHOTOS = 1_000
MAX_PHOTO_BYTES = 20 * 1024**2  # a 12 MP phone JPEG is 3-8 MB; a camera shot is ~100 KB
MAX_SET_BYTES = 300 * 1024**2  # per browser: 30 students stay well inside housekeeping's 20 GB default
CLASS_NAME_MAX = 40  # characters: a label on a chart, and a folder name well inside any file system's limit
_HASH_CHARS = 32  # of the sha256 naming a set's folder: hex, as housekeeping expects, and unlike a zip's 20
_PHOTO_HASH_CHARS = 12
_VERIFY_DRAFT = (256, 256)  # as the zip path verifies: the whole stream is decoded, at a reduced JPEG scale
# Decoding is the server's CPU: a JPEG decodes at a reduced scale (draft), a PNG cannot, so a photo may
# decode to at most this many pixels (a 12 MP phone photo; 40 MP PNGs took ~0.45 s each), and one upload
# of many files at most MAX_UPLOAD_PIXELS (~1 s of one core), checked from the headers before any decoding.
MAX_PHOTO_PIXELS = 16_000_000
MAX_UPLOAD_PIXELS = 100_000_000


class PhotoSetError(DatasetError):
    """A class or photo that cannot be added or removed; the message says which and what to do."""


def check_class_name(name: str, existing: list[str] | tuple[str, ...] = ()) -> str:
    """``name`` tidied (outer spaces off), or PhotoSetError saying why it cannot be a class.

    The zip path's rules for a class folder name apply (no NUL, no ``..``, no absolute path, not hidden,
    not macOS metadata), plus: one folder (no slashes), no control characters, at most ``CLASS_NAME_MAX``
    characters, and unique among ``existing`` ignoring case (a case-insensitive disk would merge them).
    """
    clean = name.strip()
    if not clean:
        raise PhotoSetError("type a class name, e.g. 'cat' or 'thumbs up'")
    if len(clean) > CLASS_NAME_MAX:
        raise PhotoSetError(f"class name {clean[:CLASS_NAME_MAX]!r}... is {len(clean)} characters long; "
                            f"keep it to {CLASS_NAME_MAX}")
    if "/" in clean or "\\" in clean:
        raise PhotoSetError(f"class name {clean!r} has a slash; a class is one folder, so leave the slashes out")
    if any(unicodedata.category(ch) == "Cc" for ch in clean):
        raise PhotoSetError(f"class name {clean!r} has a control character (a tab or line break); "
                            "use letters, digits and spaces")
    try:
        parts = _check_member_name(clean)  # the zip path's own check of a path in an archive
    except DatasetError:
        parts = ()
    if parts != (clean,):  # ".", "..", "C:x"
        raise PhotoSetError(f"{clean!r} cannot be a folder name; choose a name made of letters or digits")
    why = skip_reason((clean, "photo.jpg"))  # what the zip path would skip: hidden or macOS metadata folders
    if why is not None or clean.casefold() == INDEX_FILE:
        raise PhotoSetError(f"a zip would skip a class folder called {clean!r} ({why or 'the index file name'}); "
                            "choose another name (not starting with '.')")
    taken = {c.casefold(): c for c in existing}
    if clean.casefold() in taken:
        raise PhotoSetError(f"there is already a class called {taken[clean.casefold()]!r}; "
                            "choose another name, or add photos to that one")
    return clean


class PhotoSet:
    """One browser's classes and photos, in a folder of class sub-folders (see the module doc)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_owner(cls, owner: str, home: str | Path | None = None) -> PhotoSet:
        """The set of ``owner`` (an owner id) under ``<home>/uploads/`` (default home: the data directory)."""
        digest = hashlib.sha256(f"photoset:{owner}".encode()).hexdigest()[:_HASH_CHARS]
        return cls((Path(home) if home is not None else home_dir()) / "uploads" / digest)

    # ----------------------------------------------------------------------- reading

    def classes(self) -> list[str]:
        """Class names, sorted (the order a zip's class folders get, and so the model's labels)."""
        try:
            entries = list(os.scandir(self.root))
        except OSError:  # not made yet, or removed by housekeeping: an empty set
            return []
        return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))

    def photos(self, class_name: str) -> list[Path]:
        """The photos of a class, oldest first (empty for an unknown class)."""
        try:
            entries = list(os.scandir(self.root / class_name))
        except OSError:
            return []
        return sorted((Path(e.path) for e in entries if e.is_file(follow_symlinks=False)
                       and skip_reason((class_name, e.name)) is None), key=lambda p: p.name)

    def counts(self) -> dict[str, int]:
        """Photos per class, in class order."""
        return {c: len(self.photos(c)) for c in self.classes()}

    def total_bytes(self) -> int:
        """Bytes the set's photos take on disk."""
        return sum(_size(p) for c in self.classes() for p in self.photos(c))

    def missing(self) -> list[str]:
        """What is still needed before training on the set, one short sentence each; empty when ready."""
        counts = self.counts()
        needs = []
        if len(counts) < 2:
            first = "a second class" if counts else "at least 2 classes"
            needs.append(f"add {first} (a classifier tells classes apart)")
        for name, n in counts.items():
            if n < MIN_PER_CLASS:
                more = MIN_PER_CLASS - n
                needs.append(f"class {name!r} has {n} photo{'' if n == 1 else 's'}: add {more} more "
                             f"(each class needs {MIN_PER_CLASS}: one to train on, one to validate with), "
                             "or remove the class")
        return needs

    def dataset(self) -> Dataset:
        """The set as a dataset, in the staged-upload format (``dataset.json`` written when it changed).

        Raises DatasetError (via :meth:`Dataset.check_trainable`, the trainer's own rule) unless every
        class has enough photos; :meth:`missing` says the same thing in the builder's words first."""
        classes = self.classes()
        items = [DatasetItem(f"{c}/{p.name}", label) for label, c in enumerate(classes) for p in self.photos(c)]
        ds = Dataset(root=self.root, name=PHOTOSET_NAME, classes=classes, items=items)
        if not classes:
            raise DatasetError(f"{PHOTOSET_NAME!r} has no classes yet; add at least 2 and take photos of each")
        if any(n == 0 for n in ds.counts().values()):  # check_trainable would drop it silently as "no images"
            empty = [c for c, n in ds.counts().items() if n == 0]
            raise DatasetError(f"class {empty[0]!r} has no photos; add at least {MIN_PER_CLASS} or remove the class")
        ds.check_trainable()
        try:
            same = load_dataset(self.root).to_dict() == ds.to_dict()
        except DatasetError:
            same = False
        if not same:  # rewritten only on a change: housekeeping counts the set's age from this file
            ds.save()
        return ds

    # ----------------------------------------------------------------------- changing

    def add_class(self, name: str) -> str:
        """Add an empty class; returns its tidied name. Raises PhotoSetError (bad, taken, too many)."""
        existing = self.classes()
        clean = check_class_name(name, existing)
        if len(existing) >= MAX_CLASSES:
            raise PhotoSetError(f"the set already has {len(existing)} classes (the limit is {MAX_CLASSES}); "
                                "remove one before adding another")
        (self.root / clean).mkdir(parents=True, exist_ok=True)
        return clean

    def remove_class(self, name: str) -> int:
        """Remove a class and its photos; returns how many photos went. Raises PhotoSetError if unknown."""
        folder = self._class_folder(name)
        n = len(self.photos(name))
        shutil.rmtree(folder, ignore_errors=True)
        return n

    def add_photo(self, class_name: str, data: bytes, filename: str) -> Path:
        """Check one image (bytes, as uploaded or shot) and keep it in ``class_name``; returns its path.

        ``filename`` is how messages name it, and its extension (one the zip path accepts) is kept.
        Raises PhotoSetError naming the file and the class: unknown class, not an image name, too big,
        undecodable, too many pixels or too long and thin (:func:`load_image`), a limit reached, or
        the same photo already in that class."""
        folder = self._class_folder(class_name)
        where = f"{filename!r} was not added to {class_name!r}"
        ext = PurePosixPath(filename).suffix.lower()
        if ext not in IMAGE_EXTENSIONS:
            raise PhotoSetError(f"{where}: not an image file name (use {', '.join(sorted(IMAGE_EXTENSIONS))})")
        if len(data) > MAX_PHOTO_BYTES:
            raise PhotoSetError(f"{where}: it is {len(data) / 2**20:.1f} MB, over the "
                                f"{MAX_PHOTO_BYTES // 2**20} MB limit for one photo; resize or recompress it")
        counts = self.counts()
        if counts.get(class_name, 0) >= MAX_PER_CLASS:
            raise PhotoSetError(f"{where}: the class has {MAX_PER_CLASS} photos, the most one class may have; "
                                "remove some first")
        if sum(counts.values()) >= MAX_PHOTOS:
            raise PhotoSetError(f"{where}: the set has {MAX_PHOTOS:,} photos, the most it may have; "
                                "remove some first")
        if self.total_bytes() + len(data) > MAX_SET_BYTES:
            raise PhotoSetError(f"{where}: the set would pass {MAX_SET_BYTES // 2**20} MB; remove some photos "
                                "or use smaller ones")
        try:
            load_image(data, name=filename, draft_size=_VERIFY_DRAFT, max_pixels=MAX_PHOTO_PIXELS)
        except ImageError as exc:
            raise PhotoSetError(f"{where}: {exc}") from None
        digest = hashlib.sha256(data).hexdigest()[:_PHOTO_HASH_CHARS]
        if any(p.stem.endswith(f"-{digest}") for p in self.photos(class_name)):
            raise PhotoSetError(f"{where}: the same photo is already in that class")
        target = folder / f"{time.time_ns():020d}-{digest}{ext}"
        # Written under a hidden name and renamed: a reader never sees half a photo (hidden files are skipped).
        tmp = folder / f".{target.name}.{os.getpid()}.tmp"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise PhotoSetError(f"{where}: the server could not store it ({exc.strerror or exc})") from None
        return target

    def add_photos(self, class_name: str, files: list[tuple[str, bytes]]) -> tuple[int, list[str]]:
        """:meth:`add_photo` for each (filename, bytes) of one upload, within MAX_UPLOAD_PIXELS of decoding
        (counted from the headers first: the files past the budget are not decoded at all); (added, the
        reason for each file not added)."""
        added, errors, budget = 0, [], MAX_UPLOAD_PIXELS
        for filename, data in files:
            pixels = decoded_pixels(data)
            if pixels > budget:
                errors.append(f"{filename!r} was not added to {class_name!r}: this upload already decodes "
                              f"{(MAX_UPLOAD_PIXELS - budget) / 1e6:.0f} of the {MAX_UPLOAD_PIXELS / 1e6:.0f} "
                              "megapixels one upload may; add it in another upload, or use smaller images")
                continue
            budget -= pixels
            try:
                self.add_photo(class_name, data, filename)
            except PhotoSetError as exc:  # one bad file does not stop the others
                errors.append(str(exc))
            else:
                added += 1
        return added, errors

    def remove_photo(self, class_name: str, photo: str) -> None:
        """Remove one photo (its file name, as :meth:`photos` lists it). Raises PhotoSetError if unknown."""
        folder = self._class_folder(class_name)
        if photo not in {p.name for p in self.photos(class_name)}:  # also keeps the name inside the folder
            raise PhotoSetError(f"class {class_name!r} has no photo {photo!r} (removed in another tab?)")
        with contextlib.suppress(FileNotFoundError):
            (folder / photo).unlink()

    def _class_folder(self, name: str) -> Path:
        if name not in self.classes():  # only existing sub-folders: a name can never reach outside the set
            raise PhotoSetError(f"there is no class called {name!r} (removed in another tab?); add it again")
        return self.root / name


def decoded_pixels(data: bytes) -> int:
    """Pixels that verifying ``data`` would decode, read from its header alone (a JPEG at its draft
    scale); 0 when the header cannot be read (:meth:`PhotoSet.add_photo` then says why)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format in ("JPEG", "MPO"):
                img.draft("RGB", _VERIFY_DRAFT)
            return int(img.width * img.height)
    except Exception:  # noqa: BLE001 - any unreadable header: load_image gives the message
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
