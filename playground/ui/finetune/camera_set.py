"""Fine-tune page, step 1, third source: make your own class set from the camera or files.

The user names classes, then adds photos to one class at a time (camera shots or several files),
sees each class's count and a numbered strip of its latest photos, and removes photos or whole
classes. Everything is kept on disk by :class:`playground.finetune.photoset.PhotoSet` (one folder
per browser, in the staged-upload format), never only in ``session_state``: a rerun, a reload or
another tab shows the same set, and a job takes it as it takes an extracted zip.

Changes happen in widget callbacks, before the run that draws the page, so the counts and strips
drawn are always the ones on disk. After a shot or an upload the camera and the uploader get new
keys: the camera is live again for the next shot and the uploader is empty. Class names and file
names come from students and are shown through :mod:`playground.ui.text`, as text.
"""
from __future__ import annotations

import hashlib

import streamlit as st
from PIL import Image, ImageDraw

from playground.finetune.data import Dataset, DatasetError
from playground.finetune.photoset import MAX_CLASSES, MAX_PHOTO_BYTES, MIN_PER_CLASS, PhotoSet, PhotoSetError
from playground.images import UPLOAD_TYPES, ImageError
from playground.ui.finetune.thumbnails import thumbnail, thumbnail_strip
from playground.ui.owner import current_owner
from playground.ui.photo_input import CAMERA_NEEDS_HTTPS, secure_context
from playground.ui.text import md_text, show_error
from playground.ui.widget_state import widget_key

__all__ = ["photo_set_picker", "class_key", "camera_key", "files_key", "NEW_CLASS", "ADD_CLASS", "TARGET", "VIA",
           "CAMERA_FILE", "STRIP_PHOTOS"]

# Widgets of the builder, as parts of their keys (playground.ui.widget_state.widget_key)
NEW_CLASS, ADD_CLASS, TARGET, VIA = "new_class", "add_class", "target", "via"
_ROUND, _NOTES = "photo_round", "photo_notes"  # not widgets: the input widgets' generation, the last action's notes
CAMERA_FILE = "camera.jpg"  # how messages name a shot (st.camera_input always gives a JPEG)
STRIP_PHOTOS = 12  # the latest photos of a class shown in its strip
_TILE = 64  # pixels: one photo's square in a strip
_CAMERA_SECURE = "(Browsers give a page the camera only over HTTPS or on localhost, as here.)"
_VIA = {"camera": ":material/photo_camera: Camera", "files": ":material/upload: Files"}


def class_key(key: str, name: str, part: str) -> str:
    """Key of widget ``part`` of class ``name``'s card (a hash: any class name makes a valid key)."""
    return widget_key(key, f"{part}_{hashlib.sha1(name.encode()).hexdigest()[:10]}")


def camera_key(key: str) -> str:
    """Key of the camera widget of the current generation (a new one after every shot)."""
    return widget_key(key, f"camera_{st.session_state.get(widget_key(key, _ROUND), 0)}")


def files_key(key: str) -> str:
    """Key of the file uploader of the current generation (emptied after every upload)."""
    return widget_key(key, f"files_{st.session_state.get(widget_key(key, _ROUND), 0)}")


# --------------------------------------------------------------------------- callbacks (run before the page)


def _note(key: str, notes: list[tuple[str, str]]) -> None:
    st.session_state[widget_key(key, _NOTES)] = notes


def _next_round(key: str) -> None:
    round_key = widget_key(key, _ROUND)
    st.session_state[round_key] = st.session_state.get(round_key, 0) + 1


def _on_add_class(key: str, root: str) -> None:
    text_key = widget_key(key, NEW_CLASS)
    try:
        name = PhotoSet(root).add_class(str(st.session_state.get(text_key) or ""))
    except PhotoSetError as exc:
        _note(key, [("error", str(exc))])  # the typed name stays, to be corrected
        return
    st.session_state[text_key] = ""
    st.session_state[widget_key(key, TARGET)] = name  # photos go to the class just made
    _note(key, [("done", f"Added class {name!r}: now take or upload at least {MIN_PER_CLASS} photos of it.")])


def _on_shot(key: str, root: str, widget: str, target: str) -> None:
    shot = st.session_state.get(widget)
    if shot is None:  # the user cleared the photo: nothing to add
        return
    try:
        PhotoSet(root).add_photo(target, shot.getvalue(), CAMERA_FILE)
    except PhotoSetError as exc:
        _note(key, [("error", str(exc))])
    else:
        _note(key, [("done", f"Added a photo to {target!r}.")])
    _next_round(key)  # a fresh, live camera for the next shot


def _on_files(key: str, root: str, widget: str, target: str) -> None:
    files = st.session_state.get(widget) or []
    # One upload decodes at most MAX_UPLOAD_PIXELS (photoset): the rest are refused from their headers.
    added, errors = PhotoSet(root).add_photos(target, [(file.name, file.getvalue()) for file in files])
    notes = [("error", text) for text in errors]
    if files:
        notes.insert(0, ("done", f"Added {added} of {len(files)} file(s) to {target!r}."))
        _note(key, notes)
        _next_round(key)  # an empty uploader again


def _on_remove_photos(key: str, root: str, name: str, widget: str) -> None:
    chosen = list(st.session_state.get(widget) or [])
    notes = []
    for photo in chosen:
        try:
            PhotoSet(root).remove_photo(name, photo)
        except PhotoSetError as exc:
            notes.append(("error", str(exc)))
    _note(key, [("done", f"Removed {len(chosen) - len(notes)} photo(s) from {name!r}.")] + notes)


def _on_remove_class(key: str, root: str, name: str) -> None:
    try:
        n = PhotoSet(root).remove_class(name)
    except PhotoSetError as exc:
        _note(key, [("error", str(exc))])
    else:
        _note(key, [("done", f"Removed class {name!r} and its {n} photo(s).")])


# --------------------------------------------------------------------------- drawing


@st.cache_data(show_spinner=False, max_entries=500)
def _strip(paths: tuple[str, ...], rels: tuple[str, ...], first: int) -> Image.Image | None:
    """The photos as one numbered strip (``first`` is the number of the first); None if none decodes.

    Cached on the paths: a photo file never changes once written (a new one gets a new name)."""
    tiles = []
    for number, (path, rel) in enumerate(zip(paths, rels), first):
        try:
            tile = thumbnail(path, name=rel).convert("RGB")
        except ImageError:  # removed or damaged on disk since it was listed: left out of the strip
            continue
        tile.thumbnail((_TILE, _TILE))
        draw = ImageDraw.Draw(tile)
        label = str(number)
        draw.rectangle((0, 0, 7 * len(label) + 4, 12), fill="black")  # the number the remove list uses
        draw.text((2, 0), label, fill="white")
        tiles.append(tile)
    return thumbnail_strip(tiles, side=_TILE) if tiles else None


def _notes(key: str) -> None:
    for kind, text in st.session_state.get(widget_key(key, _NOTES), []):
        if kind == "error":
            show_error(text, icon=":material/error:")
        else:
            st.caption(f":material/check: {md_text(text)}")


def _class_adder(key: str, photo_set: PhotoSet, n_classes: int) -> None:
    row = st.container(horizontal=True, vertical_alignment="bottom")
    row.text_input("New class", key=widget_key(key, NEW_CLASS), placeholder="e.g. thumbs up",
                   help="One class per thing the model should tell apart. The name is a folder name: no slashes, "
                        "not starting with '.'.")
    row.button("Add class", icon=":material/add:", key=widget_key(key, ADD_CLASS), disabled=n_classes >= MAX_CLASSES,
               on_click=_on_add_class, args=(key, str(photo_set.root)))


def _photo_adder(key: str, photo_set: PhotoSet, classes: list[str]) -> None:
    target_key = widget_key(key, TARGET)
    if st.session_state.get(target_key) not in classes:  # none chosen yet, or removed (maybe in another tab)
        st.session_state[target_key] = classes[0]
    target = st.selectbox("Add photos to", classes, key=target_key)  # options are shown as plain text
    via = st.segmented_control("Add with", list(_VIA), format_func=_VIA.__getitem__, default="camera",
                               required=True, key=widget_key(key, VIA)) or "camera"
    root = str(photo_set.root)
    if via == "camera":
        secure = secure_context(st.context.url)
        if secure is False:
            st.warning(CAMERA_NEEDS_HTTPS, icon=":material/no_photography:")
        widget = camera_key(key)
        st.camera_input(f"Take a photo of {md_text(target)}", key=widget, on_change=_on_shot,
                        args=(key, root, widget, target))
        st.caption(f"Each photo you take is added to **{md_text(target)}** at once. "
                   + (_CAMERA_SECURE if secure else CAMERA_NEEDS_HTTPS))
    else:
        widget = files_key(key)
        st.file_uploader(f"Image files for {md_text(target)}", type=list(UPLOAD_TYPES), accept_multiple_files=True,
                         key=widget, on_change=_on_files, args=(key, root, widget, target),
                         help=f"JPEG, PNG, WebP, GIF (first frame) or BMP, at most {MAX_PHOTO_BYTES // 2**20} MB "
                              "each; each is checked before it is kept.")


def _class_card(key: str, photo_set: PhotoSet, name: str) -> None:
    photos = photo_set.photos(name)
    n = len(photos)
    root = str(photo_set.root)
    with st.container(border=True):
        head = st.container(horizontal=True, vertical_alignment="center")
        ok = ":material/check_circle:" if n >= MIN_PER_CLASS else ":material/pending:"
        head.markdown(f"{ok} **{md_text(name)}** · {n} photo{'' if n == 1 else 's'}")
        # One popover for both removals: two side by side wrap in a half-width column.
        with head.popover("Remove", icon=":material/delete:"):
            if photos:
                number = {p.name: i for i, p in enumerate(photos, 1)}
                # The key follows the photo list: a photo removed (here or in another tab) is never a stale choice
                digest = hashlib.sha1("\n".join(number).encode()).hexdigest()[:8]
                widget = f"{class_key(key, name, 'pick')}_{digest}"
                st.multiselect("Photos to remove (by their number in the strip)", list(number), key=widget,
                               format_func=lambda f: f"#{number[f]}")
                st.button("Remove the chosen photos", key=class_key(key, name, "drop"), on_click=_on_remove_photos,
                          args=(key, root, name, widget))
                st.divider()
            st.button(f"Remove the class and its {n} photo{'' if n == 1 else 's'}", type="primary",
                      icon=":material/delete_forever:", key=class_key(key, name, "remove"),
                      on_click=_on_remove_class, args=(key, root, name), help="This cannot be undone.")
        shown = photos[-STRIP_PHOTOS:]
        strip = _strip(tuple(str(p) for p in shown), tuple(f"{name}/{p.name}" for p in shown), n - len(shown) + 1)
        if strip is not None:
            st.image(strip, width="content")
        if n > len(shown):
            st.caption(f"The latest {len(shown)} of {n} photos.")
        elif not photos:
            st.caption("No photos yet: choose this class under *Add photos to*.")


def photo_set_picker(key: str) -> Dataset | None:
    """The builder; returns the set as a dataset once it can be trained on, else None (with what is missing)."""
    photo_set = PhotoSet.for_owner(current_owner())
    classes = photo_set.classes()
    st.caption(f"Name a class for each thing the model should tell apart, then take photos or upload files of "
               f"each: at least {MIN_PER_CLASS} per class (10 or more trains better). Kept on the server for this "
               "browser, like an uploaded zip: a reload or another tab keeps them.")
    _class_adder(key, photo_set, len(classes))
    if classes:
        _photo_adder(key, photo_set, classes)
    _notes(key)
    for name in classes:
        _class_card(key, photo_set, name)
    needs = photo_set.missing()
    if needs:
        st.info("**Before you can train:** " + "; ".join(md_text(n) for n in needs) + ".", icon=":material/info:")
        return None
    try:
        return photo_set.dataset()
    except DatasetError as exc:  # changed in another tab since it was listed
        show_error(exc, icon=":material/error:")
        return None
