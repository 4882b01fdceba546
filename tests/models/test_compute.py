"""The server's compute thread: every computation on one thread, in order, errors passed back."""
from __future__ import annotations

import threading

import pytest
import torch

from playground.catalog import load_model
from playground.models.compute import ComputeThread
from playground.models.registry import DEFAULT_MODEL
from playground.models.serving import Serving


def test_work_from_many_threads_runs_on_one_thread_in_turn() -> None:
    compute = ComputeThread()
    seen: list[int] = []
    running = threading.Semaphore(1)  # fails to acquire if two computations overlap

    def work(i: int) -> int:
        assert running.acquire(blocking=False), "two computations ran at once"
        try:
            seen.append(threading.get_ident())
            return i * i
        finally:
            running.release()

    results: dict[int, int] = {}
    callers = [threading.Thread(target=lambda i=i: results.__setitem__(i, compute.run(work, i))) for i in range(12)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert results == {i: i * i for i in range(12)}
    assert len(set(seen)) == 1 and seen[0] not in {t.ident for t in callers} | {threading.get_ident()}
    compute.close()


def test_an_error_reaches_the_caller_and_the_thread_keeps_serving() -> None:
    compute = ComputeThread()
    with pytest.raises(ValueError, match="bad layer"):
        compute.run(lambda: (_ for _ in ()).throw(ValueError("bad layer")))
    assert compute.run(lambda a, b=0: a + b, 2, b=3) == 5
    # A computation that asks for another runs it inline instead of waiting for itself.
    assert compute.run(lambda: compute.run(lambda: threading.get_ident())) == compute.run(threading.get_ident)
    compute.close()


def test_serving_runs_grad_cam_and_top_k_on_its_compute_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    loaded = load_model(DEFAULT_MODEL)
    serving, threads = Serving(), set()
    forward = loaded.model.forward

    def recording_forward(x: torch.Tensor) -> torch.Tensor:
        threads.add(threading.current_thread().name)
        return forward(x)

    monkeypatch.setattr(loaded.model, "forward", recording_forward)
    img = Image.new("RGB", (64, 48), (120, 80, 40))
    top = serving.predict(loaded, img).top[0]
    serving.grad_cam(loaded, img, class_index=top[1], layer=loaded.entry.cam_layer)
    serving.feature_maps(loaded, img, loaded.entry.cam_layer)
    assert len(threads) == 1 and next(iter(threads)).startswith("torch-compute"), threads
