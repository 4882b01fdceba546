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
    # issue 2: specs, analysis, building
    "SpecError": "playground.spec.parse",
    "parse_spec": "playground.spec.parse",
    "parse_spec_prefix": "playground.spec.parse",
    "parse_layer": "playground.spec.parse",
    "Spec": "playground.spec.parse",
    "encode_share": "playground.spec.share",
    "decode_share": "playground.spec.share",
    "analyze": "playground.design.analysis",
    "analyze_prefix": "playground.design.analysis",
    "Report": "playground.design.analysis",
    "LayerReport": "playground.design.analysis",
    "build_model": "playground.design.build",
    "to_pytorch_code": "playground.design.build",
    # issue 3: designer helpers
    "PRESETS": "playground.design.presets",
    "advise": "playground.design.advice",
    "replace_with_dwsep": "playground.design.advice",
    "draw_receptive_field": "playground.design.rfview",
    # issue 4: images, models, inference
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
    # issue 5: datasets, training, jobs
    "DatasetError": "playground.finetune.data",
    "Dataset": "playground.finetune.data",
    "from_zip": "playground.finetune.archive",
    "from_folder": "playground.finetune.data",
    "bundled": "playground.finetune.data",
    "stratified_split": "playground.finetune.data",
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
    # issue 6: real architectures, concepts
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
