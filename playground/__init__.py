"""CNN Playground: analyse, build, run and fine-tune convolutional networks.

The public API is re-exported here lazily, so ``import playground`` stays cheap
(torch is only imported by the parts that need it).
"""
from __future__ import annotations

import importlib
from typing import Any

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
    "PRESETS": "playground.design.presets",
    "advise": "playground.design.advice",
    "replace_with_dwsep": "playground.design.advice",
    "draw_receptive_field": "playground.design.rfview",
    "effective_receptive_field": "playground.design.erf",
    "ERFResult": "playground.design.erf",
    "memory_estimate": "playground.design.memory",
    "memory_by_strategy": "playground.design.memory",
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
    "load_model": "playground.models.registry",
    "model_status": "playground.models.registry",
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
    "estimate": "playground.finetune.estimate",
    "save_finetuned": "playground.models.finetuned",
    "STRATEGIES": "playground.finetune.config",
    "JobManager": "playground.finetune.jobs.manager",
    "JobError": "playground.finetune.jobs.store",
    "get_manager": "playground.finetune.jobs.manager",
    "run_job": "playground.finetune.jobs.worker",
    "submit_finetune": "playground.finetune.jobs.worker",
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
