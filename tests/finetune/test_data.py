"""Datasets: safe zip extraction, layout rules, clear errors, bundled digits, stratified splits."""
from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.finetune import archive
from playground.finetune import data as datasets
from playground.finetune.archive import from_zip
from playground.finetune.data import DatasetError
from tests.support.finetune_data import make_zip, png_bytes


def _all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _assert_rejected(tmp_path: Path, data: bytes, match: str) -> None:
    """The zip is refused with ``match`` in the message and nothing at all is written."""
    before = _all_files(tmp_path)
    with pytest.raises(DatasetError, match=match):
        from_zip(data, tmp_path / "job" / "data", name="upload.zip")
    assert _all_files(tmp_path) == before
    assert not (tmp_path / "job").exists()


# --------------------------------------------------------------------------- good archives


def test_zip_with_top_folder_junk_and_a_broken_image(tmp_path: Path) -> None:
    data = make_zip({
        "pets/cats/a.png": png_bytes(10),
        "pets/cats/b.PNG": png_bytes(20),
        "pets/dogs/c.png": png_bytes(30),
        "pets/dogs/d.png": png_bytes(40),
        "pets/dogs/broken.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
        "pets/dogs/notes.txt": b"hello",
        "pets/.DS_Store": b"\0\0",
        "pets/cats/.hidden.png": png_bytes(),
        "__MACOSX/pets/cats/._a.png": b"\0",
        "pets/loose.png": png_bytes(),
    })
    ds = from_zip(data, tmp_path / "data", name="pets.zip")
    assert ds.classes == ["cats", "dogs"]
    assert ds.counts() == {"cats": 2, "dogs": 2}
    assert [b[0] for b in ds.bad] == ["dogs/broken.jpg"]
    assert "broken.jpg" in ds.bad[0][1]
    assert ds.skipped == {"non-image files": 1, "hidden files": 2, "macOS metadata files": 1,
                          "files outside class folders": 1}
    # Only the candidate images were written, below the class folders, plus the index.
    assert _all_files(tmp_path / "data") == {
        "cats/a.png", "cats/b.PNG", "dogs/c.png", "dogs/d.png", "dogs/broken.jpg", "dataset.json"}
    again = datasets.load_dataset(tmp_path / "data")
    assert again.to_dict() == ds.to_dict()
    ds.check_trainable()


def test_zip_with_class_folders_at_the_top_and_nested_files(tmp_path: Path) -> None:
    data = make_zip({"a/1.png": png_bytes(), "a/sub/2.png": png_bytes(), "b/3.png": png_bytes(),
                     "b/4.png": png_bytes(), "a/1.png/": b""})
    ds = from_zip(data, tmp_path / "d")
    assert ds.counts() == {"a": 2, "b": 2}
    assert (tmp_path / "d" / "a" / "sub" / "2.png").is_file()


def test_duplicate_entries_are_skipped_not_overwritten(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a/1.png", png_bytes(1))
        with pytest.warns(UserWarning):
            zf.writestr("a/1.png", png_bytes(2))
        zf.writestr("b/2.png", png_bytes(3))
    ds = from_zip(buf.getvalue(), tmp_path / "d")
    assert ds.skipped == {"duplicate entries": 1}
    assert (tmp_path / "d" / "a" / "1.png").read_bytes() == png_bytes(1)


def test_folder_dataset_is_checked_in_place(tmp_path: Path) -> None:
    for rel in ("top/x/1.png", "top/x/2.png", "top/y/3.png", "top/y/4.png", "top/y/.5.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(png_bytes())
    (tmp_path / "top" / "y" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    before = _all_files(tmp_path)
    ds = datasets.from_folder(tmp_path)
    assert ds.classes == ["x", "y"] and ds.counts() == {"x": 2, "y": 2}
    assert ds.root == tmp_path / "top" and ds.path(ds.items[0]).is_file()
    assert [b[0] for b in ds.bad] == ["y/bad.png"] and ds.skipped == {"hidden files": 1}
    assert _all_files(tmp_path) == before  # nothing written


# --------------------------------------------------------------------------- unsafe archives


@pytest.mark.parametrize("name, match", [
    ("../evil.png", r"^'upload.zip': zip entry '../evil.png' points outside the archive .*re-create the zip"),
    ("a/../../evil.png", r"outside the archive"),
    ("..\\evil.png", r"outside the archive"),
    ("/tmp/evil.png", r"^'upload.zip': zip entry '/tmp/evil.png' has an absolute path"),
    ("C:/evil.png", r"absolute path"),
])
def test_zip_slip_is_refused_before_anything_is_written(tmp_path: Path, name: str, match: str) -> None:
    data = make_zip({"a/1.png": png_bytes(), "b/2.png": png_bytes(), name: png_bytes()})
    _assert_rejected(tmp_path, data, match)


def test_symlink_entries_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a/1.png", png_bytes())
        link = zipfile.ZipInfo("a/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    _assert_rejected(tmp_path, buf.getvalue(), r"symbolic link")


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    bomb = b"\0" * (8 * 1024 * 1024)  # deflates ~1000x
    data = make_zip({"a/1.png": png_bytes(), "b/bomb.png": bomb})
    assert len(data) < 100_000
    _assert_rejected(tmp_path, data, r"expands .*x \(limit 100x\).*decompression bomb")


def test_entry_count_and_total_size_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_zip({f"c{i % 2}/{i}.png": png_bytes(i) for i in range(6)})
    monkeypatch.setattr(archive, "MAX_ENTRIES", 5)
    _assert_rejected(tmp_path, data, r"6 entries; the limit is 5")
    monkeypatch.setattr(archive, "MAX_ENTRIES", 20_000)
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", len(png_bytes()) * 3)
    _assert_rejected(tmp_path, data, r"unpacks to more than")


def overlap_bomb(entries: int, member_bytes: int = 1_000_000) -> bytes:
    """A "quoted overlap" zip bomb (David Fifield, "A better zip bomb", 2019), written byte by byte.

    One deflate stream of ``member_bytes`` sparse bytes (the kernel, ~50x smaller deflated) ends the
    file. Entry i's data is a stored deflate block quoting entry i+1's local header, then entry i+1's
    data: every entry is a valid member under 1 MiB with a believable compression ratio, yet they all
    share the one kernel, so the zip unpacks to about ``entries`` times its size.
    """
    payload = (np.random.default_rng(0).random(member_bytes) < 0.02).astype(np.uint8).tobytes()
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel = deflate.compress(payload) + deflate.flush()
    names = [f"{'ab'[i % 2]}/{i:04d}.png".encode() for i in range(entries)]
    headers: list[bytes] = [b""] * entries
    infos: list[tuple[int, int, int]] = [(0, 0, 0)] * entries  # (crc, compressed size, size)
    for i in reversed(range(entries)):  # each header needs the CRC and sizes of everything after it
        later = b"".join(headers[i + 1:])
        content = later + payload  # what entry i inflates to: the quoted headers, then the kernel's bytes
        packed = sum(5 + len(h) for h in headers[i + 1:]) + len(kernel)
        infos[i] = (zlib.crc32(content), packed, len(content))
        headers[i] = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, 0, 0x21, *infos[i],
                                 len(names[i]), 0) + names[i]
    body, offsets = b"", []
    for i, header in enumerate(headers):
        offsets.append(len(body))
        body += header
        if i + 1 < entries:  # a non-final stored block whose payload is the next entry's header
            quoted = len(headers[i + 1])
            body += struct.pack("<BHH", 0, quoted, quoted ^ 0xFFFF)
    body += kernel
    directory = b"".join(
        struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, 8, 0, 0x21, *infos[i], len(names[i]),
                    0, 0, 0, 0, 0, offsets[i]) + names[i] for i in range(entries))
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, len(directory), len(body), 0)
    return body + directory + end


def test_overlap_bomb_is_a_real_zip_that_multiplies() -> None:
    """The bomb is what it claims: Python's zipfile reads every entry, each with a good CRC."""
    data = overlap_bomb(6, member_bytes=100_000)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        sizes = [len(zf.read(info)) for info in infos]  # raises on a bad CRC
    assert len(sizes) == 6 and min(sizes) >= 100_000 and sum(sizes) > 100 * len(data)
    assert max(i.file_size / i.compress_size for i in infos) < archive.MAX_RATIO  # each entry looks honest


def test_overlapping_entries_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    data = overlap_bomb(40)  # 32 KB that unpacks to 40 MB (before: all written to disk)
    assert len(data) < 40_000
    _assert_rejected(tmp_path, data, r"^'upload.zip': zip entries 'a/0000.png' and 'b/0001.png' overlap")


def test_every_member_gets_the_ratio_check(tmp_path: Path) -> None:
    """Small members were once exempt: 500 KB of zeros (~500 bytes deflated) per entry passed."""
    data = make_zip({"a/1.png": png_bytes(), "a/2.png": bytes(500_000), "b/3.png": png_bytes()})
    _assert_rejected(tmp_path, data, r"'a/2.png' expands .*x \(limit 100x\)")
    # ...while a tiny file that shrinks a lot is fine (the slack), and so are ordinary images
    ds = from_zip(make_zip({"a/1.png": png_bytes(), "a/2.png": png_bytes(), "b/3.png": png_bytes(),
                            "b/4.bmp": bytes(2_000)}), tmp_path / "ok")
    assert ds.counts() == {"a": 2, "b": 1} and [b[0] for b in ds.bad] == ["b/4.bmp"]


def test_bytes_written_are_counted_whatever_the_headers_say(tmp_path: Path) -> None:
    """The running total stops extraction at the cap, and removes what it wrote."""
    noise = np.random.default_rng(0).integers(0, 256, (4, 32, 32), dtype=np.uint8)
    data = make_zip({f"{c}/{i}.bin": noise[i].tobytes() for i in range(4) for c in "ab"})  # 1 KiB each
    members = [(info, info.filename) for info in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    with zipfile.ZipFile(io.BytesIO(data)) as zf, pytest.raises(DatasetError, match=r"unpacks to more than 3 KB"):
        archive._extract_all(zf, members, tmp_path / "out", "upload.zip", max_bytes=3 * 1024)
    assert not (tmp_path / "out").exists()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        exact = sum(info.file_size for info, _ in members)
        archive._extract_all(zf, members, tmp_path / "out", "upload.zip", max_bytes=exact)
    assert len(_all_files(tmp_path / "out")) == 8


def test_encrypted_entries_are_refused(tmp_path: Path) -> None:
    data = bytearray(make_zip({"a/1.png": png_bytes(), "b/2.png": png_bytes()}))
    # Set the "encrypted" flag bit in every central-directory record (signature PK\1\2, flags at +8).
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        data[pos + 8] |= 1
        pos = data.find(b"PK\x01\x02", pos + 4)
    _assert_rejected(tmp_path, bytes(data), r"password-protected")


def test_damaged_member_leaves_nothing_behind(tmp_path: Path) -> None:
    data = bytearray(make_zip({"a/1.png": png_bytes(1), "b/2.png": png_bytes(2) * 20}))
    start = data.find(b"b/2.png") + len("b/2.png")  # the local header's name, then the deflated bytes
    data[start + 5 : start + 25] = bytes(20)
    _assert_rejected(tmp_path, bytes(data), r"'upload.zip' is damaged \(")


def test_not_a_zip(tmp_path: Path) -> None:
    _assert_rejected(tmp_path, png_bytes(), r"'upload.zip' is not a readable zip file")


def test_zip_without_images(tmp_path: Path) -> None:
    _assert_rejected(tmp_path, make_zip({"a/readme.txt": b"x", "b/.png": b""}),
                     r"no images inside class folders \(skipped 1 non-image files, 1 hidden files\)")


# --------------------------------------------------------------------------- unusable datasets


def test_one_class(tmp_path: Path) -> None:
    ds = from_zip(make_zip({"cats/1.png": png_bytes(), "cats/2.png": png_bytes()}), tmp_path / "d")
    with pytest.raises(DatasetError, match=r"1 class folder\(s\); a classifier needs at least 2"):
        ds.check_trainable()


def test_class_with_one_image(tmp_path: Path) -> None:
    ds = from_zip(make_zip({"cats/1.png": png_bytes(), "cats/2.png": png_bytes(), "dogs/3.png": png_bytes()}),
                  tmp_path / "d")
    with pytest.raises(DatasetError, match=r"class 'dogs' \(1\) has fewer than 2 usable images"):
        ds.check_trainable()


def test_nothing_decodable(tmp_path: Path) -> None:
    ds = from_zip(make_zip({"a/1.jpg": b"junk", "b/2.png": b"junk"}), tmp_path / "d")
    assert ds.items == [] and ds.classes == [] and len(ds.bad) == 2
    with pytest.raises(DatasetError, match=r"none of the 2 images in .* could be decoded \(e\.g\. a/1\.jpg: "):
        ds.check_trainable()


def test_a_class_of_only_broken_images_disappears(tmp_path: Path) -> None:
    ds = from_zip(make_zip({"a/1.png": png_bytes(), "a/2.png": png_bytes(), "b/x.png": b"junk",
                            "c/3.png": png_bytes(), "c/4.png": png_bytes()}), tmp_path / "d")
    assert ds.classes == ["a", "c"] and ds.counts() == {"a": 2, "c": 2}
    assert {ds.classes[it.label] for it in ds.items if it.path.startswith("c/")} == {"c"}


# --------------------------------------------------------------------------- bundled, staging, links


def test_bundled_digits_are_sklearns_digits() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    ds = datasets.bundled("digits")
    assert ds.classes == [str(i) for i in range(10)] and len(ds.items) == len(digits.target) == 1797
    assert not ds.bad
    for item in ds.items:  # file i sits in the folder of its sklearn label
        assert int(ds.classes[item.label]) == digits.target[int(Path(item.path).stem)]
    from playground.images import load_image

    img = np.asarray(load_image(ds.path(ds.items[0])).convert("L"), dtype=float)  # (32, 32)
    ink = 255 - img.reshape(8, 4, 8, 4).mean(axis=(1, 3))  # back to the 8x8 grid
    assert np.corrcoef(ink.ravel(), digits.images[0].ravel())[0, 1] > 0.9
    assert datasets.bundled("digits").to_dict() == ds.to_dict()  # second call reads the cache


def test_unknown_bundled_name() -> None:
    with pytest.raises(DatasetError, match=r"no bundled dataset called 'mnist'; choose one of: digits"):
        datasets.bundled("mnist")


def test_stage_upload_reuses_the_same_bytes_and_links_into_a_job(tmp_path: Path) -> None:
    data = make_zip({"a/1.png": png_bytes(1), "a/2.png": png_bytes(2), "b/3.png": png_bytes(3),
                     "b/4.png": png_bytes(4)})
    first = archive.stage_upload(data, "mine.zip")
    second = archive.stage_upload(data, "renamed.zip")
    assert first.root == second.root and second.name == "renamed.zip"
    copy = datasets.link_dataset(first, tmp_path / "job" / "data")
    assert datasets.load_dataset(tmp_path / "job" / "data").items == first.items
    src, dst = first.path(first.items[0]), copy.path(copy.items[0])
    assert os.path.samefile(src, dst) or src.read_bytes() == dst.read_bytes()


@pytest.mark.parametrize("entries, match", [
    ({"cats/1.png": png_bytes(), "cats/2.png": png_bytes()}, r"1 class folder"),  # one class
    ({"a/1.png": b"junk", "b/2.png": b"junk"}, r"none of the 2 images"),  # nothing decodes
])
def test_a_refused_upload_leaves_nothing_in_uploads(tmp_path: Path, entries: dict[str, bytes], match: str) -> None:
    from playground.paths import home_dir

    with pytest.raises(DatasetError, match=match):
        archive.stage_upload(make_zip(entries), "mine.zip")
    uploads = home_dir() / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_open_dataset_accepts_names_zips_and_folders(tmp_path: Path) -> None:
    ds, cleanup = archive.open_dataset("digits")
    assert len(ds.classes) == 10
    cleanup()
    zpath = tmp_path / "two.zip"
    zpath.write_bytes(make_zip({"a/1.png": png_bytes(), "b/2.png": png_bytes()}))
    ds, cleanup = archive.open_dataset(zpath)
    assert ds.counts() == {"a": 1, "b": 1} and ds.root.is_dir()
    cleanup()
    assert not ds.root.exists()
    with pytest.raises(DatasetError, match=r"neither a file, a folder nor a bundled dataset"):
        archive.open_dataset(tmp_path / "missing")


# --------------------------------------------------------------------------- split


def _fake(labels: list[int]) -> datasets.Dataset:
    classes = [f"c{i}" for i in range(max(labels) + 1)]
    items = [datasets.DatasetItem(f"{i}.png", lbl) for i, lbl in enumerate(labels)]
    return datasets.Dataset(Path("."), "fake", classes, items)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(2, 40), min_size=2, max_size=6), frac=st.floats(0.05, 0.95), seed=st.integers(0, 99))
def test_split_is_stratified_disjoint_and_seeded(sizes: list[int], frac: float, seed: int) -> None:
    ds = _fake([c for c, n in enumerate(sizes) for _ in range(n)])
    split = datasets.stratified_split(ds, frac, seed)
    assert sorted(split.train + split.val) == list(range(len(ds.items)))
    val_counts = Counter(ds.items[i].label for i in split.val)
    for c, n in enumerate(sizes):
        assert val_counts[c] == min(max(1, round(n * frac)), n - 1)  # every class on both sides
    assert datasets.stratified_split(ds, frac, seed) == split


def test_split_depends_on_the_seed() -> None:
    ds = _fake([c for c in range(3) for _ in range(30)])
    assert datasets.stratified_split(ds, 0.2, 1) != datasets.stratified_split(ds, 0.2, 2)
    with pytest.raises(DatasetError, match="between 0 and 1"):
        datasets.stratified_split(ds, 1.0, 0)
