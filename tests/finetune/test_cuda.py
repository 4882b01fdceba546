"""The CUDA path, on a real GPU: fine-tune steps in bf16 and fp16, pinned prefetching, the batched
augmentation on the GPU, a shared GPU's memory cap, a worker's physical GPU, and a server that keeps
off the GPU. Marked ``cuda`` and skipped without one: ``pytest -m cuda`` on a GPU machine
(``python bench/gpu_check.py`` runs them first)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.finetune import device as dev
from playground.finetune import loop as training
from playground.finetune import pixels, runtime
from playground.finetune.config import TrainConfig
from playground.finetune.data import Dataset
from playground.finetune.prefetch import Prefetcher
from tests.support.finetune_data import TINY

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run pytest -m cuda on one)")]

REPO = Path(__file__).resolve().parents[2]


def _finetune(tiny: Dataset, **settings: object) -> tuple[training.TrainResult, list[dict]]:
    events: list[dict] = []
    cfg = TrainConfig(**dict(TINY, strategy="full", device="cuda", augment=True, **settings))
    return training.train(cfg, tiny, on_event=events.append), events


def _check_run(result: training.TrainResult, events: list[dict], precision: str) -> None:
    assert result.device.startswith("cuda") and result.precision == precision
    batches = [e for e in events if e["event"] == "batch"]
    # Reported in groups on a GPU, but one event per step, each with its own finite loss.
    assert len(batches) == batches[-1]["total_steps"] == batches[-1]["global_step"]
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in batches)
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in result.history)
    assert all(p.device.type == "cpu" for p in result.model.parameters())  # the saved model is on the CPU


def test_a_fine_tune_in_bf16_on_a_gpu_that_has_it(tiny: Dataset) -> None:
    if not dev.cuda_bf16_native():
        pytest.skip("this GPU only emulates bf16 (the fp16 test covers it)")
    result, events = _finetune(tiny, precision="mixed")
    _check_run(result, events, "bfloat16")
    # A GPU worker's settings: cuDNN autotuning and TF32 for fp32 matmuls and convolutions.
    assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_a_fine_tune_in_fp16_with_loss_scaling(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "cuda_bf16_native", lambda index=None: False)  # as on a T4 or V100
    result, events = _finetune(tiny, precision="mixed")
    _check_run(result, events, "float16")


def test_a_fine_tune_in_fp32(tiny: Dataset) -> None:
    result, events = _finetune(tiny, precision="fp32")
    _check_run(result, events, "fp32")


def test_the_head_strategy_on_cached_features(tiny: Dataset) -> None:
    events: list[dict] = []
    result = training.train(TrainConfig(**TINY, device="cuda"), tiny, on_event=events.append)
    assert result.config.uses_feature_cache and result.device.startswith("cuda")
    assert len([e for e in events if e["event"] == "batch"]) == 2 * 3


def test_pinned_prefetch_gives_the_rows_on_the_gpu() -> None:
    images = torch.randint(0, 255, (50, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(50)
    batches = list(torch.randperm(50).split(16))  # 16, 16, 16, 2
    pre = Prefetcher((images, labels), "cuda")
    for _ in range(2):  # a second pass (the next epoch) reuses the buffers
        got = list(pre.batches(batches))
        assert len(got) == len(batches)
        for (x, y), idx in zip(got, batches):
            assert x.is_cuda and x.dtype == torch.uint8
            assert torch.equal(x.cpu(), images[idx]) and torch.equal(y.cpu(), labels[idx])
    assert len(pre._buffers) == 2 and all(buf.is_pinned() for pair in pre._buffers for buf in pair)
    # A step that keeps using a batch while the next ones are copied sees its own rows throughout.
    kept = [x for x, _ in pre.batches(batches)]
    torch.cuda.synchronize()
    assert all(torch.equal(x.cpu(), images[idx]) for x, idx in zip(kept, batches))


def test_the_batched_augmentation_on_the_gpu_equals_the_cpus() -> None:
    x = torch.randn(16, 3, 32, 32)
    cpu = pixels.augment(x, torch.Generator().manual_seed(3))
    gpu = pixels.augment(x.cuda(), torch.Generator().manual_seed(3))
    assert torch.equal(gpu.cpu(), cpu)


def _python(code: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=str(REPO), **(env or {})))
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_shared_gpus_memory_cap_stops_an_allocation_beyond_it() -> None:
    code = """
import torch
from playground.finetune.device import gpu_memory_fraction, limit_gpu_memory
total = torch.cuda.get_device_properties(0).total_memory
assert limit_gpu_memory(gpu_memory_fraction(0.25))
small = torch.empty(int(total * 0.1), dtype=torch.uint8, device="cuda")
try:
    torch.empty(int(total * 0.3), dtype=torch.uint8, device="cuda")
    print("allocated")
except torch.cuda.OutOfMemoryError:
    print("refused")
"""
    assert _python(code) == "refused"


def test_a_worker_sees_the_physical_gpu_of_its_slot() -> None:
    parent = os.environ.get(dev.VISIBLE_DEVICES_ENV)
    expected = str(torch.cuda.get_device_properties(0).uuid)
    code = "import torch; print(torch.cuda.device_count(), torch.cuda.get_device_properties(0).uuid)"
    seen = _python(code, {dev.VISIBLE_DEVICES_ENV: dev.physical_gpu(0, parent)})
    assert seen == f"1 {expected}"


def test_a_server_on_the_cpu_creates_no_cuda_context() -> None:
    code = """
import json, os, torch
from playground.finetune.device import server_device
from playground.models.registry import load_zoo_model
from playground.models.serving import Serving
from playground.samples import SAMPLE_PHOTOS, load_sample
where = server_device()
loaded = load_zoo_model("efficientnet_lite0", device=where)
top = Serving().predict(loaded, load_sample(next(iter(SAMPLE_PHOTOS)))).top
print(json.dumps({"device": where, "cuda_initialized": torch.cuda.is_initialized(), "top": len(top)}))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PLAYGROUND_SERVER_DEVICE", "PLAYGROUND_RUNNER")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                         env=dict(env, PYTHONPATH=str(REPO)))
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"device": "cpu", "cuda_initialized": False, "top": 5}
