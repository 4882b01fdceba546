"""The GPU check: one script a person with a CUDA machine runs once (under 8 minutes), printing one report.

    python bench/gpu_check.py [--budget 420] [--epochs 3] [--batch 128]

It prints, each measured in this run on this GPU:
1. the CUDA tests (``pytest -m cuda``): passed / failed / skipped;
2. fine-tuning throughput of EfficientNet-Lite0 at 224 px (images/s over the optimiser steps of
   every epoch after the first, which pays for cuDNN's autotuning) for head / last-block / full
   in fp32 (TF32) and mixed precision (bf16 where the GPU has it natively, else fp16), each against
   a hand-written PyTorch loop of the same model, strategy, batch and precision on a batch already
   on the GPU: the ceiling, so the ratio is what the playground's input path and bookkeeping cost;
3. the training memory estimate (``memory_estimate``) against ``torch.cuda.max_memory_allocated``
   of a real training step, for three models x three strategies;
4. Predict latency: a bare forward pass against the server's path (``Serving.predict``: cache
   miss, batching window, preprocessing, top-k), on the GPU and on the server's default device;
then the targets, each "met" or "NOT met" with its figure. Sections that would run past the time
budget are skipped and listed. Without CUDA it says so, lists what it skipped, and exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PLAYGROUND_HOME", tempfile.mkdtemp(prefix="gpu-check-"))

MODEL = "efficientnet_lite0"
SIZE = 224
STRATEGIES = ("head", "last-block", "full")
PRECISIONS = ("fp32", "mixed")
MEMORY_MODELS = ("efficientnet_lite0", "mobilenet_v2", "resnet18")
MEMORY_BATCH = 32
CLASSES = 10
# The targets.
TARGET_FULL_BF16_IPS = 3000.0
TARGET_VS_HAND = 0.9
TARGET_MEMORY_ERROR = 0.10
SECTIONS = (
    "CUDA tests (pytest -m cuda)",
    f"fine-tune images/s, {MODEL} at {SIZE} px: head / last-block / full x fp32 / bf16, against a hand-written loop",
    f"memory_estimate against torch.cuda.max_memory_allocated: {', '.join(MEMORY_MODELS)} x head / last-block / full",
    "Predict latency: bare forward pass against the server's path",
)
_TESTS_TIMEOUT_S = 240


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; later sections are skipped past it")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fine-tune (the first is not timed)")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        print(f"CUDA: absent (torch {torch.__version__}: {why}).")
        print("Skipped, as each needs a CUDA GPU:")
        for section in SECTIONS:
            print(f"  - {section}")
        print("Targets: not checked here. GPU figures: not measured.")
        return 0

    deadline = time.monotonic() + args.budget
    props = torch.cuda.get_device_properties(0)
    from playground.finetune.device import cuda_bf16_native

    print(f"GPU: {props.name}, compute capability {props.major}.{props.minor}, {props.total_memory / 2**30:.1f} GiB; "
          f"torch {torch.__version__}, CUDA {torch.version.cuda}; bf16 "
          f"{'native' if cuda_bf16_native() else 'emulated (mixed precision uses fp16)'}\n")
    skipped: list[str] = []
    results: dict[str, Any] = {}

    def section(index: int, fn: Callable[[], Any], need_s: float) -> None:
        if time.monotonic() + need_s > deadline:
            skipped.append(SECTIONS[index])
            return
        results[SECTIONS[index]] = fn()

    section(0, cuda_tests, _TESTS_TIMEOUT_S / 2)
    section(1, lambda: throughput(args.epochs, args.batch), 60)
    section(2, memory_check, 20)
    section(3, predict_latency, 10)
    for name in skipped:
        print(f"skipped (past the {args.budget:.0f} s budget): {name}")
    targets(results.get(SECTIONS[1]), results.get(SECTIONS[2]))
    return 0


# --------------------------------------------------------------------------- 1. the CUDA tests


def cuda_tests() -> dict[str, int]:
    """``pytest -m cuda`` in a fresh interpreter; the counts of its summary line."""
    start = time.monotonic()
    try:
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"],
                             cwd=REPO, capture_output=True, text=True, timeout=_TESTS_TIMEOUT_S)
        text = out.stdout + out.stderr
    except subprocess.TimeoutExpired:
        text = f"timed out after {_TESTS_TIMEOUT_S} s"
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", text)}
    print(f"1. CUDA tests (pytest -m cuda): {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
          f"{counts.get('skipped', 0)} skipped, {counts.get('error', 0) + counts.get('errors', 0)} errors "
          f"({time.monotonic() - start:.0f} s)")
    if counts.get("failed") or counts.get("error") or counts.get("errors") or not counts.get("passed"):
        print("   " + "\n   ".join(text.strip().splitlines()[-15:]))
    print()
    return counts


# --------------------------------------------------------------------------- 2. throughput


def _digits() -> Any:
    from playground.finetune.data import bundled

    return bundled("digits")


def playground_ips(ds: Any, strategy: str, precision: str, epochs: int, batch: int) -> tuple[float, str]:
    """(images/s of the playground's loop over epochs 2.., the precision it chose) for one setting."""
    from playground.finetune.config import TrainConfig
    from playground.finetune.loop import train

    events: list[dict[str, Any]] = []
    cfg = TrainConfig(model=MODEL, strategy=strategy, precision=precision, image_size=SIZE, batch_size=batch,
                      epochs=epochs, device="cuda", cache_features=False)
    result = train(cfg, ds, on_event=events.append)
    steady = [e for e in events if e["event"] == "batch" and e["epoch"] >= 2 and e["images_per_sec"]]
    images = sum(e["images"] for e in steady)
    seconds = sum(e["images"] / e["images_per_sec"] for e in steady)  # a report's steps share its rate
    return (images / seconds if seconds else 0.0), result.precision


def hand_loop_ips(strategy: str, precision: str, batch: int, steps: int = 20) -> float:
    """images/s of a hand-written loop: the same pretrained model, frozen the same way, the same batch
    and precision, channels_last, fused AdamW, one random batch already on the GPU."""
    import torch
    import torch.nn.functional as F

    from playground.finetune.config import TrainConfig
    from playground.finetune.strategy import apply_strategy, set_modes
    from playground.models.registry import MODELS, load_zoo_model, replace_head

    entry, cfg = MODELS[MODEL], TrainConfig(model=MODEL, strategy=strategy)
    model = load_zoo_model(MODEL).model
    replace_head(model, entry, CLASSES)
    groups = apply_strategy(model, entry, cfg)
    model.to("cuda", memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(groups, fused=True)
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
    x = torch.randn(batch, 3, SIZE, SIZE, device="cuda").contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, CLASSES, (batch,), device="cuda")
    set_modes(model, cfg)

    def step() -> None:
        with torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext():
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(5):  # cuDNN autotuning, allocator
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def throughput(epochs: int, batch: int) -> dict[tuple[str, str], tuple[float, float, str]]:
    """(strategy, fp32|mixed) -> (playground images/s, hand-written loop images/s, precision used)."""
    ds = _digits()
    print(f"2. Fine-tune throughput: {MODEL} at {SIZE} px, batch {batch}, {len(ds.items)} digits, "
          f"{epochs} epochs (the first not timed); images/s over the optimiser steps")
    print(f"   {'strategy':<12}{'precision':<11}{'playground':>12}{'hand loop':>12}{'ratio':>8}")
    rows: dict[tuple[str, str], tuple[float, float, str]] = {}
    for strategy in STRATEGIES:
        for precision in PRECISIONS:
            ours, used = playground_ips(ds, strategy, precision, epochs, batch)
            hand = hand_loop_ips(strategy, used, batch)
            rows[(strategy, precision)] = (ours, hand, used)
            print(f"   {strategy:<12}{used:<11}{ours:>12,.0f}{hand:>12,.0f}{ours / hand:>7.2f}x")
    print()
    return rows


# --------------------------------------------------------------------------- 3. memory


def measured_training_bytes(name: str, strategy: str, batch: int) -> int:
    """Peak bytes the CUDA allocator held for a model's training step (the second one: the first
    creates the optimizer state and pays for cuDNN's autotuning), beyond the input batch."""
    import torch
    import torch.nn.functional as F

    from playground.finetune.config import TrainConfig
    from playground.finetune.strategy import apply_strategy, set_modes
    from playground.models.registry import MODELS, replace_head

    torch.cuda.empty_cache()
    x = torch.randn(batch, 3, SIZE, SIZE, device="cuda")
    y = torch.randint(0, CLASSES, (batch,), device="cuda")
    base = torch.cuda.memory_allocated()
    entry, cfg = MODELS[name], TrainConfig(model=name, strategy=strategy)
    model = entry.builder()  # random weights: memory does not depend on them
    replace_head(model, entry, CLASSES)
    groups = apply_strategy(model, entry, cfg)
    model.to("cuda")
    opt = torch.optim.AdamW(groups, fused=True)
    for k in range(2):
        if k == 1:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        set_modes(model, cfg)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    del model, opt, groups, loss, x, y
    torch.cuda.empty_cache()
    return peak


def memory_check() -> dict[tuple[str, str], tuple[int, int]]:
    """(model, strategy) -> (estimated training bytes, measured peak bytes), fp32, AdamW."""
    import playground

    print(f"3. Training memory at batch {MEMORY_BATCH}, {SIZE} px, fp32, AdamW: memory_estimate against "
          "torch.cuda.max_memory_allocated (MiB)")
    print(f"   {'model':<20}{'strategy':<12}{'estimate':>10}{'measured':>10}{'error':>8}")
    rows: dict[tuple[str, str], tuple[int, int]] = {}
    for name in MEMORY_MODELS:
        for strategy in STRATEGIES:
            est = playground.memory_estimate(name, MEMORY_BATCH, strategy, input_shape=(3, SIZE, SIZE),
                                             num_classes=CLASSES).training_bytes
            real = measured_training_bytes(name, strategy, MEMORY_BATCH)
            rows[(name, strategy)] = (est, real)
            print(f"   {name:<20}{strategy:<12}{est / 2**20:>10,.0f}{real / 2**20:>10,.0f}{est / real - 1:>+8.1%}")
    print()
    return rows


# --------------------------------------------------------------------------- 4. Predict latency


def predict_latency(repeats: int = 30) -> dict[str, float]:
    """Median milliseconds: a bare forward pass, and the server's path on the GPU and on its default device."""
    import torch

    from playground.finetune.device import server_device
    from playground.models.registry import load_zoo_model
    from playground.models.serving import Serving
    from playground.samples import SAMPLE_PHOTOS, load_sample

    img = load_sample(next(iter(SAMPLE_PHOTOS)))
    gpu = load_zoo_model(MODEL, device="cuda")
    x = gpu.preprocess(img).unsqueeze(0).cuda()  # (1, 3, 224, 224)

    def bare() -> None:
        with torch.no_grad():
            gpu.model(x)
        torch.cuda.synchronize()

    def median_ms(fn: Callable[[], object]) -> float:
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)

    serving = Serving()

    def served(loaded: Any) -> Callable[[], object]:
        def run() -> object:
            serving.cache.clear()  # a new photo each time: the model runs
            return serving.predict(loaded, img)
        return run

    where = server_device()
    out = {"bare forward, cuda": median_ms(bare), "server path, cuda": median_ms(served(gpu))}
    if not where.startswith("cuda"):
        out[f"server path, {where} (the server's default here)"] = median_ms(served(load_zoo_model(MODEL)))
    print(f"4. Predict latency, {MODEL}, one photo (median of {repeats}, ms)")
    for label, ms in out.items():
        print(f"   {label:<48}{ms:>8.1f}")
    print()
    return out


# --------------------------------------------------------------------------- targets


def targets(rows: dict[tuple[str, str], tuple[float, float, str]] | None,
            memory: dict[tuple[str, str], tuple[int, int]] | None) -> None:
    """Each target of the issue, met or NOT met, with its figure (or why it was not measured)."""
    print("Targets")
    full = rows.get(("full", "mixed")) if rows else None
    if full is None:
        print("   full fine-tune bf16 throughput and ratio: not measured (skipped)")
    else:
        ours, hand, used = full
        note = "" if used == "bfloat16" else f" (this GPU ran {used}: it has no native bf16)"
        print(f"   full fine-tune, Lite0 224 px, bf16 >= {TARGET_FULL_BF16_IPS:,.0f} images/s: "
              f"{_met(ours >= TARGET_FULL_BF16_IPS)} ({ours:,.0f}){note}")
        print(f"   full fine-tune bf16 >= {TARGET_VS_HAND}x the hand-written loop: "
              f"{_met(ours >= TARGET_VS_HAND * hand)} ({ours / hand:.2f}x)")
    if not memory:
        print("   memory estimate within 10% of max_memory_allocated: not measured (skipped)")
        return
    worst = max(memory, key=lambda k: abs(memory[k][0] / memory[k][1] - 1))
    error = memory[worst][0] / memory[worst][1] - 1
    print(f"   memory estimate within {TARGET_MEMORY_ERROR:.0%} of max_memory_allocated: "
          f"{_met(abs(error) <= TARGET_MEMORY_ERROR)} (worst {error:+.1%}, {worst[0]} {worst[1]})")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    raise SystemExit(main())
