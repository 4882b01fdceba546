"""Zip uploads: the one place an uploaded archive is opened, and the datasets made from one.

A zip's entry list is checked (paths, symlinks, counts, sizes, compression
ratios, and that no two entries share bytes of the file) before a single byte is
written, and only image files inside class folders are extracted, by our own
loop, never more bytes than an entry declares nor more than the archive's cap in
all, whatever the headers claim.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

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
from playground.paths import home_dir

__all__ = [
    "MAX_ENTRIES",
    "MAX_TOTAL_BYTES",
    "MAX_RATIO",
    "RATIO_SLACK_BYTES",
    "from_zip",
    "stage_upload",
    "STAGING_PREFIX",
    "open_dataset",
]

MAX_TOTAL_BYTES = 2 * 1024**3
# Photos are already compressed, so a member that deflates more than 100x is
# almost certainly a decompression bomb. The check applies to every member (a
# 1 MiB exemption once let 2,000 small entries write 2 GB); the few KiB of slack
# only let a tiny file (a 4 KiB flat-colour image, a text file) shrink a lot,
# and cost at most MAX_ENTRIES x 4 KiB = 80 MB in all.
MAX_RATIO = 100
RATIO_SLACK_BYTES = 4 * 1024
_COPY_CHUNK = 1024 * 1024
_ENCRYPTED_FLAG = 0x1  # bit 0 of a zip entry's general-purpose flags
_UNIX_MODE_SHIFT = 16  # a Unix file mode sits in the high 16 bits of external_attr
_UPLOAD_DIGEST_CHARS = 20  # of the sha256 that names a staged upload's folder
STAGING_PREFIX = "."  # an upload being extracted: uploads/.<hash>-<random>, renamed to uploads/<hash> when good
# A local file header: signature, versions, flags, method, time, date, CRC, sizes, name and extra lengths.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
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
                f"{label} unpacks to more than {_size_text(MAX_TOTAL_BYTES)}; "
                "the limit keeps the server's disk safe "
                "(use fewer or smaller images)"
            )
        if info.file_size > MAX_RATIO * info.compress_size + RATIO_SLACK_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            raise DatasetError(
                f"zip entry {info.filename!r} expands {ratio:,.0f}x (limit {MAX_RATIO}x): it looks like a "
                "decompression bomb, not an image"
            )
        files.append((info, parts))
    _check_no_overlap(zf, [info for info, _ in files], label)
    return files


def _check_no_overlap(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], label: str) -> None:
    """Refuse entries that share bytes of the file: the trick of overlapping zip bombs.

    An honest zip stores each member once: local header, then its compressed data, one after the
    other, all before the central directory. David Fifield's bombs point many directory entries
    into one deflate stream (each "quoting" the next entry's header), so 23 KB unpacks to 200 MB
    with every single entry looking modest. Each entry's extent is read from its own local header.
    """
    fp = zf.fp
    if fp is None:
        return
    extents = []
    for info in infos:
        fp.seek(info.header_offset)
        raw = fp.read(_LOCAL_HEADER.size)
        if len(raw) != _LOCAL_HEADER.size or raw[:4] != _LOCAL_SIGNATURE:
            raise DatasetError(f"{label}: zip entry {info.filename!r} has no valid local header; "
                               "the zip is damaged (re-create it and upload it again)")
        fields = _LOCAL_HEADER.unpack(raw)
        end = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1] + info.compress_size
        extents.append((info.header_offset, end, info.filename))
    extents.sort()
    for (_, end, name), (start, _, other) in zip(extents, extents[1:]):
        if start < end:
            raise DatasetError(
                f"{label}: zip entries {name!r} and {other!r} overlap (they share compressed bytes): "
                "that is how zip bombs multiply their size; re-create the zip with an ordinary zip tool"
            )
    if extents and extents[-1][1] > zf.start_dir:
        raise DatasetError(f"{label}: zip entry {extents[-1][2]!r} runs into the zip's directory; "
                           "the zip is damaged (re-create it and upload it again)")


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


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, root: Path, budget: int) -> int:
    """Copy one member to ``target`` (which must lie inside ``root``), never more bytes than declared
    nor more than ``budget``; returns the bytes written."""
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
            if written > budget:  # counted, not trusted: whatever the headers claim, the disk sees this
                raise _OverBudget
            dst.write(chunk)
    return written


class _OverBudget(Exception):
    """Extraction reached the archive's byte cap."""


def _extract_all(zf: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, str]], dest: Path, label: str,
                 max_bytes: int | None = None) -> None:
    """Extract (entry, path below ``dest``) pairs into an empty ``dest``; on failure leave nothing behind.

    At most ``max_bytes`` (default ``MAX_TOTAL_BYTES``) are written in all, counted as they are written."""
    budget = MAX_TOTAL_BYTES if max_bytes is None else max_bytes
    # The outermost folder this call creates: removed again if extraction fails.
    created = next((p for p in reversed((dest, *dest.parents)) if not p.exists()), None)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise DatasetError(f"{dest} is not empty; extract into a new folder")
    try:
        for info, rel in members:
            budget -= _extract_member(zf, info, dest / rel, dest, budget)
    except (DatasetError, _OverBudget, zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        shutil.rmtree(created or dest, ignore_errors=True)
        if created is None:
            dest.mkdir()
        if isinstance(exc, DatasetError):
            raise
        if isinstance(exc, _OverBudget):
            cap = MAX_TOTAL_BYTES if max_bytes is None else max_bytes
            raise DatasetError(f"{label!r} unpacks to more than {_size_text(cap)}; the limit keeps the server's "
                               "disk safe (use fewer or smaller images)") from None
        raise DatasetError(f"{label!r} is damaged ({exc}); re-create the zip and upload it again") from None


def _size_text(n: int) -> str:
    """'2 GB', '300 MB', '12 KB' (binary units, as the limits are set)."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.0f} {unit}"
    return f"{n} bytes"


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

    Uploading the same bytes again reuses the earlier result. Only a dataset that can be trained on
    is kept: an unusable one (unsafe, undecodable, a single class...) raises DatasetError and leaves
    nothing in ``uploads/`` (a refused upload must not cost the server disk). Interrupted stagings
    (``uploads/.<hash>-*``) are swept by :mod:`playground.housekeeping`.
    """
    digest = hashlib.sha256(data).hexdigest()[:_UPLOAD_DIGEST_CHARS]
    root = home_dir() / "uploads" / digest
    if not (root / INDEX_FILE).exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{digest}-", dir=root.parent))
        try:
            from_zip(data, scratch, name=filename, on_progress=on_progress).check_trainable()
            with contextlib.suppress(OSError):  # another session staged the same bytes first: use theirs
                scratch.replace(root)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):  # used again: housekeeping counts its age from now
            os.utime(root / INDEX_FILE)
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
