"""The app server's one inference path: shared by every session, cached, and batched.

A class of ~30 students on one box asks the same few models about the same few photos, and
Streamlit reruns a page on every click. So:

- **Cached.** Every result (top-k, Grad-CAM, feature maps, filters, the model's crop, a photo's
  display copy) is kept under (model, image digest, options) in one :class:`ResultCache`, shared
  by all sessions and bounded in bytes (least recently used first out). Pictures are stored
  already encoded (PNG/JPEG bytes), so a rerun neither runs the model nor encodes an image:
  ``st.image`` gets bytes it only has to read the header of. The cache holds recomputable
  results only (DESIGN.md: nothing that matters lives only in a cache). Thirty sessions asking
  for the same missing result compute it once: the others wait for that computation.
- **Batched.** Top-k requests for one model that arrive within :data:`BATCH_WINDOW_S` of each
  other go through one forward pass of up to :data:`MAX_BATCH` images (a worker thread and a
  queue per model; each caller waits on a future). In eval mode every image of a batch is
  computed independently, so the result equals one-by-one prediction up to float rounding.
- **One computation at a time.** The forward passes, Grad-CAM and feature maps all run on one
  compute thread (:mod:`playground.models.compute` says why a thread and not a lock) with the
  thread count :func:`server_threads` gives it: one PyTorch computation with all cores but one
  finishes each request sooner than many concurrent ones each starting their own intra-op thread
  team (which oversubscribes the CPU and slows every session), and the spare core keeps
  Streamlit's event loop and the cheap reruns of the other sessions responsive.

Use :func:`serving` for the process-wide instance; tests build their own :class:`Serving`.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from time import perf_counter
from typing import Any, TypeVar

from PIL import Image

from playground.models import inference
from playground.models.batching import BATCH_WINDOW_S, MAX_BATCH, Batcher
from playground.models.compute import ComputeThread
from playground.models.inference import Prediction
from playground.models.registry import LoadedModel

__all__ = ["Serving", "ResultCache", "ImageView", "CamView", "FeatureView", "FiltersView",
           "serving", "server_threads", "image_digest", "encode_image",
           "CACHE_MAX_BYTES", "CACHE_MAX_ENTRIES", "PHOTO_MAX_SIDE"]

CACHE_MAX_BYTES = 128 * 2**20  # results of all sessions; a Grad-CAM view is ~0.2 MB, a top-k ~1 KB
CACHE_MAX_ENTRIES = 4096
PHOTO_MAX_SIDE = 1024  # the page shows the photo at most this large; it needs no more pixels
_ENTRY_OVERHEAD_BYTES = 1024  # a result's Python objects beside its picture bytes
_JPEG_QUALITY = 90

T = TypeVar("T")


@dataclass(frozen=True)
class ImageView:
    """An encoded picture for the page: ``data`` is PNG or JPEG bytes, ``size`` is (width, height)."""

    data: bytes
    size: tuple[int, int]


@dataclass(frozen=True)
class CamView:
    """A Grad-CAM result ready to show: the model's crop and the overlay, encoded."""

    layer: str
    class_index: int
    label: str
    probability: float
    image: ImageView
    overlay: ImageView


@dataclass(frozen=True)
class FeatureView:
    """Feature maps ready to show: see :class:`playground.models.inference.FeatureMaps`."""

    layer: str
    shape: tuple[int, int, int]
    channels: list[int]
    strengths: list[float]
    grid: ImageView


@dataclass(frozen=True)
class FiltersView:
    """First-layer filters ready to show: see :class:`playground.models.inference.Filters`."""

    layer: str
    shape: tuple[int, int, int, int]
    grid: ImageView


def encode_image(img: Image.Image, fmt: str = "PNG", max_side: int | None = None) -> ImageView:
    """``img`` encoded once as PNG or JPEG, first shrunk to ``max_side`` pixels if it is larger."""
    if max_side is not None and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(buf, "JPEG", quality=_JPEG_QUALITY)
    else:
        img.save(buf, "PNG", compress_level=1)  # level 1: a few times faster, ~10% larger
    return ImageView(buf.getvalue(), img.size)


def _size_of(value: object) -> int:
    """Bytes a cached result holds: its encoded pictures plus a fixed overhead."""
    pictures = [v for v in getattr(value, "__dict__", {}).values() if isinstance(v, ImageView)]
    if isinstance(value, ImageView):
        pictures.append(value)
    return _ENTRY_OVERHEAD_BYTES + sum(len(p.data) for p in pictures)


class ResultCache:
    """A thread-safe LRU of recomputable results, bounded in bytes and entries, with one computation
    per missing key: concurrent callers of :meth:`get_or_compute` for the same key wait for the first."""

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES, max_entries: int = CACHE_MAX_ENTRIES) -> None:
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._items: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self._pending: dict[tuple, Future] = {}
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._items

    def get_or_compute(self, key: tuple, compute: Callable[[], T]) -> T:
        """The cached value of ``key``, or ``compute()``'s (stored unless it raised; errors are not cached)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]  # type: ignore[return-value]
            pending = self._pending.get(key)
            if pending is None:
                self.misses += 1
                future: Future = Future()
                self._pending[key] = future
        if pending is not None:
            return pending.result()  # another session is computing it right now
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            future.set_exception(exc)
            raise
        self._store(key, value)
        future.set_result(value)
        return value

    def _store(self, key: tuple, value: object) -> None:
        size = _size_of(value)
        with self._lock:
            del self._pending[key]
            if size > self.max_bytes:
                return  # larger than the whole cache: hand it out, keep nothing
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, (_, old) = self._items.popitem(last=False)
                self.bytes -= old

    def clear(self) -> None:
        """Forget every result (computations in flight still finish and are stored)."""
        with self._lock:
            self._items.clear()
            self.bytes = 0


class _Tokens:
    """A unique number per live object, so a result cached for one model is never served for
    another that happens to reuse its ``id()`` after it was garbage-collected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[int, tuple[weakref.ref, int]] = {}
        self._counter = itertools.count(1)

    def __call__(self, obj: Any, on_death: Callable[[int], None] | None = None) -> int:
        key = id(obj)
        with self._lock:
            known = self._tokens.get(key)
            if known is not None and known[0]() is obj:
                return known[1]
            token = next(self._counter)

            def forget(_ref: weakref.ref, key: int = key, token: int = token) -> None:
                with self._lock:
                    if self._tokens.get(key, (None, 0))[1] == token:
                        del self._tokens[key]
                if on_death is not None:
                    on_death(token)

            self._tokens[key] = (weakref.ref(obj, forget), token)
            return token


_DIGESTS: dict[int, tuple[weakref.ref, str]] = {}
_DIGESTS_LOCK = threading.Lock()


def image_digest(img: Image.Image) -> str:
    """A content hash of an image's pixels (mode, size, bytes), remembered per image object: the
    sample photos and a session's decoded upload are the same objects on every rerun."""
    key = id(img)
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(key)
        if known is not None and known[0]() is img:
            return known[1]
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{img.mode}:{img.size}".encode())
    h.update(img.tobytes())
    digest = h.hexdigest()

    def forget(_ref: weakref.ref, key: int = key) -> None:
        with _DIGESTS_LOCK:
            if key in _DIGESTS and _DIGESTS[key][0]() is None:
                del _DIGESTS[key]

    with _DIGESTS_LOCK:
        _DIGESTS[key] = (weakref.ref(img, forget), digest)
    return digest


class Serving:
    """Cached, batched inference shared by every session (see the module doc)."""

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES, max_entries: int = CACHE_MAX_ENTRIES,
                 window_s: float = BATCH_WINDOW_S, max_batch: int = MAX_BATCH, threads: int | None = None) -> None:
        """``threads``: PyTorch's thread count for the compute thread (see :class:`ComputeThread`);
        None leaves PyTorch's setting as it is."""
        self.cache = ResultCache(max_bytes, max_entries)
        self.window_s, self.max_batch = window_s, max_batch
        self._compute = ComputeThread(threads=threads)  # one PyTorch computation at a time (see the module doc)
        self._batchers: dict[int, Batcher] = {}
        self._batchers_lock = threading.Lock()
        self._tokens = _Tokens()

    def compute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a PyTorch computation on the server's compute thread, after those already waiting;
        every torch call the server makes for a page goes through here."""
        return self._compute.run(fn, *args, **kwargs)

    def model_token(self, loaded: LoadedModel) -> int:
        """This model's identity in cache keys."""
        return self._tokens(loaded, self._drop_batcher)

    def batcher(self, loaded: LoadedModel) -> Batcher:
        """The model's batching worker (started on first use)."""
        token = self.model_token(loaded)
        with self._batchers_lock:
            if token not in self._batchers:
                self._batchers[token] = Batcher(loaded, self.compute, self.window_s, self.max_batch)
            return self._batchers[token]

    def _drop_batcher(self, token: int) -> None:
        with self._batchers_lock:
            batcher = self._batchers.pop(token, None)
        if batcher is not None:
            batcher.close()

    def predict(self, loaded: LoadedModel, img: Image.Image, top_k: int = 5) -> Prediction:
        """Cached :func:`~playground.models.inference.predict`, run through the model's batcher.
        ``timings`` are those of the computation that produced the result."""
        key = ("top", self.model_token(loaded), image_digest(img), top_k)
        return self.cache.get_or_compute(key, lambda: self._predict(loaded, img, top_k))

    def _predict(self, loaded: LoadedModel, img: Image.Image, top_k: int) -> Prediction:
        start = perf_counter()
        x = loaded.preprocess(img)  # (3, crop, crop)
        prepared = perf_counter()
        probs = self.batcher(loaded).probabilities(loaded, x)  # (K,)
        values, indices = probs.topk(max(1, min(top_k, probs.numel())))
        done = perf_counter()
        top = [(loaded.categories[i], i, p) for p, i in zip(values.tolist(), indices.tolist())]
        return Prediction(top, {"preprocess_ms": (prepared - start) * 1e3, "forward_ms": (done - prepared) * 1e3,
                                "total_ms": (done - start) * 1e3})

    def grad_cam(self, loaded: LoadedModel, img: Image.Image, class_index: int, layer: str) -> CamView:
        """Cached Grad-CAM of ``class_index`` at ``layer``, with its pictures encoded."""
        key = ("cam", self.model_token(loaded), image_digest(img), int(class_index), layer)

        def compute() -> CamView:
            cam = self.compute(inference.grad_cam, loaded, img, class_index=class_index, layer=layer)
            return CamView(cam.layer, cam.class_index, cam.label, cam.probability,
                           encode_image(cam.image), encode_image(cam.overlay))

        return self.cache.get_or_compute(key, compute)

    def feature_maps(self, loaded: LoadedModel, img: Image.Image, layer: str, count: int = 16,
                     tile: int = 96) -> FeatureView:
        """Cached feature maps of ``layer`` (the ``count`` strongest channels), the grid encoded."""
        key = ("features", self.model_token(loaded), image_digest(img), layer, count, tile)

        def compute() -> FeatureView:
            fm = self.compute(inference.feature_maps, loaded, img, layer, count=count, tile=tile)
            return FeatureView(fm.layer, fm.shape, fm.channels, fm.strengths, encode_image(fm.grid))

        return self.cache.get_or_compute(key, compute)

    def filters(self, loaded: LoadedModel, max_width: int | None = None) -> FiltersView:
        """Cached first-layer filters, the grid encoded at twice its size when that fits ``max_width``."""
        def compute() -> FiltersView:
            f = inference.first_layer_filters(loaded)
            scale = 2 if max_width is None or f.grid.width * 2 <= max_width else 1
            grid = f.grid if scale == 1 else f.grid.resize(
                (f.grid.width * scale, f.grid.height * scale), Image.Resampling.NEAREST)
            return FiltersView(f.layer, f.shape, encode_image(grid))

        return self.cache.get_or_compute(("filters", self.model_token(loaded), max_width), compute)

    def model_input(self, loaded: LoadedModel, img: Image.Image, scale: int = 1) -> ImageView:
        """The crop the model sees, encoded at ``scale`` times its size (pixels kept square)."""
        def compute() -> ImageView:
            crop = loaded.preprocess.crop_image(img)
            if scale != 1:
                crop = crop.resize((crop.width * scale, crop.height * scale), Image.Resampling.NEAREST)
            return encode_image(crop)

        key = ("input", self.model_token(loaded), image_digest(img), scale)
        return self.cache.get_or_compute(key, compute)

    def photo(self, img: Image.Image, max_side: int = PHOTO_MAX_SIDE) -> ImageView:
        """The photo as JPEG, at most ``max_side`` pixels: what the page shows beside the results."""
        return self.cache.get_or_compute(("photo", image_digest(img), max_side),
                                         lambda: encode_image(img, "JPEG", max_side))


_SERVING: Serving | None = None
_SERVING_LOCK = threading.Lock()


def server_threads() -> int:
    """PyTorch threads of the server's compute thread: all cores but one, on any box (at least one).

    The core left over serves Streamlit: with a class on the server the CPU is the bottleneck, and
    intra-op parallelism buys one request's latency with CPU the other sessions need. Measured on
    the 2-core machine (bench/bench_classroom.py --predict-uploads, 30 students, each a photo of
    their own): two compute threads cost 0.071-0.075 s of server CPU per page run and 4.0-4.2 s p95
    to the first prediction; one thread 0.050-0.055 s and 3.8-4.1 s. (Training workers and the CLI,
    which have the machine to themselves, use all cores on small boxes: finetune.runtime.cpu_threads.)
    """
    return max(1, (os.cpu_count() or 1) - 1)


def serving() -> Serving:
    """The process-wide :class:`Serving`; its first use starts the compute thread with
    :func:`server_threads` threads and leaves every other thread one (:class:`ComputeThread`)."""
    global _SERVING
    with _SERVING_LOCK:
        if _SERVING is None:
            _SERVING = Serving(threads=server_threads())
        return _SERVING
