"""``python -m playground analyze SPEC.json [--json]``: shapes, parameters, MACs and receptive fields.

Also ``analyze --model NAME [--input 3,H,W]`` for a landmark architecture (graph
analysis of the real torch model, see ``playground.arch.measure``), and
``analyze path/to/model.py:ClassName [--args JSON]`` for your own ``nn.Module`` (imports your file).

``--json`` adds ``"memory"`` for batch 1: parameters, gradients and AdamW state are exact arithmetic;
the activations saved for backward and the inference peak are measured (PyTorch's meta device)
with ``--memory``, and always for ``--model`` and your own model, which import PyTorch anyway.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.cli._io import print_json
from playground.spec.parse import SpecError, SpecSource

if TYPE_CHECKING:
    from playground.arch.report import ArchReport
    from playground.design.analysis import Report

__all__ = ["HELP", "add_arguments", "run", "parse_input_shape", "read_spec_arg"]

HELP = "Analyse a layer spec: output shape, params, MACs, receptive field per layer (instant, no PyTorch)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``analyze``."""
    parser.add_argument("spec", nargs="?", metavar="SPEC.json",
                        help="layer spec JSON file ('-' reads standard input)")
    parser.add_argument("--json", action="store_true", help="print JSON (only JSON on stdout)")
    parser.add_argument("--input", metavar="C,H,W",
                        help="input shape, e.g. 3,224,224 (overrides the spec's input; default for --model)")
    parser.add_argument("--model", metavar="NAME",
                        help="analyse a landmark architecture instead of a spec (see the Architectures page)")
    parser.add_argument("--args", metavar="JSON",
                        help="for path/to/model.py:ClassName: constructor arguments, a JSON list or object")
    parser.add_argument("--memory", action="store_true",
                        help="with a spec: also measure the activations saved for backward (imports PyTorch)")
    parser.add_argument("--design", action="store_true",
                        help="with --model: analyse torchvision's model as the designer's exact layer spec (same "
                             "parameters and MACs, with branches and named blocks) instead of tracing it")
    parser.add_argument("--save-spec", metavar="FILE",
                        help="with --model: also write that layer spec as JSON (open it in the designer, or export it)")


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """'3,224,224' -> (3, 224, 224); SpecError otherwise."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SpecError(f"--input must be three positive numbers C,H,W such as 3,224,224, got '{text}'")
    return int(parts[0]), int(parts[1]), int(parts[2])


def read_spec_arg(arg: str) -> str | Path:
    """A SPEC.json argument as parse_spec input: a Path, or the JSON text of stdin for '-'."""
    if arg == "-":
        return sys.stdin.read()
    return Path(arg)


def _is_model_file(arg: str | None) -> bool:
    return bool(arg) and ".py:" in str(arg)


def _spec_memory(report: Report, measure: bool, spec: SpecSource) -> dict[str, Any]:
    """``"memory"`` for batch 1: exact counts, plus the measured activations when asked."""
    if measure:
        from playground.design.memory import memory_estimate

        return memory_estimate(spec, 1).to_dict()
    data = _params_memory(report.total_params)
    data["method"] = ("parameters, gradients and AdamW state counted exactly; add --memory to measure the "
                      "activations saved for backward (imports PyTorch)")
    return data


def _params_memory(n: int) -> dict[str, Any]:
    """The batch-1 memory that ``n`` parameters need under AdamW in fp32, activations left unmeasured."""
    return {"batch": 1, "optimizer": "adamw", "precision": "fp32", "total_params": n, "trainable_params": n,
            "parameters_bytes": 4 * n, "gradients_bytes": 4 * n, "optimizer_bytes": 8 * n,
            "activations_bytes": None, "training_bytes": None, "inference_peak_bytes": None}


def _own_model(ref: str, args_json: str | None, shape: tuple[int, int, int]) -> tuple[ArchReport, dict[str, Any]]:
    from playground.arch.measure import ArchitectureError, analyze_module, load_user_model
    from playground.design.memory import MemoryEstimateError, memory_estimate

    try:
        ctor_args = json.loads(args_json) if args_json else None
    except json.JSONDecodeError as exc:
        raise ArchitectureError(f"--args is not valid JSON ({exc.msg} at character {exc.pos}); "
                                "give a list such as '[10]' or an object such as '{\"num_classes\": 10}'") from None
    model = load_user_model(ref, ctor_args)
    name = ref.rpartition(":")[2]
    report = analyze_module(model, shape, name=name)
    try:
        return report, memory_estimate(model, 1, input_shape=shape).to_dict()
    except MemoryEstimateError as exc:  # the report stands: say what could not be measured, and why
        return report, _memory_not_measured(report.total_params, str(exc))


def _memory_not_measured(params: int, error: str) -> dict[str, Any]:
    """``"memory"`` when the activation measurement failed: the exact counts and ``not_measured`` (why)."""
    data_dependent = any(w in error for w in ("register_meta", "data-dependent", "nonzero", "meta tensors"))
    reason = ("its forward() depends on tensor values (a data-dependent shape such as torch.nonzero, or an "
              "if on a tensor), which the data-free measurement on PyTorch's meta device cannot follow"
              if data_dependent else error)
    data = _params_memory(params)
    data.update(not_measured=reason, method="parameters, gradients and AdamW state counted exactly; the "
                                            "activations could not be measured")
    return data


def _not_a_class_ref(arg: str) -> SpecError:
    """The error for ``analyze FILE.py`` without ``:ClassName``: the expected form and the file's nn.Modules."""
    from playground.arch.measure import ArchitectureError
    from playground.arch.user_model import import_user_file, module_classes

    hint = ""
    try:
        names = module_classes(import_user_file(Path(arg)))
        hint = f"; {arg} defines {', '.join(names)}" if names else f"; {arg} defines no nn.Module class"
    except ArchitectureError as exc:
        hint = f" ({exc})"
    return SpecError(f"{arg} is Python, not a spec: give your model as FILE.py:ClassName{hint}")


def _model_design(name: str, shape: tuple[int, int, int] | None, save: str | None) -> dict[str, Any]:
    """torchvision's ``name`` as a layer spec (at ``shape``, else its weights' input size), saved to ``save``."""
    from playground.arch.measure import resolve_name
    from playground.design.from_torchvision import torchvision_spec

    if shape is not None and (shape[0] != 3 or shape[1] != shape[2]):
        raise SpecError(f"--input for a torchvision design must be 3,S,S (a square RGB image), got {shape}")
    spec = torchvision_spec(resolve_name(name), shape[1] if shape else None)
    if save:
        Path(save).write_text(json.dumps(spec, indent=1) + "\n")
    return spec


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON with --json); SpecError becomes exit status 2 in the dispatcher."""
    shape = parse_input_shape(args.input) if args.input else None
    result: ArchReport | Report
    memory: dict[str, Any] | None = None
    if args.args and not _is_model_file(args.spec):
        raise SpecError("--args is for your own model: give path/to/model.py:ClassName")
    if (args.design or args.save_spec) and not args.model:
        raise SpecError("--design and --save-spec take a torchvision model: give --model NAME")
    from playground.design.analysis import analyze
    if _is_model_file(args.spec):
        if args.model:
            raise SpecError("give either path/to/model.py:ClassName or --model NAME, not both")
        result, memory = _own_model(args.spec, args.args, shape or (3, 224, 224))
    elif args.model and (args.design or args.save_spec):
        if args.spec:
            raise SpecError("give either SPEC.json or --model NAME, not both")
        design = _model_design(args.model, shape, args.save_spec)
        result = analyze(design)
        if args.json:
            memory = _spec_memory(result, args.memory, design)
        if not args.design:  # --save-spec alone: the usual graph analysis of the model
            from playground.arch.measure import analyze_architecture

            result, memory = analyze_architecture(args.model, shape or (3, 224, 224)), None
    elif args.model:
        if args.spec:
            raise SpecError("give either SPEC.json or --model NAME, not both")
        from playground.arch.measure import analyze_architecture  # imports torch: only on this path

        result = analyze_architecture(args.model, shape or (3, 224, 224))
        if args.json:
            from playground.arch.measure import build_architecture
            from playground.design.memory import memory_estimate

            memory = memory_estimate(build_architecture(args.model, result.input_shape), 1,
                                     input_shape=result.input_shape).to_dict()
    elif args.spec and args.spec.endswith(".py"):
        raise _not_a_class_ref(args.spec)
    elif args.spec:
        from playground.spec.parse import parse_spec

        spec: SpecSource = read_spec_arg(args.spec)
        if shape is not None:
            data = parse_spec(spec).to_dict()  # validate the file first, then swap its input
            data["input"] = list(shape)
            spec = data
        result = analyze(spec)
        if args.json:
            memory = _spec_memory(result, args.memory, spec)
    else:
        raise SpecError("give a SPEC.json file to analyse (or --model NAME); "
                        "see `python -m playground analyze --help`")
    if args.json:
        data = result.to_dict()
        if memory is not None:
            data["memory"] = memory
        print_json(data)
    else:
        print(result)
        if memory is not None and memory.get("not_measured"):
            print(f"memory: not measured ({memory['not_measured']})")
        elif memory is not None:
            from playground._format import human_bytes

            print(f"memory (batch 1, AdamW, fp32): training {human_bytes(memory['training_bytes'])} = weights, "
                  f"gradients, optimizer state + {human_bytes(memory['activations_bytes'])} of activations saved "
                  f"for backward; inference peak {human_bytes(memory['inference_peak_bytes'])}")
    return 0
