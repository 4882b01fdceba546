"""Device choices as pure functions (no GPU needed): a job slot's physical GPU, the precision,
CPU threads per worker, the server's device, a shared GPU's memory share; and the estimate of a GPU
job on a server that keeps off the GPU, the CPU prefetcher and the batched augmentation."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from playground.errors import PlaygroundError
from playground.finetune import device as dev
from playground.finetune import pixels
from playground.finetune.prefetch import Prefetcher


@pytest.mark.parametrize(("slot", "parent", "expected"), [
    (0, None, "0"), (1, None, "1"),  # no CUDA_VISIBLE_DEVICES: every GPU, slot = index
    (0, "2,3", "2"), (1, "2,3", "3"),  # the server sees physical 2 and 3 as its 0 and 1
    (1, " 5 , 7 ", "7"),
    (1, "GPU-8c1f2a3e-aaaa-bbbb-cccc-0123456789ab,GPU-11111111-2222-3333-4444-555555555555",
     "GPU-11111111-2222-3333-4444-555555555555"),
    (0, "MIG-0e1b2c3d-aaaa-bbbb-cccc-0123456789ab", "MIG-0e1b2c3d-aaaa-bbbb-cccc-0123456789ab"),
])
def test_a_slot_names_the_gpu_the_server_sees_as_that_index(slot: int, parent: str | None, expected: str) -> None:
    assert dev.physical_gpu(slot, parent) == expected


def test_a_slot_outside_the_visible_gpus_is_refused() -> None:
    with pytest.raises(ValueError, match=r"slot 2, but CUDA_VISIBLE_DEVICES='2,3' lists 2 GPU"):
        dev.physical_gpu(2, "2,3")
    with pytest.raises(ValueError, match="lists 0 GPU"):
        dev.physical_gpu(0, "")
    assert dev.visible_devices("1,,3") == ["1"]  # CUDA stops at the first empty entry
    assert dev.visible_devices(None) is None


@pytest.mark.parametrize(("capability", "reported", "native"), [
    ((7, 5), None, False),  # T4: bf16 only emulated
    ((7, 0), None, False),  # V100
    ((8, 0), None, True),  # A100
    ((8, 6), None, True),
    ((9, 0), None, True),  # H100
    ((9, 0), False, False),  # PyTorch's own answer (without emulation) wins when it gives one
    ((7, 5), True, True),
])
def test_bf16_only_where_the_gpu_computes_it_natively(capability: tuple[int, int], reported: bool | None,
                                                      native: bool) -> None:
    assert dev.bf16_is_native(capability, reported) is native
    assert dev.mixed_precision_dtype("cuda", native) == ("bfloat16" if native else "float16")


def test_cpu_mixed_precision_is_bf16() -> None:
    assert dev.mixed_precision_dtype("cpu", False) == "bfloat16"


def test_the_autocast_dtype_follows_the_native_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from playground.finetune import runtime
    from playground.finetune.config import TrainConfig

    for native, dtype in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(runtime, "cuda_bf16_native", lambda index=None, native=native: native)
        cuda = torch.device("cuda")
        assert runtime._autocast_dtype(TrainConfig(), cuda) is dtype  # auto: mixed on a GPU
        assert runtime._autocast_dtype(TrainConfig(precision="fp32"), cuda) is None
    assert runtime._autocast_dtype(TrainConfig(), torch.device("cpu")) is None
    assert runtime._autocast_dtype(TrainConfig(precision="mixed"), torch.device("cpu")) is torch.bfloat16


@pytest.mark.parametrize(("cores", "workers", "threads"), [
    (1, 1, 1), (2, 1, 2), (3, 1, 3),  # small boxes: every core
    (4, 1, 3), (16, 1, 15),  # one core left to the app
    (16, 4, 3), (16, 8, 1), (8, 2, 3),  # shared among concurrent GPU workers
    (2, 4, 1), (0, 1, 1),  # never below one
])
def test_cpu_threads_are_shared_among_concurrent_workers(cores: int, workers: int, threads: int) -> None:
    assert dev.worker_threads(cores, workers) == threads


def test_runtime_cpu_threads_is_one_worker_of_all_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from playground.finetune import runtime

    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert (runtime.cpu_threads(), runtime.cpu_threads(4)) == (15, 3)


@pytest.mark.parametrize(("env", "gpus", "expected"), [
    ({}, 0, "cpu"),
    ({}, 2, "cpu"),  # local workers train on the GPUs: the server stays off them
    ({"PLAYGROUND_RUNNER": "ray"}, 1, "cpu"),  # a Ray cluster this server starts uses them too
    ({"PLAYGROUND_RUNNER": "ray", "RAY_ADDRESS": "10.0.0.5:6379"}, 1, "cuda:0"),  # jobs run elsewhere
    ({"PLAYGROUND_RUNNER": "ray", "RAY_ADDRESS": "10.0.0.5:6379"}, 0, "cpu"),
    ({"PLAYGROUND_SERVER_DEVICE": "cuda"}, 2, "cuda:0"),
    ({"PLAYGROUND_SERVER_DEVICE": " CUDA:1 "}, 2, "cuda:1"),
    ({"PLAYGROUND_SERVER_DEVICE": "cpu", "PLAYGROUND_RUNNER": "ray", "RAY_ADDRESS": "x:1"}, 1, "cpu"),
    ({"PLAYGROUND_SERVER_DEVICE": "auto"}, 1, "cpu"),
])
def test_the_server_device(env: dict[str, str], gpus: int, expected: str) -> None:
    assert dev.server_device(env, gpus) == expected


@pytest.mark.parametrize(("value", "gpus", "message"), [
    ("gpu", 1, r"PLAYGROUND_SERVER_DEVICE='gpu' is not a device; use auto, cpu, cuda or cuda:N"),
    ("cuda:x", 1, r"is not a device"),
    ("cuda", 0, r"PLAYGROUND_SERVER_DEVICE='cuda', but PyTorch sees no CUDA GPU here"),
    ("cuda:2", 2, r"sees only 2 GPU\(s\) here"),
])
def test_a_server_device_that_cannot_be_used_is_refused(value: str, gpus: int, message: str) -> None:
    with pytest.raises(PlaygroundError, match=message):
        dev.server_device({"PLAYGROUND_SERVER_DEVICE": value}, gpus)


def test_the_sidebar_line() -> None:
    assert dev.describe_compute("cpu", 16, 2) == "Server: CPU, 16 cores; jobs get the 2 GPU(s)"
    assert dev.describe_compute("cpu", 2, 0) == "Server: CPU, 2 cores, no GPU"
    assert dev.describe_compute("cuda:0", 16, 1, "NVIDIA H100") == "Server: GPU 0 (NVIDIA H100); 16 CPU cores"


def test_a_shared_gpu_caps_each_jobs_memory() -> None:
    assert dev.gpu_memory_fraction(0.25) == 0.25
    assert dev.gpu_memory_fraction(1.0) is None and dev.gpu_memory_fraction(0) is None
    assert dev.limit_gpu_memory(None) is False


def test_cuda_backend_settings_are_what_a_gpu_worker_sets() -> None:
    class Flags:
        pass

    fake = Flags()
    fake.backends = Flags()  # type: ignore[attr-defined]
    for name in ("cudnn", "cuda"):
        setattr(fake.backends, name, Flags())  # type: ignore[attr-defined]
    fake.backends.cuda.matmul = Flags()  # type: ignore[attr-defined]
    dev.configure_cuda_backends(fake)
    assert fake.backends.cudnn.benchmark and fake.backends.cudnn.allow_tf32  # type: ignore[attr-defined]
    assert fake.backends.cuda.matmul.allow_tf32  # type: ignore[attr-defined]


def test_device_choices_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, playground.finetune.device; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- the input path on a CPU


def _augment_one_by_one(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The per-image loop the batched augmentation replaced (the reference it must equal)."""
    b, _, s, _ = x.shape
    pad = max(1, s // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=gen)
    flips = torch.rand(b, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(b):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[i, :, dy : dy + s, dx : dx + s]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


@pytest.mark.parametrize("size", [8, 17, 32, 64])
def test_batched_augmentation_gives_the_same_crops_and_flips(size: int) -> None:
    x = torch.randn(12, 3, size, size)
    for seed in range(4):
        expected = _augment_one_by_one(x, torch.Generator().manual_seed(seed))
        assert torch.equal(pixels.augment(x, torch.Generator().manual_seed(seed)), expected)


def test_the_cpu_prefetcher_is_a_plain_gather() -> None:
    images = torch.arange(10 * 3 * 2 * 2, dtype=torch.uint8).view(10, 3, 2, 2)
    labels = torch.arange(10)
    batches = list(torch.tensor([3, 1, 4, 0, 9, 2, 6]).split(3))
    got = list(Prefetcher((images, labels), "cpu").batches(batches))
    assert len(got) == 3
    for (x, y), idx in zip(got, batches):
        assert torch.equal(x, images[idx]) and torch.equal(y, labels[idx])
    assert list(Prefetcher((images,), "cpu").batches([])) == []


def test_a_gpu_jobs_estimate_is_timed_on_the_servers_cpu(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that leaves the GPU to the jobs never creates a CUDA context for a probe: it times the
    probe on its CPU and says the figure is an upper bound; a GPU job's own costs replace it."""
    from playground.finetune import calibration
    from playground.finetune import estimate as estimates
    from playground.finetune.config import TrainConfig
    from playground.finetune.eta import Costs
    from tests.support.finetune_data import TINY

    monkeypatch.setattr(estimates, "resolve_device", lambda cfg: torch.device("cuda"))
    monkeypatch.setattr(estimates, "server_device", lambda: "cpu")
    seen = []
    real_probe = estimates._probe_elsewhere  # the probe in its child process, on this device
    monkeypatch.setattr(estimates, "_probe_elsewhere", lambda cfg, ds, device, alive: seen.append(device) or
                        real_probe(cfg, ds, device, alive))
    cfg = TrainConfig(**TINY)
    est = estimates.estimate(cfg, tiny)
    assert seen == [torch.device("cpu")] and est.device == "cuda" and est.source == "server cpu"
    assert "timed on this server's CPU" in est.method and "upper bound" in est.method
    calibration.record_run(calibration.calibration_key(cfg, "cuda"), Costs(forward=1e-4, step=1e-4, evaluate=1e-4),
                           None)
    again = estimates.estimate(cfg, tiny)
    assert again.source == "run" and len(seen) == 1
