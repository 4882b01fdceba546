"""Where PyTorch work runs, decided by small pure functions: a job slot's GPU, the precision, CPU threads,
the server's device, a shared GPU's memory share, and the CUDA settings a training process uses.

The choices are pure functions of what they look at (environment values, core and GPU counts, a
GPU's compute capability), so they are tested on a CPU with made-up values; the few functions that
ask PyTorch import it when called. No torch at import: the job manager and the sidebar import this.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from playground.errors import PlaygroundError

__all__ = [
    "SERVER_DEVICE_ENV",
    "VISIBLE_DEVICES_ENV",
    "NATIVE_BF16_CAPABILITY",
    "MIN_CORES_TO_SPARE_ONE",
    "visible_devices",
    "physical_gpu",
    "bf16_is_native",
    "mixed_precision_dtype",
    "worker_threads",
    "jobs_use_local_gpus",
    "choose_server_device",
    "server_device",
    "gpu_count",
    "describe_compute",
    "gpu_memory_fraction",
    "cuda_bf16_native",
    "configure_cuda_backends",
    "limit_gpu_memory",
]

SERVER_DEVICE_ENV = "PLAYGROUND_SERVER_DEVICE"  # auto (default), cpu, cuda or cuda:N
VISIBLE_DEVICES_ENV = "CUDA_VISIBLE_DEVICES"
# bf16 arithmetic in hardware: Ampere (8.0) and later. Older GPUs (T4 7.5, V100 7.0) only emulate it,
# several times slower than fp16 on their tensor cores, so they get fp16 with a GradScaler.
NATIVE_BF16_CAPABILITY = (8, 0)
# With this many cores or more, one is left to the app (the server, other sessions).
MIN_CORES_TO_SPARE_ONE = 4
_SERVER_DEVICES = "auto, cpu, cuda or cuda:N"


# --------------------------------------------------------------------------- which GPU a job slot uses


def visible_devices(value: str | None) -> list[str] | None:
    """The GPUs a ``CUDA_VISIBLE_DEVICES`` value lists, in order (indices or UUIDs, as written);
    None when it is unset (every GPU is visible). CUDA stops at the first empty entry, as here."""
    if value is None:
        return None
    out = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            break
        out.append(entry)
    return out


def physical_gpu(slot: int, parent_visible: str | None) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` value for the worker of GPU slot ``slot``.

    Slots count the GPUs the server sees (``torch.cuda.device_count()``), which are the ones its own
    ``CUDA_VISIBLE_DEVICES`` lists: slot 1 of a server started with ``2,3`` is physical GPU 3, not 1.
    A worker inherits that variable, so it names the entry, not the slot number. ValueError when the
    slot is not one of the visible GPUs.
    """
    if slot < 0:
        raise ValueError(f"GPU slot {slot} is negative")
    listed = visible_devices(parent_visible)
    if listed is None:
        return str(slot)
    if slot >= len(listed):
        raise ValueError(f"GPU slot {slot}, but {VISIBLE_DEVICES_ENV}={parent_visible!r} lists {len(listed)} GPU(s)")
    return listed[slot]


# --------------------------------------------------------------------------- precision


def bf16_is_native(capability: tuple[int, int], reported: bool | None = None) -> bool:
    """Whether a CUDA GPU computes bf16 in hardware: PyTorch's own answer without emulation when it
    gives one (``reported``), else compute capability 8.0 or later."""
    if reported is not None:
        return reported
    return tuple(capability) >= NATIVE_BF16_CAPABILITY


def mixed_precision_dtype(device_type: str, bf16_native: bool) -> str:
    """The autocast dtype name of a mixed-precision run: "bfloat16" on a CPU (its autocast has no
    fp16) and on GPUs with native bf16; "float16" (with loss scaling) on older GPUs."""
    if device_type != "cuda":
        return "bfloat16"
    return "bfloat16" if bf16_native else "float16"


def cuda_bf16_native(index: int | None = None) -> bool:
    """Whether CUDA GPU ``index`` (default: the current one) has native bf16. Touches CUDA: call it
    only where the run's own device is that GPU (a worker), never in a server that keeps off the GPU."""
    import torch

    reported: bool | None = None
    try:
        # PyTorch >= 2.3: without including_emulation=False it says True on GPUs that emulate bf16.
        reported = bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:
        reported = None
    capability = torch.cuda.get_device_capability(index)
    return bf16_is_native(capability, reported if index is None or index == torch.cuda.current_device() else None)


# --------------------------------------------------------------------------- CPU threads


def worker_threads(cores: int, workers: int = 1) -> int:
    """PyTorch threads for one of ``workers`` training processes running at once on ``cores`` cores:
    the cores (less one left to the app on 4+ cores) shared out, at least one each. N GPU workers
    each starting a thread per core would oversubscribe the CPU that feeds all of them."""
    cores = max(1, cores)
    usable = cores - 1 if cores >= MIN_CORES_TO_SPARE_ONE else cores
    return max(1, usable // max(1, workers))


# --------------------------------------------------------------------------- the server's device


def jobs_use_local_gpus(env: Mapping[str, str]) -> bool:
    """Whether fine-tuning jobs run on this machine's GPUs: local workers, or a Ray cluster this
    server starts itself (no ``RAY_ADDRESS``); a Ray cluster elsewhere leaves them to the server."""
    runner = (env.get("PLAYGROUND_RUNNER") or "local").strip().lower()
    return runner != "ray" or not (env.get("RAY_ADDRESS") or "").strip()


def choose_server_device(setting: str | None, gpus: int, jobs_local: bool) -> str:
    """The device of the server's own PyTorch work (Predict, Grad-CAM, estimates): "cpu" or "cuda:N".

    ``setting`` is ``PLAYGROUND_SERVER_DEVICE``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (unset).
    Auto keeps the server off the GPU when training jobs use this machine's GPUs (a second CUDA
    context beside a worker costs that job memory and time), and uses GPU 0 when there is one and
    jobs run elsewhere. PlaygroundError for a value it cannot use.
    """
    value = (setting or "auto").strip().lower()
    if value == "auto":
        return "cuda:0" if gpus > 0 and not jobs_local else "cpu"
    if value == "cpu":
        return "cpu"
    if value == "cuda" or value.startswith("cuda:"):
        index_text = value.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise PlaygroundError(f"{SERVER_DEVICE_ENV}={setting!r} is not a device; use {_SERVER_DEVICES}")
        index = int(index_text)
        if index >= gpus:
            seen = f"only {gpus} GPU(s)" if gpus else "no CUDA GPU"
            raise PlaygroundError(f"{SERVER_DEVICE_ENV}={setting!r}, but PyTorch sees {seen} here; "
                                  f"use {_SERVER_DEVICES}")
        return f"cuda:{index}"
    raise PlaygroundError(f"{SERVER_DEVICE_ENV}={setting!r} is not a device; use {_SERVER_DEVICES}")


def gpu_count() -> int:
    """CUDA GPUs PyTorch sees: a driver query that creates no CUDA context (0 without torch's CUDA)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken driver install means no GPU for this purpose
        return 0


def server_device(env: Mapping[str, str] | None = None, gpus: int | None = None) -> str:
    """The server's device now (see :func:`choose_server_device`), from ``env`` (default: the process's)."""
    env = os.environ if env is None else env
    count = gpu_count() if gpus is None else gpus
    return choose_server_device(env.get(SERVER_DEVICE_ENV), count, jobs_use_local_gpus(env))


def describe_compute(server: str, cores: int, gpus: int, gpu_name: str | None = None) -> str:
    """One line for the sidebar: the server's device, and the GPUs left to the jobs."""
    if server.startswith("cuda"):
        name = f" ({gpu_name})" if gpu_name else ""
        return f"Server: GPU {server.partition(':')[2] or '0'}{name}; {cores} CPU cores"
    where = f"; jobs get the {gpus} GPU(s)" if gpus else ", no GPU"
    return f"Server: CPU, {cores} cores{where}"


# --------------------------------------------------------------------------- in a GPU training process


def gpu_memory_fraction(assigned_gpus: float) -> float | None:
    """The share of its GPU's memory a job may allocate: the share of the GPU it was given (a Ray
    head job gets a quarter of one), or None (no cap) for a whole GPU or none."""
    if 0 < assigned_gpus < 1:
        return float(assigned_gpus)
    return None


def limit_gpu_memory(fraction: float | None, index: int = 0) -> bool:
    """Cap this process's CUDA allocations on GPU ``index`` at ``fraction`` of its memory, so jobs
    sharing a GPU cannot starve each other (an over-cap allocation raises OutOfMemoryError, which
    the loop reports). Returns whether a cap was set."""
    if fraction is None:
        return False
    import torch

    if not torch.cuda.is_available():
        return False
    torch.cuda.set_per_process_memory_fraction(fraction, index)
    return True


def configure_cuda_backends(torch_module: Any = None) -> dict[str, Any]:
    """Settings of a GPU training process: cuDNN picks the fastest convolution algorithm for each
    input shape (a run repeats few shapes), and fp32 matmuls and convolutions use TF32 tensor cores
    on Ampere and later (fp32 range, 10-bit mantissa: what mixed precision gives up anyway).
    Returns what was set. Never called in the server process."""
    torch = torch_module
    if torch is None:
        import torch
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return {"cudnn.benchmark": True, "matmul.allow_tf32": True, "cudnn.allow_tf32": True}
