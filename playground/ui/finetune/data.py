"""Fine-tune page, step 1: choose the data (bundled set, a zip upload, or your own photos) and see what is in it.

Zip names, class folder names, file names and the dataset errors that quote them come from students and
are seen by the whole class: every one is shown through playground.ui.text (or in a dataframe), as text.
"""
from __future__ import annotations

import hashlib
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from playground.finetune.archive import stage_upload
from playground.finetune.data import BUNDLED, Dataset, DatasetError, bundled, load_dataset
from playground.housekeeping import RetentionError, check_room
from playground.images import ImageError
from playground.ui.finetune import DATA_SOURCE, DATA_UPLOAD
from playground.ui.finetune.camera_set import photo_set_picker
from playground.ui.finetune.thumbnails import thumbnail, thumbnail_strip
from playground.ui.replay import replayed
from playground.ui.text import md_text, plotly_text, show_error
from playground.ui.widget_state import keep, remember, widget_key

__all__ = ["dataset_picker", "dataset_summary", "sample_grid", "shows_own_photos", "upload_limit_mb"]


def upload_limit_mb() -> int:
    """The largest upload the server takes (``server.maxUploadSize``, in MiB) in whole MB of 10⁶ bytes: the
    unit of the uploader's own "…MB per file" and "File must be …MB or smaller" texts, so all three agree.
    (Above 500 MB those texts switch to GB rounded to a whole or half GB: hence a limit just under it.)"""
    return int(st.get_option("server.maxUploadSize")) * 2**20 // 10**6


def shows_own_photos(key: str) -> bool:
    """Whether the picker drawn with ``key`` is on "Make your own", whose builder already shows every photo."""
    return st.session_state.get(widget_key(key, DATA_SOURCE)) == "photos"

_SOURCES = {"bundled": ":material/inventory_2: Bundled dataset", "upload": ":material/upload: Upload a zip",
            "photos": ":material/photo_camera: Make your own"}  # camera or files: see camera_set


@st.cache_resource(show_spinner="Preparing the bundled dataset...")
def _bundled(name: str, home: str) -> Dataset:
    """The bundled set, written to disk once per data directory (``home`` keys the cache)."""
    return bundled(name)


def _staged(key: str, file: UploadedFile) -> Dataset:
    """Extract and check an upload once per file (reruns reuse the staged copy on disk)."""
    memo = st.session_state.setdefault(f"{key}_staged", {})
    if file.file_id in memo:
        root, name = memo[file.file_id]
        try:
            ds = load_dataset(root)
        except DatasetError:  # the staged copy was deleted from the data folder: stage it again
            del memo[file.file_id]
        else:
            st.session_state[f"{key}_last_upload"] = (root, name)
            ds.name = name
            return ds
    try:  # a full data folder refuses the upload (the sweep never deletes a classmate's jobs to make room)
        check_room()
    except RetentionError as exc:
        raise DatasetError(str(exc)) from None
    bar = st.progress(0.0, text=f"Checking {md_text(file.name)}...")

    def progress(i: int, n: int) -> None:
        bar.progress(i / n, text=f"Decoding image {i:,} of {n:,}")

    ds = stage_upload(file.getvalue(), file.name, on_progress=progress)
    bar.empty()
    memo[file.file_id] = (str(ds.root), ds.name)
    st.session_state[f"{key}_last_upload"] = memo[file.file_id]
    return ds


def dataset_picker(key: str) -> Dataset | None:
    """The data source widgets; returns the checked dataset, or None (with the reason shown)."""
    from playground.paths import home_dir

    source_key = widget_key(key, DATA_SOURCE)
    kept: dict[str, object] = {source_key: "bundled", f"{key}_bundled": next(iter(BUNDLED))}
    remember(kept)
    source = st.segmented_control("Data", list(_SOURCES), format_func=_SOURCES.__getitem__,
                                  required=True, key=source_key) or "bundled"
    name = st.selectbox("Dataset", list(BUNDLED), key=f"{key}_bundled", format_func=lambda n: BUNDLED[n].title) \
        if source == "bundled" else None
    keep(kept)
    if name is not None:
        st.caption(BUNDLED[name].description)
        return _bundled(name, str(home_dir()))
    if source == "photos":
        return photo_set_picker(key)
    file = st.file_uploader(
        "Zip of class folders", type=["zip"], key=widget_key(key, DATA_UPLOAD),
        help="One sub-folder per class (cats/1.jpg, dogs/2.jpg...), at the top of the zip or inside one folder. "
             "JPEG, PNG, WebP, GIF or BMP; other files are skipped.",
    )
    if file is None:
        last = st.session_state.get(f"{key}_last_upload")
        if last:  # the uploader forgets its file while a job is shown; the staged copy is still on disk
            try:
                ds = load_dataset(last[0])
            except DatasetError:  # ...unless someone deleted it from the data folder meanwhile
                del st.session_state[f"{key}_last_upload"]
            else:
                st.caption(f"Using your earlier upload **{md_text(last[1])}**; upload another zip to replace it.")
                ds.name = last[1]
                return ds
        st.caption(f"Upload a .zip with one folder per class, e.g. `cats/`, `dogs/`: up to {upload_limit_mb()} MB.")
        return None
    try:
        return _staged(key, file)
    except DatasetError as exc:
        show_error(exc, icon=":material/error:")
        return None


def dataset_summary(ds: Dataset, samples: bool = True) -> bool:
    """Counts per class, skipped and undecodable files, a grid of samples (unless ``samples`` is
    False); True if trainable.

    Replayed while the dataset is the same (its folder, name and exact item list): the chart and the
    thumbnails were most of this page's server CPU on every rerun."""
    items = hashlib.blake2b("\n".join(f"{it.label}:{it.path}" for it in ds.items).encode(), digest_size=16)
    return _summary((str(ds.root), ds.name, tuple(ds.classes), items.hexdigest(), len(ds.bad),
                     tuple(sorted(ds.skipped.items())), samples), ds)


@replayed
def _summary(key: tuple[Any, ...], _ds: Dataset) -> bool:
    ds = _ds
    counts = ds.counts()
    n = len(ds.classes)
    st.markdown(f"**{md_text(ds.name)}**: {len(ds.items):,} images in {n} class{'' if n == 1 else 'es'}")
    if ds.classes:
        fig = go.Figure(go.Bar(x=[plotly_text(c) for c in counts], y=list(counts.values()), marker_color="#1f6feb"))
        fig.update_layout(height=220, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=None,
                          yaxis_title="images", xaxis_type="category")
        st.plotly_chart(fig, width="stretch", config={"displayModeBar": False}, key="ft_counts_chart")
    if ds.skipped:
        st.caption(":material/filter_alt: Skipped " + ", ".join(f"{n:,} {why}" for why, n in ds.skipped.items()) + ".")
    if ds.bad:
        with st.expander(f":material/broken_image: {len(ds.bad):,} image(s) could not be decoded and are left out"):
            st.dataframe([{"File": path, "Why": reason} for path, reason in ds.bad[:200]],  # cells are literal
                         hide_index=True)
    try:
        ds.check_trainable()
    except DatasetError as exc:
        show_error(exc, icon=":material/error:")
        return False
    if key[-1]:  # a set made on this page already shows its photos, class by class, above
        sample_grid(ds)
    return True


_SAMPLE_TILE = 48  # pixels: one sample's square in the sample grid (four to a class, two by two)


def sample_grid(ds: Dataset, per_class: int = 4, max_classes: int = 12) -> None:
    """A few images of each class: a 2×2 block per class, its name under it, in one wrapping grid."""
    with st.expander(":material/grid_view: Samples", expanded=True):
        firsts: dict[int, list[tuple[str, str]]] = {label: [] for label in range(min(len(ds.classes), max_classes))}
        for it in ds.items:  # one pass over the items, not one per class
            shown = firsts.get(it.label)
            if shown is not None and len(shown) < per_class:
                shown.append((str(ds.path(it)), it.path))
        # One image element for the whole grid, a strip and a caption per class: a row, a name and
        # an image per class were 30 elements to send on every run for ten classes (a row and an
        # image per thumbnail, a hundred), the bulk of this page's server cost with a class on it.
        strips, names, problems = [], [], []
        for label, name in list(enumerate(ds.classes))[:max_classes]:
            tiles = []
            for path, rel in firsts[label]:
                try:
                    tiles.append(thumbnail(path, name=rel))
                except ImageError as exc:  # changed on disk since it was checked: say so, under the grid
                    problems.append(f":material/broken_image: {md_text(exc)}")
            if tiles:
                strips.append(thumbnail_strip(tiles, side=_SAMPLE_TILE, per_row=2))  # a 2×2 block
                names.append(f"**{md_text(name)}**")  # a caption is markdown: the folder name shown as text
        if strips:
            st.image(strips, caption=names, width="content")
        for problem in problems:
            st.caption(problem)
        if len(ds.classes) > max_classes:
            st.caption(f"...and {len(ds.classes) - max_classes} more classes.")
