"""How much does the playground add around the bare model? Prints ratios, not absolute claims.

1. ``predict`` end to end on a real photo (skimage's coffee cup: preprocess, forward,
   softmax, top-5), also with JPEG decoding in front, against the bare ``model(x)`` on a
   ready tensor. Goal on CPU: <= 1.3.
2. A 12-megapixel phone-sized JPEG: decode + predict with draft-mode decoding (to the
   model's resize, as the CLI does; and load_image's default, as the page does) against
   full-size decoding, and against the bare forward.

Run: ``python bench/bench_predict.py [--device cpu|cuda] [--repeats N]``.
"""
from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from playground.catalog import load_model  # noqa: E402
from playground.images import load_image  # noqa: E402
from playground.models.inference import predict  # noqa: E402
from playground.models.registry import DEFAULT_MODEL  # noqa: E402
from playground.samples import load_sample  # noqa: E402


def interleaved_medians(variants: dict[str, Callable[[], object]], repeats: int,
                        sync: Callable[[], None]) -> dict[str, tuple[float, float]]:
    """(median, best) milliseconds per variant, timed in rounds (shuffled order each round) so that load
    from other processes falls on every variant alike; each timed call follows an untimed one of
    the same variant, so none pays for the caches another variant evicted."""
    rng = random.Random(0)
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for _ in range(repeats):
        rng.shuffle(names)
        for name in names:
            variants[name]()  # warm
            sync()
            start = time.perf_counter()
            variants[name]()
            sync()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: (statistics.median(times[name]), min(times[name])) for name in variants}


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    loaded = load_model(DEFAULT_MODEL, device=args.device)
    sync = torch.cuda.synchronize if loaded.device.type == "cuda" else (lambda: None)
    photo = load_sample("Coffee cup")
    photo_jpeg = jpeg_bytes(photo)
    x = loaded.preprocess(photo).unsqueeze(0).to(loaded.device)  # (1, 3, 224, 224), ready
    # A 12 MP photo: the real coffee photo upscaled to 4000x3000 (smooth, so it compresses like one).
    big_jpeg = jpeg_bytes(photo.resize((4000, 3000), Image.BICUBIC))

    def bare() -> None:
        with torch.inference_mode():
            loaded.model(x)

    model_size = (loaded.preprocess.resize, loaded.preprocess.resize)
    timings = interleaved_medians({
        "bare forward on a ready tensor": bare,
        "predict(PIL photo)": lambda: predict(loaded, photo),
        "decode JPEG + predict": lambda: predict(loaded, load_image(photo_jpeg)),
        "12 MP: decode (draft to model size) + predict":
            lambda: predict(loaded, load_image(big_jpeg, draft_size=model_size)),
        "12 MP: decode (default draft) + predict": lambda: predict(loaded, load_image(big_jpeg)),
        "12 MP: decode (full size) + predict": lambda: predict(loaded, load_image(big_jpeg, draft_size=None)),
    }, args.repeats, sync)
    base_med, base_best = timings["bare forward on a ready tensor"]
    print(f"device: {loaded.device} ({torch.cuda.get_device_name(0) if loaded.device.type == 'cuda' else 'CPU'}), "
          f"torch threads: {torch.get_num_threads()}, 12 MP JPEG: {len(big_jpeg) / 1e6:.1f} MB")
    print(f"{'':<46} {'median':>9} {'best':>9}   ratio to bare forward (median / best)")
    for name, (med, best) in timings.items():
        print(f"{name:<46} {med:6.1f} ms {best:6.1f} ms   x{med / base_med:5.2f} / x{best / base_best:5.2f}")
    draft = timings["12 MP: decode (draft to model size) + predict"][0]
    full = timings["12 MP: decode (full size) + predict"][0]
    print(f"draft-mode decoding makes the 12 MP photo x{full / draft:.1f} faster end to end")
    for name in ("predict(PIL photo)", "decode JPEG + predict"):
        med, best = timings[name]
        print(f"{name} / bare forward: x{med / base_med:.2f} median, x{best / base_best:.2f} best "
              "(goal <= 1.3 on CPU; on a busy shared machine the best-of-N is the steadier figure)")

if __name__ == "__main__":
    main()
