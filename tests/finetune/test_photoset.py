"""A class set made photo by photo: class names as the zip path allows them, photos checked as uploads
are, limits with clear messages, kept on disk per owner, and staged exactly as an extracted zip."""
from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from playground.finetune import photoset
from playground.finetune.archive import from_zip
from playground.finetune.data import INDEX_FILE, DatasetError, link_dataset, load_dataset, stratified_split
from playground.finetune.photoset import PHOTOSET_NAME, PhotoSet, PhotoSetError, check_class_name
from playground.housekeeping import RetentionPolicy, apply_retention
from tests.support.finetune_data import make_zip, png_bytes


def jpeg_bytes(value: int, size: tuple[int, int] = (16, 12)) -> bytes:
    """A small valid JPEG (what st.camera_input sends)."""
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture()
def photos(tmp_path: Path) -> PhotoSet:
    return PhotoSet.for_owner("owner-a", tmp_path)


# --------------------------------------------------------------------------- class names


@pytest.mark.parametrize("name", ["cat", "thumbs up", "Café au lait", "7", "a.b", "日本"])
def test_names_a_zip_accepts_as_class_folders_are_accepted(name: str, tmp_path: Path) -> None:
    assert check_class_name(f"  {name} ") == name
    # ...and a zip with a folder of that name makes a class of exactly that name: the two sources agree.
    ds = from_zip(make_zip({f"{name}/1.png": png_bytes(1), "other/2.png": png_bytes(2)}), tmp_path / "z")
    assert name in ds.classes


@pytest.mark.parametrize(("name", "match"), [
    ("", "type a class name"),
    ("   ", "type a class name"),
    ("a/b", "has a slash"),
    ("a\\b", "has a slash"),
    ("..", "cannot be a folder name"),
    (".", "cannot be a folder name"),
    (".hidden", r"a zip would skip a class folder called '\.hidden' \(hidden files\)"),
    ("__MACOSX", r"\(macOS metadata files\)"),
    ("dataset.json", "the index file name"),
    ("tab\there", "control character"),
    ("nul\x00", "control character"),
    ("x" * 41, "is 41 characters long; keep it to 40"),
])
def test_bad_class_names_are_refused_with_the_reason(name: str, match: str) -> None:
    with pytest.raises(PhotoSetError, match=match):
        check_class_name(name)


def test_class_names_are_unique_ignoring_case(photos: PhotoSet) -> None:
    photos.add_class("Cat")
    with pytest.raises(PhotoSetError, match="there is already a class called 'Cat'"):
        photos.add_class("cat")
    assert photos.classes() == ["Cat"]


def test_the_number_of_classes_is_capped(photos: PhotoSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photoset, "MAX_CLASSES", 2)
    photos.add_class("a")
    photos.add_class("b")
    with pytest.raises(PhotoSetError, match="already has 2 classes \\(the limit is 2\\); remove one"):
        photos.add_class("c")


# --------------------------------------------------------------------------- photos


def test_photos_are_kept_on_disk_per_owner_in_the_order_taken(tmp_path: Path, photos: PhotoSet) -> None:
    assert photos.classes() == [] and photos.counts() == {}  # nothing on disk yet: an empty set
    photos.add_class("dog")
    photos.add_class("cat")
    first = photos.add_photo("cat", jpeg_bytes(10), "camera.jpg")
    second = photos.add_photo("cat", png_bytes(20), "Garfield.PNG")
    assert first.parent == second.parent == photos.root / "cat" and second.suffix == ".png"
    again = PhotoSet.for_owner("owner-a", tmp_path)  # a reload, another tab, a restarted server
    assert again.root == photos.root and again.root.parent == tmp_path / "uploads"
    assert again.counts() == {"cat": 2, "dog": 0}  # sorted, as a zip's class folders are
    assert again.photos("cat") == [first, second]
    assert PhotoSet.for_owner("owner-b", tmp_path).classes() == []  # another browser has its own set


@pytest.mark.parametrize(("data", "filename", "match"), [
    (b"not an image", "notes.png", r"'notes\.png' was not added to 'cat': notes\.png: not a JPEG, PNG"),
    (b"", "empty.jpg", "'empty.jpg' was not added to 'cat': empty.jpg: the file is empty"),
    (jpeg_bytes(1, (64, 64))[:-300], "cut.jpg", "'cut.jpg' was not added to 'cat': cut.jpg: .*truncated"),
    (jpeg_bytes(1, (420, 20)), "strip.jpg", r"strip\.jpg: 420x20 is too long and thin \(21:1; the limit is 20:1\)"),
    (png_bytes(1), "photo.txt", r"'photo\.txt' was not added to 'cat': not an image file name \(use \.bmp"),
])
def test_a_bad_photo_is_refused_naming_the_file_and_the_class(photos: PhotoSet, data: bytes, filename: str,
                                                              match: str) -> None:
    photos.add_class("cat")
    with pytest.raises(PhotoSetError, match=match):
        photos.add_photo("cat", data, filename)
    assert photos.photos("cat") == [] and not [p for p in (photos.root / "cat").iterdir()]  # no debris


def test_duplicates_unknown_classes_and_limits(photos: PhotoSet, monkeypatch: pytest.MonkeyPatch) -> None:
    photos.add_class("cat")
    photos.add_class("dog")
    photos.add_photo("cat", png_bytes(1), "a.png")
    with pytest.raises(PhotoSetError, match="'b.png' was not added to 'cat': the same photo is already in that"):
        photos.add_photo("cat", png_bytes(1), "b.png")
    photos.add_photo("dog", png_bytes(1), "a.png")  # the same picture in another class is the user's call
    with pytest.raises(PhotoSetError, match="there is no class called 'cow'"):
        photos.add_photo("cow", png_bytes(2), "c.png")
    with pytest.raises(PhotoSetError, match="there is no class called '..'"):
        photos.add_photo("..", png_bytes(2), "c.png")  # nothing outside the set's own class folders

    monkeypatch.setattr(photoset, "MAX_PER_CLASS", 2)
    photos.add_photo("cat", png_bytes(2), "c.png")
    with pytest.raises(PhotoSetError, match="the class has 2 photos, the most one class may have; remove some"):
        photos.add_photo("cat", png_bytes(3), "d.png")
    monkeypatch.setattr(photoset, "MAX_PHOTOS", 3)
    with pytest.raises(PhotoSetError, match="the set has 3 photos, the most it may have"):
        photos.add_photo("dog", png_bytes(3), "d.png")
    monkeypatch.setattr(photoset, "MAX_PHOTOS", 100)
    monkeypatch.setattr(photoset, "MAX_SET_BYTES", photos.total_bytes() + 10)
    with pytest.raises(PhotoSetError, match="'d.png' was not added to 'dog': the set would pass 0 MB"):
        photos.add_photo("dog", png_bytes(3), "d.png")
    monkeypatch.setattr(photoset, "MAX_PHOTO_BYTES", 10)
    with pytest.raises(PhotoSetError, match=r"it is 0\.0 MB, over the 0 MB limit for one photo"):
        photos.add_photo("dog", png_bytes(3), "d.png")
    assert photos.counts() == {"cat": 2, "dog": 1}


def test_photos_and_classes_can_be_removed(photos: PhotoSet) -> None:
    photos.add_class("cat")
    photos.add_class("dog")
    kept = photos.add_photo("cat", png_bytes(1), "a.png")
    gone = photos.add_photo("cat", png_bytes(2), "b.png")
    photos.remove_photo("cat", gone.name)
    assert photos.photos("cat") == [kept]
    with pytest.raises(PhotoSetError, match="class 'cat' has no photo '../dog'"):
        photos.remove_photo("cat", "../dog")
    photos.add_photo("dog", png_bytes(3), "c.png")
    assert photos.remove_class("dog") == 1 and photos.classes() == ["cat"]
    with pytest.raises(PhotoSetError, match="there is no class called 'dog'"):
        photos.remove_class("dog")


# --------------------------------------------------------------------------- ready to train


def test_what_is_missing_before_training_follows_the_trainers_rule(photos: PhotoSet) -> None:
    assert photos.missing() == ["add at least 2 classes (a classifier tells classes apart)"]
    photos.add_class("cat")
    photos.add_photo("cat", png_bytes(1), "a.png")
    photos.add_photo("cat", png_bytes(2), "b.png")
    assert photos.missing() == ["add a second class (a classifier tells classes apart)"]
    with pytest.raises(DatasetError, match="a classifier needs at least 2"):  # Dataset.check_trainable itself
        photos.dataset()
    photos.add_class("dog")
    with pytest.raises(DatasetError, match="class 'dog' has no photos; add at least 2 or remove the class"):
        photos.dataset()
    photos.add_photo("dog", png_bytes(3), "c.png")
    assert photos.missing() == ["class 'dog' has 1 photo: add 1 more (each class needs 2: one to train on, "
                                "one to validate with), or remove the class"]
    with pytest.raises(DatasetError, match="fewer than 2 usable images"):
        photos.dataset()
    photos.add_photo("dog", png_bytes(4), "d.png")
    assert photos.missing() == []
    ds = photos.dataset()
    assert (ds.name, ds.classes, ds.counts()) == (PHOTOSET_NAME, ["cat", "dog"], {"cat": 2, "dog": 2})
    split = stratified_split(ds, 0.5)  # what the trainer does with it
    assert len(split.train) == len(split.val) == 2


def test_the_set_is_staged_exactly_as_an_extracted_zip_of_the_same_files(photos: PhotoSet, tmp_path: Path) -> None:
    photos.add_class("dog")
    photos.add_class("cat")
    for i, cls in enumerate(["cat", "cat", "dog", "dog", "dog"]):
        photos.add_photo(cls, png_bytes(10 * i), f"{i}.png")
    ds = photos.dataset()
    on_disk = load_dataset(photos.root)  # what a job and the page read back
    assert on_disk.to_dict() == ds.to_dict()
    zipped = from_zip(make_zip({it.path: ds.path(it).read_bytes() for it in ds.items}), tmp_path / "zip",
                      name=PHOTOSET_NAME)
    assert zipped.to_dict() == ds.to_dict()  # same classes, the same relative paths and labels, nothing bad
    job_copy = link_dataset(ds, tmp_path / "job" / "data")  # what submit_finetune does with it
    assert sorted(p.relative_to(job_copy.root).as_posix() for p in job_copy.root.rglob("*.png")) == \
        sorted(it.path for it in ds.items)
    photos.remove_class("dog")  # the job keeps its own copy
    assert len(load_dataset(job_copy.root).items) == 5 and all(job_copy.path(it).is_file() for it in job_copy.items)


def test_the_index_is_rewritten_only_when_the_set_changed(photos: PhotoSet) -> None:
    for cls in ("a", "b"):
        photos.add_class(cls)
        photos.add_photo(cls, png_bytes(ord(cls)), "1.png")
        photos.add_photo(cls, png_bytes(ord(cls) + 1), "2.png")
    photos.dataset()
    index = photos.root / INDEX_FILE
    before = index.stat().st_mtime_ns
    photos.dataset()  # a page rerun
    assert index.stat().st_mtime_ns == before  # housekeeping counts the set's age from this file
    photos.add_photo("a", png_bytes(99), "3.png")
    assert len(photos.dataset().items) == 5 and len(load_dataset(photos.root).items) == 5


def test_housekeeping_ages_a_set_out_like_an_upload(tmp_path: Path) -> None:
    old, fresh = PhotoSet.for_owner("old", tmp_path), PhotoSet.for_owner("fresh", tmp_path)
    for photo_set in (old, fresh):
        photo_set.add_class("a")
        photo_set.add_photo("a", png_bytes(1), "1.png")
    now = time.time()
    report = apply_retention(tmp_path, RetentionPolicy(max_age_days=1), now=now + 0.5 * 86_400)
    assert report.removed == []
    import os

    os.utime(fresh.root / "a", (now + 2 * 86_400, now + 2 * 86_400))  # used again later
    for path in fresh.photos("a"):
        os.utime(path, (now + 2 * 86_400, now + 2 * 86_400))
    report = apply_retention(tmp_path, RetentionPolicy(max_age_days=1), now=now + 2.5 * 86_400)
    assert [(r.kind, r.name) for r in report.removed] == [("upload", old.root.name)]
    assert old.classes() == [] and fresh.counts() == {"a": 1}


def _big_png(width: int, height: int) -> bytes:
    """A flat PNG: a few KB on disk, ``width × height`` pixels to decode (the issue's 40 MP uploads)."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


def test_a_photo_that_decodes_to_too_many_pixels_is_refused_from_its_header(
        photos: PhotoSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue: 60 PNGs of 40 MP (7.5 MB) cost 28 s of server CPU. A PNG cannot decode at a reduced
    scale: over MAX_PHOTO_PIXELS it is refused before a pixel is decoded."""
    from PIL import ImageFile

    photos.add_class("cats")
    data = _big_png(5000, 4000)  # 20 MP
    assert photoset.decoded_pixels(data) == 20_000_000
    decoded: list[int] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1) or real_load(self))
    with pytest.raises(PhotoSetError, match=r"'big.png' was not added to 'cats'.*5000x4000.*over the 16"):
        photos.add_photo("cats", data, "big.png")
    assert decoded == [] and photos.photos("cats") == []


def test_one_upload_decodes_at_most_its_pixel_budget(photos: PhotoSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files past MAX_UPLOAD_PIXELS are refused from their headers, undecoded; the others are added."""
    photos.add_class("cats")
    monkeypatch.setattr(photoset, "MAX_UPLOAD_PIXELS", 2_500_000)
    files = [(f"p{i}.png", _big_png(1000 + i, 1000)) for i in range(4)]  # ~1 MP each
    decoded: list[str | None] = []
    real_load = photoset.load_image
    monkeypatch.setattr(photoset, "load_image", lambda data, **k: decoded.append(k.get("name")) or real_load(data, **k))
    added, errors = photos.add_photos("cats", files)
    assert added == 2 and len(photos.photos("cats")) == 2
    assert len(errors) == 2 and all("megapixels one upload may" in e for e in errors)
    assert "'p2.png' was not added to 'cats'" in errors[0]
    assert decoded == ["p0.png", "p1.png"]  # the last two were never decoded
