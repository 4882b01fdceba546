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
    "SpecError": "playground.spec",
    "parse_spec": "playground.spec",
    "parse_spec_prefix": "playground.spec",
    "parse_layer": "playground.spec",
    "Spec": "playground.spec",
    "encode_share": "playground.spec",
    "decode_share": "playground.spec",
    "analyze": "playground.analysis",
    "analyze_prefix": "playground.analysis",
    "Report": "playground.analysis",
    "LayerReport": "playground.analysis",
    "build_model": "playground.build",
    "to_pytorch_code": "playground.build",
    # issue 3: designer helpers
    "PRESETS": "playground.presets",
    "advise": "playground.advice",
    "replace_with_dwsep": "playground.advice",
    "draw_receptive_field": "playground.rfview",
    # issue 4: images, models, inference
    "ImageError": "playground.images",
    "load_image": "playground.images",
    "MODELS": "playground.zoo",
    "ModelEntry": "playground.zoo",
    "Preprocess": "playground.zoo",
    "LoadedModel": "playground.zoo",
    "ModelUnavailable": "playground.zoo",
    "load_model": "playground.zoo",
    "model_status": "playground.zoo",
    "replace_head": "playground.zoo",
    "predict": "playground.inference",
    "Prediction": "playground.inference",
    "grad_cam": "playground.inference",
    "feature_maps": "playground.inference",
    "first_layer_filters": "playground.inference",
    "efficientnet_lite0": "playground.efficientnet_lite",
    # issue 5: datasets, training, jobs
    "DatasetError": "playground.datasets",
    "Dataset": "playground.datasets",
    "from_zip": "playground.datasets",
    "from_folder": "playground.datasets",
    "bundled": "playground.datasets",
    "stratified_split": "playground.datasets",
    "TrainConfig": "playground.training",
    "TrainingError": "playground.training",
    "train": "playground.training",
    "estimate": "playground.training",
    "save_finetuned": "playground.training",
    "STRATEGIES": "playground.training",
    "JobManager": "playground.jobs",
    "JobError": "playground.jobs",
    "get_manager": "playground.jobs",
    "run_job": "playground.worker",
    "submit_finetune": "playground.worker",
    # issue 6: real architectures, concepts
    "analyze_architecture": "playground.archstats",
    "analyze_module": "playground.archstats",
    "ArchReport": "playground.archstats",
    "ArchitectureError": "playground.archstats",
    "macs_vs_resolution": "playground.archstats",
    "LANDMARKS": "playground.landmarks",
    "designer_spec": "playground.landmarks",
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
