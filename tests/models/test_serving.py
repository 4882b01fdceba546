"""playground.models.serving: the shared cache and the batching worker, against plain inference."""
from __future__ import annotations

import gc
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PIL import Image

from playground.catalog import load_model
from playground.models import inference
from playground.models.batching import Batcher
from playground.models.compute import ComputeThread
from playground.models.registry import DEFAULT_MODEL, LoadedModel
from playground.models.serving import (
    ImageView,
    ResultCache,
    Serving,
    encode_image,
    image_digest,
    serving,
)
from playground.samples import SAMPLE_PHOTOS, load_sample

PHOTOS = list(SAMPLE_PHOTOS)


@pytest.fixture(scope="module")
def lite0() -> LoadedModel:
    return load_model(DEFAULT_MODEL)


@contextmanager
def count_forwards(loaded: LoadedModel) -> Iterator[list[int]]:
    """Batch sizes of every forward pass of ``loaded.model`` in this block (any thread)."""
    sizes: list[int] = []

    def hook(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        sizes.append(inputs[0].shape[0])

    handle = loaded.model.register_forward_pre_hook(hook)
    try:
        yield sizes
    finally:
        handle.remove()


def test_a_rerun_with_the_same_inputs_runs_no_model_a_new_photo_does(lite0) -> None:
    srv = Serving()
    coffee = load_sample("Coffee cup")
    with count_forwards(lite0) as forwards:
        first = srv.predict(lite0, coffee)
        cam = srv.grad_cam(lite0, coffee, class_index=first.top[0][1], layer=lite0.entry.cam_layer)
        fm = srv.feature_maps(lite0, coffee, lite0.entry.feature_layers[2])
        assert len(forwards) == 3
        again = srv.predict(lite0, coffee.copy())  # equal pixels, another object: the same entry
        assert srv.grad_cam(lite0, coffee, first.top[0][1], lite0.entry.cam_layer) is cam
        assert srv.feature_maps(lite0, coffee, lite0.entry.feature_layers[2]) is fm
        assert again is first and len(forwards) == 3
        cat = srv.predict(lite0, load_sample("Cat (Chelsea)"))
        assert len(forwards) == 4 and cat.top != first.top
        srv.grad_cam(lite0, coffee, class_index=first.top[1][1], layer=lite0.entry.cam_layer)  # another class
        assert len(forwards) == 5


def test_cached_results_equal_plain_inference(lite0) -> None:
    srv = Serving()
    coffee = load_sample("Coffee cup")
    want = inference.predict(lite0, coffee, top_k=5)
    got = srv.predict(lite0, coffee, top_k=5)
    assert [i for _, i, _ in got.top] == [i for _, i, _ in want.top]
    assert torch.allclose(torch.tensor([p for *_, p in got.top]), torch.tensor([p for *_, p in want.top]), atol=1e-5)
    cam = srv.grad_cam(lite0, coffee, class_index=967, layer=lite0.entry.cam_layer)
    ref = inference.grad_cam(lite0, coffee, class_index=967, layer=lite0.entry.cam_layer)
    assert (cam.label, cam.class_index, cam.layer) == (ref.label, ref.class_index, ref.layer)
    assert cam.probability == pytest.approx(ref.probability, abs=1e-5)
    # PNG is lossless; the compute thread may use another intra-op thread count than this one, so
    # float sums may round differently: a colour level of difference at most.
    got_px = np.asarray(Image.open(io.BytesIO(cam.overlay.data)), dtype=np.int16)
    assert np.abs(got_px - np.asarray(ref.overlay, dtype=np.int16)).max() <= 1
    assert cam.overlay.size == ref.overlay.size == (224, 224)


def test_batched_probabilities_equal_one_by_one(lite0) -> None:
    xs = [lite0.preprocess(load_sample(name)) for name in PHOTOS]  # 6 x (3, 224, 224)
    with torch.inference_mode():
        want = [lite0.model(x[None]).softmax(dim=1)[0] for x in xs]  # one image per forward pass
    batcher = Batcher(lite0, ComputeThread().run, window_s=1.0, max_batch=len(xs))
    start = threading.Barrier(len(xs))
    got: dict[int, torch.Tensor] = {}

    def ask(i: int) -> None:
        start.wait()
        got[i] = batcher.probabilities(lite0, xs[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(xs))]
    with count_forwards(lite0) as forwards:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    batcher.close()
    assert len(forwards) < len(xs) and sum(forwards) == len(xs)  # really batched
    assert batcher.forwards == len(forwards) and max(batcher.batch_sizes) > 1
    for i, probs in got.items():
        assert torch.allclose(probs, want[i], atol=1e-5), PHOTOS[i]
        assert probs.topk(5).indices.tolist() == want[i].topk(5).indices.tolist()


def test_concurrent_sessions_share_one_batched_pass_and_get_their_own_top_k(lite0) -> None:
    srv = Serving(window_s=1.0, max_batch=16)
    photos = [load_sample(name) for name in PHOTOS]
    want = [inference.predict(lite0, img) for img in photos]
    start = threading.Barrier(len(photos) * 2)  # two sessions per photo
    got: dict[int, object] = {}

    def session(i: int) -> None:
        start.wait()
        got[i] = srv.predict(lite0, photos[i % len(photos)])

    threads = [threading.Thread(target=session, args=(i,)) for i in range(len(photos) * 2)]
    with count_forwards(lite0) as forwards:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sum(forwards) == len(photos)  # each photo computed once, though two sessions asked
    assert len(forwards) < len(photos)
    for i, pred in got.items():
        ref = want[i % len(photos)]
        assert [c for _, c, _ in pred.top] == [c for _, c, _ in ref.top]  # type: ignore[attr-defined]
        assert torch.allclose(torch.tensor([p for *_, p in pred.top]),  # type: ignore[attr-defined]
                              torch.tensor([p for *_, p in ref.top]), atol=1e-5)


def test_the_cache_is_bounded_in_bytes_and_entries_least_recently_used_out() -> None:
    cache = ResultCache(max_bytes=10_000, max_entries=100)
    for i in range(5):
        cache.get_or_compute(("k", i), lambda: ImageView(b"x" * 2_000, (1, 1)))  # ~3 KB each with overhead
    assert cache.bytes <= 10_000 and len(cache) == 3
    assert ("k", 0) not in cache and ("k", 4) in cache
    cache.get_or_compute(("k", 2), lambda: pytest.fail("cached"))  # touch 2: now 3 is the oldest
    cache.get_or_compute(("k", 5), lambda: ImageView(b"", (1, 1)))
    assert ("k", 3) not in cache and ("k", 2) in cache
    big = cache.get_or_compute(("big",), lambda: ImageView(b"x" * 20_000, (1, 1)))
    assert len(big.data) == 20_000 and ("big",) not in cache and cache.bytes <= 10_000

    few = ResultCache(max_bytes=10**9, max_entries=2)
    for i in range(4):
        few.get_or_compute((i,), lambda i=i: i)
    assert len(few) == 2 and (3,) in few and (1,) not in few


def test_one_computation_for_concurrent_misses_and_errors_are_not_cached() -> None:
    cache = ResultCache()
    calls: list[int] = []
    release = threading.Event()

    def slow() -> int:
        calls.append(1)
        release.wait(10)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute(("same",), slow)))
               for _ in range(8)]
    for t in threads:
        t.start()
    while not calls:
        pass
    release.set()
    for t in threads:
        t.join()
    assert results == [42] * 8 and len(calls) == 1

    def broken() -> int:
        raise ValueError("bad photo")

    with pytest.raises(ValueError, match="bad photo"):
        cache.get_or_compute(("bad",), broken)
    assert ("bad",) not in cache and cache.get_or_compute(("bad",), lambda: 7) == 7


def test_digest_is_by_content_and_encoded_pictures_need_no_resize(lite0) -> None:
    coffee = load_sample("Coffee cup")
    assert image_digest(coffee) == image_digest(coffee.copy())
    assert image_digest(coffee) != image_digest(coffee.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    photo = Serving().photo(coffee, max_side=300)
    decoded = Image.open(io.BytesIO(photo.data))
    assert decoded.format == "JPEG" and max(decoded.size) == 300 and decoded.size == photo.size
    view = encode_image(Image.new("RGB", (30, 20), (1, 2, 3)))
    assert Image.open(io.BytesIO(view.data)).format == "PNG" and view.size == (30, 20)
    sight = Serving().model_input(lite0, coffee, scale=2)
    assert sight.size == (448, 448)


def test_models_are_told_apart_and_a_collected_model_stops_its_worker() -> None:
    srv = Serving()
    a, b = load_model(DEFAULT_MODEL), load_model(DEFAULT_MODEL)
    assert srv.model_token(a) != srv.model_token(b) and srv.model_token(a) == srv.model_token(a)
    srv.predict(b, load_sample("Rocket"))
    worker = srv.batcher(b)._thread
    assert worker.is_alive()
    del b
    gc.collect()
    worker.join(timeout=30)
    assert not worker.is_alive()


def test_the_process_wide_instance_computes_with_the_server_threads_and_others_alone() -> None:
    import os

    first = serving()
    assert serving() is first
    cores = os.cpu_count() or 1
    assert first.compute(torch.get_num_threads) == max(1, cores - 1)
    seen: list[int] = []
    later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))  # e.g. a script thread
    later.start()
    later.join()
    assert seen == [1]
