"""Zip uploads: the one place an uploaded archive is opened, and the datasets made from one.

A zip's entry list is checked (paths, symlinks, counts, sizes, compression
ratios) before a single byte is written, and only image files inside class
folders are extracted, by our own loop, never more bytes than an entry declares.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from playground.config import home_dir
from playground.finetune.data import (
    BUNDLED,
    IMAGE_EXTENSIONS,
    INDEX_FILE,
    MAX_ENTRIES,
    Dataset,
    DatasetError,
    ProgressFn,
    assign_classes,
    bundled,
    describe_skipped,
    from_folder,
    load_dataset,
    skip_reason,
    verify_images,
)

__all__ = [
    "MAX_ENTRIES",
    "MAX_TOTAL_BYTES",
    "MAX_RATIO",
    "RATIO_EXEMPT_BYTES",
    "from_zip",
    "stage_upload",
    "open_dataset",
]

MAX_TOTAL_BYTES = 2 * 1024**3
# Photos are already compressed, so a member that deflates more than 100x is
# almost certainly a decompression bomb. Members under 1 MiB are exempt: tiny
# files (a flat-colour PNG, a text file) can legitimately shrink a lot, and the
# entry and total-size caps bound them anyway.
MAX_RATIO = 100
RATIO_EXEMPT_BYTES = 1024**2
_COPY_CHUNK = 1024 * 1024
_ENCRYPTED_FLAG = 0x1  # bit 0 of a zip entry's general-purpose flags
_UNIX_MODE_SHIFT = 16  # a Unix file mode sits in the high 16 bits of external_attr
_UPLOAD_DIGEST_CHARS = 20  # of the sha256 that names a staged upload's folder
_Members = list[tuple[zipfile.ZipInfo, tuple[str, ...]]]


# --------------------------------------------------------------------------- entry checks


def _check_member_name(name: str) -> tuple[str, ...]:
    """Validate one zip member name; return its path parts. Raises DatasetError."""
    if "\x00" in name:
        raise DatasetError(f"zip entry {name!r} has a NUL byte in its name; the archive is not safe to open")
    norm = name.replace("\\", "/")  # some Windows tools write backslashes
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise DatasetError(f"zip entry {name!r} has an absolute path; refusing to extract it "
                           "(re-create the zip with relative paths)")
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    if ".." in parts:
        raise DatasetError(f"zip entry {name!r} points outside the archive ('..'); refusing to extract it "
                           "(re-create the zip from the class folders themselves)")
    return parts


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    """True when the member was stored as a Unix symlink."""
    return stat.S_ISLNK(info.external_attr >> _UNIX_MODE_SHIFT)


def _checked_members(zf: zipfile.ZipFile, label: str) -> _Members:
    """Check the whole entry list before anything is written; return (info, parts) for files."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise DatasetError(f"{label} has {len(infos):,} entries; the limit is {MAX_ENTRIES:,} "
                           "(split it into smaller zips)")
    total = 0
    files = []
    for info in infos:
        try:
            parts = _check_member_name(info.filename)
        except DatasetError as exc:  # say which upload it is, as every other message does
            raise DatasetError(f"{label}: {exc}") from None
        if _is_symlink(info):
            raise DatasetError(f"zip entry {info.filename!r} is a symbolic link; links are not allowed "
                               "(zip the files themselves)")
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise DatasetError(f"zip entry {info.filename!r} is password-protected; upload an unencrypted zip")
        if info.is_dir() or not parts:
            continue
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise DatasetError(
                f"{label} unpacks to more than {MAX_TOTAL_BYTES / 1024**3:.0f} GB; "
                "the limit keeps the server's disk safe "
                "(use fewer or smaller images)"
            )
        if info.file_size > RATIO_EXEMPT_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise DatasetError(
                f"zip entry {info.filename!r} expands {ratio:,.0f}x (limit {MAX_RATIO}x): it looks like a "
                "decompression bomb, not an image"
            )
        files.append((info, parts))
    return files


def _candidates(members: _Members, skipped: Counter) -> dict[tuple[str, ...], zipfile.ZipInfo]:
    """The members that may be images (path parts -> entry); the others are counted in ``skipped``."""
    candidates: dict[tuple[str, ...], zipfile.ZipInfo] = {}
    for info, parts in members:
        why = skip_reason(parts)
        if why:
            skipped[why] += 1
        elif parts in candidates:
            skipped["duplicate entries"] += 1
        else:
            candidates[parts] = info
    return candidates


# --------------------------------------------------------------------------- extraction


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, root: Path) -> None:
    """Copy one member to ``target`` (which must lie inside ``root``), never more bytes than declared."""
    resolved = target.resolve()
    if not resolved.is_relative_to(root.resolve()):  # belt and braces after the name checks
        raise DatasetError(f"zip entry {info.filename!r} would be written outside the dataset folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zf.open(info) as src, open(target, "xb") as dst:
        while chunk := src.read(_COPY_CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise DatasetError(f"zip entry {info.filename!r} is larger than its header says; the zip is corrupt")
            dst.write(chunk)


def _extract_all(zf: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, str]], dest: Path, label: str) -> None:
    """Extract (entry, path below ``dest``) pairs into an empty ``dest``; on failure leave nothing behind."""
    # The outermost folder this call creates: removed again if extraction fails.
    created = next((p for p in reversed((dest, *dest.parents)) if not p.exists()), None)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise DatasetError(f"{dest} is not empty; extract into a new folder")
    try:
        for info, rel in members:
            _extract_member(zf, info, dest / rel, dest)
    except (DatasetError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        shutil.rmtree(created or dest, ignore_errors=True)
        if created is None:
            dest.mkdir()
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{label!r} is damaged ({exc}); re-create the zip and upload it again") from None


def _open_zip(source: str | Path | BinaryIO, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise DatasetError(f"{label!r} is not a readable zip file ({exc}); upload a .zip of class folders") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {label!r}: {exc.strerror or exc}") from None


def from_zip(
    source: str | Path | bytes | BinaryIO,
    dest: str | Path,
    *,
    name: str | None = None,
    on_progress: ProgressFn | None = None,
) -> Dataset:
    """Safely extract a zip of class folders into ``dest`` and check every image.

    ``dest`` must not exist yet or be empty; nothing is written anywhere else.
    Raises DatasetError for an unsafe or unusable archive.
    """
    label = name or (Path(source).name if isinstance(source, (str, Path)) else "the upload")
    dest = Path(dest)
    with _open_zip(io.BytesIO(source) if isinstance(source, bytes) else source, label) as zf:
        skipped: Counter = Counter()
        candidates = _candidates(_checked_members(zf, repr(label)), skipped)
        classes, assigned = assign_classes(candidates, skipped)
        if not assigned:
            raise DatasetError(
                f"{label!r} contains no images inside class folders ({describe_skipped(skipped)}); "
                f"expected e.g. cats/1.jpg, dogs/2.jpg with extensions {', '.join(sorted(IMAGE_EXTENSIONS))}"
            )
        _extract_all(zf, [(candidates[parts], rel) for parts, rel in assigned], dest, label)
    dataset = verify_images(dest, label, classes, [rel for _, rel in assigned], skipped, on_progress)
    dataset.save()
    return dataset


# --------------------------------------------------------------------------- uploads and DATA


def stage_upload(data: bytes, filename: str, *, on_progress: ProgressFn | None = None) -> Dataset:
    """Extract and check an uploaded zip once, under ``<home>/uploads/<content hash>``.

    Uploading the same bytes again reuses the earlier result.
    """
    digest = hashlib.sha256(data).hexdigest()[:_UPLOAD_DIGEST_CHARS]
    root = home_dir() / "uploads" / digest
    if not (root / INDEX_FILE).exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=root.parent))
        try:
            from_zip(data, scratch, name=filename, on_progress=on_progress)
            with contextlib.suppress(OSError):  # another session staged the same bytes first: use theirs
                scratch.replace(root)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    ds = load_dataset(root)
    ds.name = filename
    return ds


def open_dataset(source: str | Path, *, on_progress: ProgressFn | None = None) -> tuple[Dataset, Callable[[], None]]:
    """Open what the command line calls DATA: a bundled name, a .zip file or a folder.

    Returns (dataset, cleanup): a zip is extracted into a temporary folder that
    ``cleanup()`` removes; for the other kinds cleanup does nothing.
    """
    text = str(source)
    path = Path(source)
    if text in BUNDLED and not path.exists():
        return bundled(text, on_progress=on_progress), lambda: None
    if path.is_dir():
        return from_folder(path, on_progress=on_progress), lambda: None
    if not path.exists():
        raise DatasetError(
            f"{text!r} is neither a file, a folder nor a bundled dataset ({', '.join(BUNDLED)})"
        )
    tmp = Path(tempfile.mkdtemp(prefix="playground-data-"))
    try:
        ds = from_zip(path, tmp / "data", name=path.name, on_progress=on_progress)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ds, lambda: shutil.rmtree(tmp, ignore_errors=True)
