"""``python -m playground predict IMAGE... [--model NAME_OR_DIR] [--top K] [--json]``."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from playground.cli._io import bounded, print_json

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Classify images with a pretrained or fine-tuned model (top-k labels and probabilities)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``predict``."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG, WebP, GIF or BMP files")
    parser.add_argument("--model", default="efficientnet_lite0", metavar="NAME_OR_DIR",
                        help="a zoo model (see `models`), job:<id>, or a fine-tuned model folder "
                             "(default: efficientnet_lite0)")
    parser.add_argument("--top", type=bounded(int, 1), default=5, metavar="K",
                        help="how many classes to show per image (default: 5)")
    parser.add_argument("--json", action="store_true",
                        help='print [{"image", "predictions": [{"label", "class_index", "probability"}]}] '
                             'or {"image", "error"} per file')


def run(args: argparse.Namespace) -> int:
    """Predict every image; a file that cannot be used gets its own error and exit status 2."""
    from playground.catalog import load_model
    from playground.images import ImageError, load_image
    from playground.models.inference import predict
    from playground.models.registry import default_device

    loaded = load_model(args.model, device=default_device())  # ModelUnavailable -> one line, exit 2 (dispatcher)
    # Decode big JPEGs at the smallest scale that still covers the model's resize (draft mode).
    draft = (loaded.preprocess.resize, loaded.preprocess.resize)
    results: list[dict[str, Any]] = []
    for path in args.images:
        try:
            prediction = predict(loaded, load_image(path, draft_size=draft), top_k=args.top)
        except ImageError as exc:
            results.append({"image": path, "error": str(exc)})
            continue
        results.append({"image": path, "predictions": prediction.to_dicts()})
    if args.json:
        print_json(results)
    else:
        _print_table(results)
    return 2 if any("error" in r for r in results) else 0


def _print_table(results: list[dict[str, Any]]) -> None:
    """The table; labels (a fine-tuned model's class folder names) and file names printed escaped."""
    from playground._format import visible

    for i, result in enumerate(results):
        if "error" in result:
            sys.stderr.write(f"error: {visible(result['error'])}\n")
            continue
        if i:
            print()
        print(visible(result["image"]))
        for p in result["predictions"]:
            print(f"  {p['probability']:6.1%}  {visible(p['label'])}  (class {p['class_index']})")
