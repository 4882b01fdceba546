"""CNN Playground: analyse, build, run and fine-tune convolutional networks.

The public API is re-exported here lazily, so ``import playground`` stays cheap
(torch is only imported by the parts that need it). The ``TYPE_CHECKING`` imports name the same
objects for type checkers (``from playground import analyze`` is typed, not ``Any``); a test keeps
them equal to ``_EXPORTS``.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers: at run time they load lazily (__getattr__ below)
    from playground.arch.landmarks import LANDMARKS, designer_spec
    from playground.arch.measure import (
        ArchitectureError,
        analyze_architecture,
        analyze_module,
        load_user_model,
        macs_vs_resolution,
    )
    from playground.arch.report import ArchReport
    from playground.catalog import load_model, model_status
    from playground.concepts import gradient_flow
    from playground.design.advice import advise, replace_with_dwsep
    from playground.design.analysis import LayerReport, Report, analyze, analyze_prefix
    from playground.design.build import build_model, to_pytorch_code
    from playground.design.erf import ERFResult, effective_receptive_field
    from playground.design.expand import expand_block
    from playground.design.from_torchvision import TORCHVISION_DESIGNS, torchvision_spec
    from playground.design.memory import MemoryEstimate
    from playground.design.onnx_export import to_onnx
    from playground.design.presets import PRESETS
    from playground.design.rfview import draw_receptive_field
    from playground.errors import PlaygroundError
    from playground.finetune.archive import from_zip
    from playground.finetune.config import STRATEGIES, TrainConfig, TrainingError
    from playground.finetune.data import Dataset, DatasetError, bundled, from_folder, stratified_split
    from playground.finetune.design_config import DesignConfig
    from playground.finetune.estimate import estimate
    from playground.finetune.head import check_head
    from playground.finetune.jobs.design_jobs import submit_design
    from playground.finetune.jobs.manager import JobManager, get_manager
    from playground.finetune.jobs.store import JobError
    from playground.finetune.jobs.submit import submit_finetune
    from playground.finetune.jobs.worker import run_job
    from playground.finetune.loop import train
    from playground.finetune.memory import memory_by_strategy, memory_estimate
    from playground.finetune.photoset import PhotoSet
    from playground.finetune.scratch import train_design
    from playground.images import ImageError, load_image
    from playground.models.efficientnet_lite import efficientnet_lite0
    from playground.models.erf_trained import TrainedERF, trained_vs_init
    from playground.models.finetuned import save_finetuned
    from playground.models.inference import Prediction, feature_maps, first_layer_filters, grad_cam, predict
    from playground.models.preprocess import Preprocess
    from playground.models.registry import MODELS, LoadedModel, ModelEntry, replace_head
    from playground.models.weights import ModelUnavailable
    from playground.spec.parse import Spec, SpecError, parse_layer, parse_spec, parse_spec_prefix
    from playground.spec.share import decode_share, encode_share

# Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "PlaygroundError": "playground.errors",
    # specs: parse, validate, share links
    "SpecError": "playground.spec.parse",
    "parse_spec": "playground.spec.parse",
    "parse_spec_prefix": "playground.spec.parse",
    "parse_layer": "playground.spec.parse",
    "Spec": "playground.spec.parse",
    "encode_share": "playground.spec.share",
    "decode_share": "playground.spec.share",
    # design: analysis, building, export, designer helpers
    "analyze": "playground.design.analysis",
    "analyze_prefix": "playground.design.analysis",
    "Report": "playground.design.analysis",
    "LayerReport": "playground.design.analysis",
    "build_model": "playground.design.build",
    "to_pytorch_code": "playground.design.build",
    "to_onnx": "playground.design.onnx_export",
    "expand_block": "playground.design.expand",
    "torchvision_spec": "playground.design.from_torchvision",
    "TORCHVISION_DESIGNS": "playground.design.from_torchvision",
    "PRESETS": "playground.design.presets",
    "advise": "playground.design.advice",
    "replace_with_dwsep": "playground.design.advice",
    "draw_receptive_field": "playground.design.rfview",
    "effective_receptive_field": "playground.design.erf",
    "ERFResult": "playground.design.erf",
    "memory_estimate": "playground.finetune.memory",
    "memory_by_strategy": "playground.finetune.memory",
    "MemoryEstimate": "playground.design.memory",
    "load_user_model": "playground.arch.measure",
    # images and pretrained models: loading, inference, explanations
    "ImageError": "playground.images",
    "load_image": "playground.images",
    "MODELS": "playground.models.registry",
    "ModelEntry": "playground.models.registry",
    "Preprocess": "playground.models.preprocess",
    "LoadedModel": "playground.models.registry",
    "ModelUnavailable": "playground.models.weights",
    "load_model": "playground.catalog",
    "model_status": "playground.catalog",
    "replace_head": "playground.models.registry",
    "predict": "playground.models.inference",
    "Prediction": "playground.models.inference",
    "grad_cam": "playground.models.inference",
    "feature_maps": "playground.models.inference",
    "first_layer_filters": "playground.models.inference",
    "efficientnet_lite0": "playground.models.efficientnet_lite",
    "trained_vs_init": "playground.models.erf_trained",
    "TrainedERF": "playground.models.erf_trained",
    # fine-tuning: datasets, config, training, background jobs
    "DatasetError": "playground.finetune.data",
    "Dataset": "playground.finetune.data",
    "from_zip": "playground.finetune.archive",
    "from_folder": "playground.finetune.data",
    "bundled": "playground.finetune.data",
    "stratified_split": "playground.finetune.data",
    "PhotoSet": "playground.finetune.photoset",
    "TrainConfig": "playground.finetune.config",
    "TrainingError": "playground.finetune.config",
    "train": "playground.finetune.loop",
    # training a design from scratch (the same result object, job system and model folder as fine-tuning)
    "train_design": "playground.finetune.scratch",
    "DesignConfig": "playground.finetune.design_config",
    "check_head": "playground.finetune.head",
    "submit_design": "playground.finetune.jobs.design_jobs",
    "estimate": "playground.finetune.estimate",
    "save_finetuned": "playground.models.finetuned",
    "STRATEGIES": "playground.finetune.config",
    "JobManager": "playground.finetune.jobs.manager",
    "JobError": "playground.finetune.jobs.store",
    "get_manager": "playground.finetune.jobs.manager",
    "run_job": "playground.finetune.jobs.worker",
    "submit_finetune": "playground.finetune.jobs.submit",
    # real architectures and concept experiments
    "analyze_architecture": "playground.arch.measure",
    "analyze_module": "playground.arch.measure",
    "ArchReport": "playground.arch.report",
    "ArchitectureError": "playground.arch.measure",
    "macs_vs_resolution": "playground.arch.measure",
    "LANDMARKS": "playground.arch.landmarks",
    "designer_spec": "playground.arch.landmarks",
    "gradient_flow": "playground.concepts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'playground' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
