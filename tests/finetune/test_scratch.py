"""Training a design from scratch: the shapes set, the config, the head check and its fixes, the loop
against plain PyTorch, reproducibility, the cost check, the model folder standalone, and the job."""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from playground.classroom import ClassroomError, ClassSettings, save_settings
from playground.design.build import build_model
from playground.finetune.config import TrainingError
from playground.finetune.data import BUNDLED, Dataset, bundled, from_folder, stratified_split
from playground.finetune.design_config import DesignConfig, settings_from_dict
from playground.finetune.design_cost import check_cost, design_cost
from playground.finetune.head import check_head
from playground.finetune.jobs.design_jobs import submit_design
from playground.finetune.jobs.manager import JobManager
from playground.finetune.pixels import decode_all
from playground.finetune.result import Stopped
from playground.finetune.scratch import train_design
from playground.finetune.shapes import SHAPE_CLASSES, render_shapes, write_shapes
from playground.models.designed import design_preprocess
from playground.models.finetuned import EXAMPLE_FILE, save_finetuned
from tests.support.finetune_data import tiny_digits
from tests.support.job_support import FakeRunner
from tests.support.standalone_support import parse_top, run_blocked


def _cbr(out: int) -> list[dict]:
    return [{"type": "conv2d", "out_channels": out, "kernel_size": 3, "padding": 1, "bias": False},
            {"type": "batchnorm2d"}, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}]


def small_design(classes: int = 5, size: int = 32, channels: int = 3) -> dict:
    """Three conv-BN-ReLU-pool stages and a linear head: about 15 k weights."""
    return {"input": [channels, size, size],
            "layers": _cbr(16) + _cbr(32) + _cbr(32) + [{"type": "flatten"},
                                                        {"type": "linear", "out_features": classes}]}


def tiny_design(classes: int = 3, channels: int = 3) -> dict:
    return {"input": [channels, 16, 16], "layers": _cbr(4) + [{"type": "flatten"}, {"type": "dropout", "p": 0.2},
                                                              {"type": "linear", "out_features": classes}]}


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture()
def tiny(tmp_path: Path) -> Dataset:
    return tiny_digits(tmp_path / "tiny", classes=3, per_class=10)


# --------------------------------------------------------------------------- the shapes set


def test_shapes_are_seeded_labelled_and_drawn() -> None:
    a, b = render_shapes(4, seed=3), render_shapes(4, seed=3)
    assert a.images.shape == (4 * len(SHAPE_CLASSES), 32, 32, 3) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, render_shapes(4, seed=4).images)
    assert a.labels.tolist() == sorted(a.labels.tolist()) and set(a.labels.tolist()) == set(range(5))
    assert render_shapes(2, image_size=64).images.shape[1:] == (64, 64, 3)
    with pytest.raises(ValueError, match="region must be all, left or right"):
        render_shapes(2, region="top")


def test_shift_puts_training_shapes_left_and_validation_shapes_right() -> None:
    left, right, anywhere = (render_shapes(40, seed=1, region=r) for r in ("left", "right", "all"))
    assert left.centres[:, 0].max() <= 16 <= right.centres[:, 0].min()
    assert anywhere.centres[:, 0].min() < 16 < anywhere.centres[:, 0].max()
    # The shape is drawn where its centre says: the centre pixel has the shape's colour, not the background's.
    for shapes in (left, right):
        x, y = shapes.centres.round().astype(int).T.clip(0, 31)
        centre = shapes.images[np.arange(len(x)), y, x].astype(float)  # (N, 3)
        corner = shapes.images[:, :3, :3].reshape(len(x), -1, 3).mean(1)  # (N, 3)
        assert np.median(np.abs(centre - corner).sum(1)) > 100


def test_the_shift_set_keeps_its_split(tmp_path: Path) -> None:
    val = write_shapes(tmp_path / "s", per_class=4, shift=True)
    assert val is not None and len(val) == 2 * len(SHAPE_CLASSES) and all("/val-" in p for p in val)
    ds = from_folder(tmp_path / "s")
    ds.fixed_val = val
    split = stratified_split(ds, 0.5, seed=9)  # the fraction and seed do not move a prescribed split
    assert sorted(ds.items[i].path for i in split.val) == sorted(val) and len(split.train) == 20
    assert {"shapes", "shapes64", "shapes-shift"} <= set(BUNDLED)


# --------------------------------------------------------------------------- config and head


def test_a_design_config_is_a_train_config_that_round_trips() -> None:
    cfg = DesignConfig.of(tiny_design(), epochs=3, lr=0.01, optimizer="sgd")
    again = settings_from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert isinstance(again, DesignConfig) and again == cfg and again.spec == cfg.spec
    assert (cfg.model, cfg.strategy, cfg.image_size, cfg.lr) == ("design", "full", 16, 0.01)
    with pytest.raises(TrainingError, match=r"has 4 channels; pictures have 3 \(colour\) or 1 \(grey\)"):
        DesignConfig.of(dict(tiny_design(), input=[4, 16, 16]))
    with pytest.raises(TrainingError, match="is 16x20; training uses square pictures"):
        DesignConfig.of(dict(tiny_design(), input=[3, 16, 20]))
    with pytest.raises(TrainingError, match="optimizer must be one of adamw, sgd"):
        DesignConfig.of(tiny_design(), optimizer="adam")


def test_head_check_offers_the_smallest_fix() -> None:
    convs = {"input": [3, 16, 16], "layers": _cbr(4)}
    assert check_head(small_design(5), 5).ok
    wrong = check_head(small_design(10), 5)
    assert not wrong.ok and "outputs (10,), but the data has 5 classes" in wrong.message
    assert wrong.fix == "set the last linear layer's out_features to 5"
    assert wrong.fixed is not None and wrong.fixed["layers"][-1] == {"type": "linear", "out_features": 5}
    feature_map = check_head(convs, 3)
    assert "add global_avgpool, flatten and a linear layer with 3 outputs" in feature_map.fix
    assert feature_map.fixed is not None and check_head(feature_map.fixed, 3).ok
    flat = check_head(dict(convs, layers=convs["layers"] + [{"type": "flatten"}, {"type": "relu"}]), 3)
    assert flat.fix == "add a linear layer with 3 outputs at the end" and check_head(flat.fixed, 3).ok  # type: ignore[arg-type]
    assert convs["layers"] == _cbr(4)  # the design itself is never changed
    with pytest.raises(TrainingError, match="no weights to learn"):
        check_head({"input": [3, 16, 16], "layers": [{"type": "relu"}, {"type": "flatten"}]}, 3)


def test_a_wrong_head_is_refused_unless_the_fix_is_asked_for(tiny: Dataset) -> None:
    with pytest.raises(TrainingError, match=r"outputs \(5,\).*3 classes.*use --fix-head"):
        train_design(tiny_design(5), tiny, epochs=1)
    result = train_design(tiny_design(5), tiny, epochs=1, fix_head=True)
    assert result.config.spec["layers"][-1]["out_features"] == 3  # type: ignore[attr-defined]
    assert result.model(torch.zeros(2, 3, 16, 16)).shape == (2, 3)


# --------------------------------------------------------------------------- the loop


def test_one_step_equals_a_hand_written_pytorch_step(tiny: Dataset) -> None:
    """One epoch of one full batch: the weights after it equal PyTorch's own SGD step on the same
    network, the same normalised pixels and the same initial weights. (SGD: AdamW's first step moves
    every weight by +-lr, the sign of its gradient, so a gradient of ~0 summed in another order flips it.)"""
    spec = small_design(3, size=16)
    split = stratified_split(tiny, 0.2, 5)  # the run's split: its seed
    result = train_design(spec, tiny, epochs=1, batch_size=64, lr=0.05, seed=5, optimizer="sgd")

    torch.manual_seed(5)
    net = build_model(spec)  # the same draws: DesignClassifier holds nothing random besides its Net
    pre = design_preprocess(16)
    images = decode_all(tiny, pre, lambda *_: None, lambda: False)[split.train]  # (T, 3, 16, 16) uint8
    mean, std = torch.tensor(pre.mean).view(1, 3, 1, 1), torch.tensor(pre.std).view(1, 3, 1, 1)
    x = (images.float() / 255 - mean) / std
    y = torch.tensor([tiny.items[i].label for i in split.train])
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01)
    net.train()
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    ours = result.model.state_dict()
    for name, value in net.state_dict().items():
        torch.testing.assert_close(ours[f"net.{name}"], value, rtol=1e-4, atol=1e-5)
    assert result.history[0]["train_loss"] == pytest.approx(loss.item(), rel=1e-5)


def test_seeded_cpu_runs_are_reproducible_and_grey_designs_train(tiny: Dataset) -> None:
    runs = [train_design(tiny_design(3, channels=1), tiny, epochs=2, batch_size=8, seed=3, augment=True)
            for _ in range(2)]
    assert runs[0].history == [dict(h, seconds=runs[0].history[i]["seconds"]) for i, h in enumerate(runs[1].history)]
    for (name, a), b in zip(runs[0].model.state_dict().items(), runs[1].model.state_dict().values()):
        assert torch.equal(a, b), name
    other = train_design(tiny_design(3, channels=1), tiny, epochs=2, batch_size=8, seed=4, augment=True)
    assert other.history[-1]["train_loss"] != runs[0].history[-1]["train_loss"]
    assert runs[0].model.net[0].weight.shape[1] == 1  # type: ignore[index]  # the design takes grey pictures


def test_a_stop_keeps_the_best_epoch_with_its_batchnorm_statistics(tiny: Dataset) -> None:
    epochs: list[dict] = []  # stop once two epochs are done, at the next poll (epoch 3's first step)
    with pytest.raises(Stopped) as stopped:
        train_design(small_design(3, size=16), tiny, epochs=10, batch_size=8, should_stop=lambda: len(epochs) >= 2,
                     on_event=lambda e: epochs.append(e) if e["event"] == "epoch" else None)
    kept = stopped.value.result
    assert kept is not None and kept.kept_epoch in (1, 2) and kept.config.epochs == kept.kept_epoch
    running = kept.model.state_dict()["net.1.running_mean"]
    assert running.abs().sum() > 0  # learnt statistics, not the initial zeros


def test_a_small_design_reaches_90_percent_on_16px_shapes_within_8_epochs() -> None:
    """The quick accuracy claim: the shapes at 16 px, three conv stages (~25 k weights), about 7 s of CPU."""
    spec = {"input": [3, 16, 16], "layers": _cbr(16) + _cbr(32) + _cbr(64) + [
        {"type": "flatten"}, {"type": "linear", "out_features": 5}]}
    result = train_design(spec, bundled("shapes"), epochs=8, batch_size=32, lr=3e-3, seed=0)
    best = max(h["val_accuracy"] for h in result.history)
    assert best >= 0.90, [round(h["val_accuracy"], 3) for h in result.history]


@pytest.mark.slow
def test_a_small_design_learns_the_shapes() -> None:
    """The accuracy claim: ~15 k weights reach >= 90 % validation accuracy on the bundled shapes in 6 epochs."""
    shapes = bundled("shapes")
    result = train_design(small_design(5), shapes, epochs=6, batch_size=32, lr=2e-3, seed=0)
    assert result.val_accuracy >= 0.90, result.history
    assert result.val_count == 1000 and result.classes == list(SHAPE_CLASSES)


# --------------------------------------------------------------------------- cost


def test_the_cost_counts_macs_and_a_long_run_is_refused_with_what_would_fit(tiny: Dataset) -> None:
    cfg = DesignConfig.of(small_design(3, size=16), epochs=20)
    cost = design_cost(cfg, 24, 6, macs_per_second=1e6)
    macs = 16 * 16 * 16 * 27 + 8 * 8 * 32 * 144 + 4 * 4 * 32 * 288 + 128 * 3  # the three convs and the linear
    assert cost.macs_per_image == macs and cost.total_macs == macs * 20 * (3 * 24 + 6)
    assert cost.seconds == pytest.approx(cost.total_macs / 1e6)
    check_cost(cost, max_minutes=cost.minutes + 1)  # under the limit: nothing to say
    with pytest.raises(ClassroomError) as refused:
        check_cost(cost, max_minutes=cost.minutes / 4)
    text = str(refused.value)
    assert "over this class's limit" in text and "at most 5 epoch(s)" in text and "50% as wide" in text
    assert "25% of the design's multiply-accumulates" in text and "G MACs" in text

    save_settings(ClassSettings(max_job_minutes=1))  # the Teacher page's "minutes per job"
    manager = JobManager(runner=FakeRunner(), background=False)
    with pytest.raises(ClassroomError, match="over this class's limit of 1 min per job"):
        submit_design(manager, tiny, cfg, macs_per_second=1e3)
    job = submit_design(manager, tiny, cfg, macs_per_second=1e12)
    assert job.config["kind"] == "design" and isinstance(manager.get(job.id).train, DesignConfig)


# --------------------------------------------------------------------------- the model folder and the job


def test_the_model_folder_predicts_without_the_playground_like_the_app(tiny: Dataset, tmp_path: Path) -> None:
    from playground.catalog import load_model
    from playground.images import load_image

    result = train_design(tiny_design(3, channels=1), tiny, epochs=2, batch_size=8)
    folder = save_finetuned(result, tmp_path / "model")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["architecture"] == "design" and meta["design"] == result.config.spec  # type: ignore[attr-defined]
    loaded = load_model(folder)
    images = [str(tiny.path(tiny.items[i])) for i in (0, 15)]
    with torch.no_grad():
        probs = [loaded.model(loaded.preprocess(load_image(p)).unsqueeze(0)).softmax(1)[0] for p in images]
    ran = run_blocked([EXAMPLE_FILE, *images, "--top", "3"], folder, torchvision=False)
    assert ran.returncode == 0 and ran.blocked == ("playground", "torchvision"), ran.stderr
    got = parse_top(ran.stdout, images)
    for image, p in zip(images, probs):
        want = {loaded.categories[i]: float(v) for i, v in enumerate(p)}
        assert {label: pytest.approx(want[label], abs=1e-5) for label, _ in got[image]} == dict(got[image])
    assert "class Net(nn.Sequential)" in (folder / "model.py").read_text()
    # What the Predict page shows of it: Grad-CAM at the last feature map, feature maps, first-layer filters.
    from playground.models.inference import feature_maps, first_layer_filters, grad_cam

    picture = load_image(images[0])
    assert loaded.entry.cam_layer == "net.3" and loaded.entry.feature_layers == ("net.0", "net.1", "net.2", "net.3")
    cam = grad_cam(loaded, picture)
    assert cam.layer == "net.3" and cam.heatmap.shape == (16, 16) and 0 <= cam.heatmap.min() <= cam.heatmap.max() <= 1
    assert feature_maps(loaded, picture, "net.0") is not None
    assert first_layer_filters(loaded).shape == (4, 1, 3, 3)  # 4 grey 3x3 kernels


@pytest.mark.slow
def test_a_design_job_runs_in_a_worker_and_its_model_is_on_predict(tiny: Dataset) -> None:
    from playground.catalog import load_model, model_status

    manager = JobManager(max_concurrent=1, background=False)
    cfg = DesignConfig.of(tiny_design(3), epochs=2, batch_size=8)
    job = submit_design(manager, tiny, cfg, macs_per_second=1e9)
    deadline = time.monotonic() + 300
    while manager.get(job.id).active:
        manager.tick()
        assert time.monotonic() < deadline, manager.get(job.id).state
        time.sleep(0.2)
    done = manager.get(job.id)
    assert done.status == "done", (done.state, done.log_file.read_text())
    assert [m["epoch"] for m in manager.store.metrics(job.id) if m["event"] == "epoch"] == [1, 2]
    loaded = load_model(f"job:{job.id}")
    assert loaded.entry.name == "design" and loaded.categories == ["0", "1", "2"]
    assert any(s.name == f"job:{job.id}" and s.available and "from scratch" in s.title for s in model_status())
    assert copy.deepcopy(loaded.entry.feature_layers) == ("net.0", "net.1", "net.2", "net.3")
