"""The one-click experiments: each pair of designs differs in exactly its point (checked against PyTorch),
both are queued on shapes under the class limits or neither is, and their runs are found again in the store."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from playground.classroom import ClassroomError, ClassSettings, save_settings
from playground.design.analysis import analyze
from playground.design.build import build_model
from playground.finetune.data import Dataset, from_folder
from playground.finetune.experiments import (
    EXPERIMENTS,
    SKIP_CONNECTIONS,
    STRIDE_VS_POOLING,
    experiment_runs,
    start_experiment,
)
from playground.finetune.jobs.design_jobs import submit_designs
from playground.finetune.jobs.manager import JobManager
from playground.finetune.shapes import write_shapes
from tests.support.job_support import A_ID, B_ID, FakeRunner


@pytest.fixture()
def manager() -> Iterator[JobManager]:
    mgr = JobManager(runner=FakeRunner(), background=False)
    yield mgr
    mgr.shutdown()


@pytest.fixture()
def few_shapes(tmp_path: Path) -> Dataset:
    """The shapes set's classes and pictures, 8 per class (named "shapes" like the bundled set)."""
    write_shapes(tmp_path / "shapes", per_class=8)
    return from_folder(tmp_path / "shapes")


def _params(spec: dict) -> int:
    return sum(p.numel() for p in build_model(spec).parameters())


def test_stride_vs_pooling_differs_only_in_how_it_downsamples() -> None:
    (_, pool), (_, stride) = STRIDE_VS_POOLING.variants
    convs = [[layer for layer in s["layers"] if layer["type"] == "conv2d"] for s in (pool, stride)]
    assert [c["stride"] for c in convs[0]] == [1, 1, 1] and [c["stride"] for c in convs[1]] == [2, 2, 2]
    assert [dict(c, stride=0) for c in convs[0]] == [dict(c, stride=0) for c in convs[1]]
    assert [layer["type"] for layer in pool["layers"]].count("maxpool2d") == 3
    assert "maxpool2d" not in [layer["type"] for layer in stride["layers"]]
    assert _params(pool) == _params(stride)  # pooling learns nothing: the same weights
    x = torch.zeros(2, 3, 32, 32)
    assert build_model(pool).eval()(x).shape == build_model(stride).eval()(x).shape == (2, 5)
    # Each stage ends at the same size either way; the pooled one's conv ran on 4x the pixels to get there.
    pooled = [r.output_shape for r in analyze(pool).layers if r.type == "maxpool2d"]
    assert pooled == [r.output_shape for r in analyze(stride).layers if r.type == "relu"]
    assert pooled == [(16, 16, 16), (32, 8, 8), (32, 4, 4)]
    assert analyze(pool).total_macs - 5 * 32 * 4 * 4 == 4 * (analyze(stride).total_macs - 5 * 32 * 4 * 4)


def test_the_skip_experiment_has_the_same_weights_with_and_without_the_skips() -> None:
    (_, plain), (_, residual) = SKIP_CONNECTIONS.variants
    assert _params(plain) == _params(residual)  # BasicBlock without downsample: its two convs and BNs
    assert analyze(plain).total_macs == analyze(residual).total_macs
    assert [layer["type"] for layer in residual["layers"]].count("residual") == 8
    assert "residual" not in [layer["type"] for layer in plain["layers"]]
    # PyTorch: the residual model's output is not the plain one's with the same weights (the + x matters).
    torch.manual_seed(0)
    a, b = build_model(plain).eval(), build_model(residual).eval()
    b.load_state_dict(dict(zip(b.state_dict(), a.state_dict().values())))
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(a(x), b(x))


@pytest.mark.slow
def test_the_skips_make_the_deep_stack_learn_on_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lesson's point, on real runs with the experiment's own settings: after its 4 epochs the plain stack of
    sixteen convolutions is still near chance (20%) and the same convolutions with skips are well above it."""
    from playground.finetune.data import bundled
    from playground.finetune.scratch import train_design

    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path))
    data = bundled("shapes")
    plain, residual = (train_design(cfg, data).val_accuracy for cfg in SKIP_CONNECTIONS.configs())
    assert plain < 0.3 and residual > plain + 0.15, (plain, residual)


def test_experiment_runs_are_queued_together_and_found_again(manager: JobManager, few_shapes: Dataset) -> None:
    for exp in EXPERIMENTS.values():
        assert experiment_runs(manager.list(), exp, A_ID) is None
    cfgs = STRIDE_VS_POOLING.configs()
    a, b = submit_designs(manager, few_shapes, cfgs, owner=A_ID, macs_per_second=1e12)
    assert [j.train for j in (a, b)] == cfgs and a.config["dataset"]["name"] == "shapes"
    found = experiment_runs(manager.list(), STRIDE_VS_POOLING, A_ID)
    assert found is not None and [j.id for j in found] == [a.id, b.id]
    assert experiment_runs(manager.list(), STRIDE_VS_POOLING, B_ID) is None  # another browser's runs
    assert experiment_runs(manager.list(), SKIP_CONNECTIONS, A_ID) is None
    assert experiment_runs(manager.list(), STRIDE_VS_POOLING, None) is not None  # single-user: anyone's


def test_an_experiment_over_the_class_limit_queues_nothing(manager: JobManager) -> None:
    save_settings(ClassSettings(max_epochs=2))  # below the experiment's 4 epochs
    with pytest.raises(ClassroomError, match="design 1 of 2"):
        start_experiment(manager, SKIP_CONNECTIONS, owner=A_ID)
    assert manager.list() == []
