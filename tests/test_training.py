"""Training: strategies freeze what they should, the feature cache is exact, runs are seeded,
digits reach a solid accuracy, artifacts load back in plain PyTorch."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import torch

from playground.finetune import loop as training
from playground.models import registry as zoo
from playground.finetune.data import Dataset, DatasetError, DatasetItem
from playground.images import load_image
from playground.finetune.loop import Stopped, TrainConfig, TrainingError
from tests.finetune_data import tiny_digits

TINY = dict(image_size=32, batch_size=8, epochs=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return tiny_digits(tmp_path_factory.mktemp("tiny"), classes=3, per_class=10)


def test_digits_head_reaches_solid_accuracy() -> None:
    from playground.finetune.data import bundled

    result = training.train(TrainConfig(image_size=48, epochs=5), bundled("digits"))
    # Measured 0.947 (359 validation images, seed 0); a frozen ImageNet backbone + linear head.
    assert result.val_accuracy >= 0.85
    assert result.history[-1]["val_accuracy"] == pytest.approx(result.val_accuracy)
    assert result.config.uses_feature_cache and result.trainable_params == 1280 * 10 + 10
    assert result.val_count == 359 and sum(map(sum, result.confusion)) == 359
    assert len(result.misclassified) == 359 - sum(result.confusion[i][i] for i in range(10))


def test_feature_cache_trains_exactly_like_the_plain_loop(tiny: Dataset) -> None:
    cached = training.train(TrainConfig(**TINY), tiny)
    plain = training.train(TrainConfig(**TINY, cache_features=False), tiny)
    assert cached.config.uses_feature_cache and not plain.config.uses_feature_cache
    for key in ("weight", "bias"):
        torch.testing.assert_close(getattr(cached.model._fc, key), getattr(plain.model._fc, key), rtol=1e-4, atol=1e-5)
    assert cached.confusion == plain.confusion
    assert [h["train_loss"] for h in cached.history] == pytest.approx([h["train_loss"] for h in plain.history], rel=1e-4)


def test_strategies_freeze_and_train_the_right_parameters(tiny: Dataset) -> None:
    pretrained = zoo.load_model("efficientnet_lite0").model.state_dict()
    changed = {}
    for strategy in ("head", "last-block"):
        result = training.train(TrainConfig(**TINY, strategy=strategy, cache_features=False), tiny)
        state = result.model.state_dict()
        changed[strategy] = {k for k, v in state.items() if not k.startswith("_fc.") and not torch.equal(v, pretrained[k])}
        trainable, total = training.count_parameters("efficientnet_lite0", strategy, 3)
        assert result.trainable_params == trainable and result.total_params == total
    # head: the backbone, its BatchNorm statistics included, is untouched.
    assert changed["head"] == set()
    # last-block: the last MBConv block and the 1x1 head conv + BN after it; nothing earlier.
    assert {k.split(".")[0] + ("." + k.split(".")[1] if k.startswith("_blocks") else "") for k in changed["last-block"]} \
        == {"_blocks.15", "_conv_head", "_bn1"}
    model = zoo.replace_head(zoo.MODELS["efficientnet_lite0"].builder(), zoo.MODELS["efficientnet_lite0"], 3)
    late = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("_blocks.15.", "_conv_head.", "_bn1.", "_fc.")))
    assert training.count_parameters("efficientnet_lite0", "last-block", 3)[0] == late
    assert training.count_parameters("efficientnet_lite0", "full", 3)[0] == sum(p.numel() for p in model.parameters())


def test_parameter_groups_use_their_learning_rates() -> None:
    entry = zoo.MODELS["efficientnet_lite0"]
    model = zoo.replace_head(entry.builder(), entry, 4)
    groups = training._apply_strategy(model, entry, TrainConfig(strategy="full", lr_head=3e-3, lr_backbone=2e-5))
    assert [(g["name"], g["lr"]) for g in groups] == [("backbone", 2e-5), ("head", 3e-3)]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_runs_are_repeatable_with_a_seed(tiny: Dataset) -> None:
    cfg = TrainConfig(**TINY, strategy="last-block", augment=True)
    a, b = training.train(cfg, tiny), training.train(cfg, tiny)
    assert a.history == [dict(h, seconds=a.history[i]["seconds"]) for i, h in enumerate(b.history)]
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(x, y), name


def test_cached_pixels_match_the_prediction_preprocessing(tiny: Dataset) -> None:
    pp = training.training_preprocess(zoo.MODELS["efficientnet_lite0"], 40)
    assert (pp.crop, pp.resize) == (40, round(40 * 256 / 224))
    cache = training._decode_all(tiny, pp, lambda e: None, lambda: False)  # (N, 3, 40, 40) uint8
    mean, std = torch.tensor(pp.mean).view(1, 3, 1, 1), torch.tensor(pp.std).view(1, 3, 1, 1)
    for i in (0, len(tiny.items) - 1):
        expected = pp(load_image(tiny.path(tiny.items[i])))  # what predict feeds the model
        torch.testing.assert_close(training._normalize(cache[i : i + 1], mean, std)[0], expected)


def test_augmentation_is_a_seeded_crop_and_flip() -> None:
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float).view(2, 3, 16, 16)
    a = training._augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, training._augment(x, torch.Generator().manual_seed(1)))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(2):  # each output is some 16x16 window of the padded image, maybe mirrored
        views = [padded[i, :, dy : dy + 16, dx : dx + 16] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(a[i], v) or torch.equal(a[i], v.flip(-1)) for v in views)


def test_stop_is_honoured_within_a_batch(tiny: Dataset) -> None:
    batches = []
    with pytest.raises(Stopped):
        training.train(TrainConfig(**TINY, strategy="full"), tiny,
                       on_event=lambda e: batches.append(e) if e["event"] == "batch" else None,
                       should_stop=lambda: len(batches) >= 2)
    assert len(batches) == 2


def test_progress_events(tiny: Dataset) -> None:
    events = []
    training.train(TrainConfig(**TINY), tiny, on_event=events.append)
    batch = [e for e in events if e["event"] == "batch"]
    assert len(batch) == 2 * batch[0]["steps_per_epoch"] == batch[-1]["total_steps"] == batch[-1]["global_step"]
    assert {"epoch", "step", "loss", "accuracy", "images_per_sec", "eta_seconds"} <= set(batch[0])
    assert batch[-1]["eta_seconds"] == 0
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    assert {e["phase"] for e in events if e["event"] == "phase"} == {"loading model", "decoding images", "extracting features"}


@pytest.mark.parametrize("change, match", [
    (dict(strategy="everything"), r"unknown strategy 'everything'; choose one of: head, last-block, full"),
    (dict(model="vgg99"), r"unknown model 'vgg99'"),
    (dict(epochs=0), r"epochs must be a whole number from 1 to 500"),
    (dict(image_size=8), r"image size must be a whole number from 32 to 640"),
    (dict(lr_head=0.0), r"lr head must be above 0"),
    (dict(val_fraction=1.5), r"validation fraction must be between 0 and 1"),
    (dict(precision="fp8"), r"precision must be auto, fp32 or mixed"),
])
def test_bad_settings_are_named(tiny: Dataset, change: dict, match: str) -> None:
    with pytest.raises(TrainingError, match=match):
        training.train(TrainConfig(**dict(TINY, **change)), tiny)


def test_labels_are_checked_before_any_model_work(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "load_model", lambda *a: pytest.fail("model loaded before labels were checked"))
    broken = Dataset(tiny.root, "x", tiny.classes, tiny.items + [DatasetItem(tiny.items[0].path, 7), DatasetItem(tiny.items[0].path, 7)])
    with pytest.raises(DatasetError, match=r"label outside the 3 classes"):
        training.train(TrainConfig(**TINY), broken)
    one = Dataset(tiny.root, "x", tiny.classes[:1], [it for it in tiny.items if it.label == 0])
    with pytest.raises(DatasetError, match=r"at least 2"):
        training.train(TrainConfig(**TINY), one)


def test_gpu_out_of_memory_becomes_a_clear_message(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    def oom(*_a, **_k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(training._Run, "fit", oom)
    with pytest.raises(TrainingError, match=r"ran out of memory \(batch size 8, 32 px, strategy head\); try a smaller batch"):
        training.train(TrainConfig(**TINY), tiny)
    # Moving the model onto the GPU (in _Run's constructor) can fail the same way.
    monkeypatch.setattr(training._Run, "__init__", oom)
    with pytest.raises(TrainingError, match=r"ran out of memory \(batch size 8"):
        training.train(TrainConfig(**TINY), tiny)


def test_gpu_out_of_memory_while_estimating(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    def oom(*_a, **_k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(torch.nn.Module, "to", oom)  # the model's move to the device
    with pytest.raises(TrainingError, match=r"ran out of memory timing a batch of 8 at 32 px; try a smaller image size"):
        training.estimate(TrainConfig(**TINY), tiny)


def test_memory_cap_on_the_image_cache(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "MAX_CACHE_BYTES", 30 * 3 * 40 * 40)
    with pytest.raises(TrainingError, match=r"30 images at 64 px need 0 MB of memory \(limit 0 MB\); use a smaller image size \(at most 40 px\)"):
        training.train(TrainConfig(**dict(TINY, image_size=64)), tiny)


def test_estimate_counts_and_times(tiny: Dataset) -> None:
    for cfg in (TrainConfig(**TINY), TrainConfig(**TINY, strategy="full")):
        est = training.estimate(cfg, tiny)
        assert (est.trainable_params, est.total_params) == training.count_parameters(cfg.model, cfg.strategy, 3)
        assert est.seconds == pytest.approx(est.decode_seconds + est.compute_seconds)
        assert est.compute_seconds > 0 and est.device == "cpu" and "timed" in est.method


def test_saved_model_loads_back_and_the_example_runs(tiny: Dataset, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    result = training.train(TrainConfig(**TINY), tiny)
    out = training.save_finetuned(result, tmp_path / "model")
    loaded = zoo.load_model(out)  # the Predict page's loader
    assert loaded.categories == tiny.classes and loaded.preprocess == result.preprocess
    x = torch.stack([result.preprocess(load_image(tiny.path(it))) for it in tiny.items[:4]])  # (4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), result.model(x))
    image = tiny.path(tiny.items[0])
    monkeypatch.setattr(sys, "argv", ["load_example.py", str(image)])
    runpy.run_path(str(out / "load_example.py"), run_name="__main__")  # plain torch + torchvision
    lines = capsys.readouterr().out.splitlines()
    with torch.no_grad():
        probs = result.model(result.preprocess(load_image(image)).unsqueeze(0)).softmax(1)[0]  # (3,)
    top = probs.argmax()
    assert len(lines) == 3 and lines[0] == f"{tiny.classes[top]}: {float(probs[top]):.3f}"
    assert "from playground.models.efficientnet_lite import efficientnet_lite0" in (out / "load_example.py").read_text()
    meta = (out / "meta.json").read_text()
    assert '"format": "cnn-playground/finetuned-v1"' in meta and '"val_accuracy"' in meta


@pytest.mark.parametrize("strategy", ["last-block", "full"])
def test_batchnorm_keeps_pretrained_statistics_while_its_affine_trains(tiny: Dataset, strategy: str) -> None:
    # Small-data fine-tuning normalises with the pretrained running statistics: in train mode
    # BatchNorm would use batch statistics that validation (running statistics) never sees.
    before = {k: v.clone() for k, v in zoo.load_model("efficientnet_lite0").model.state_dict().items()}
    result = training.train(TrainConfig(**TINY, strategy=strategy), tiny)
    after = result.model.state_dict()
    bn_stats = [k for k in after if k.endswith(("running_mean", "running_var"))]
    assert bn_stats and all(torch.equal(before[k], after[k].cpu()) for k in bn_stats)
    head_bn_weight = "_bn1.weight"  # the BatchNorm after the head conv trains under both strategies
    assert not torch.equal(before[head_bn_weight], after[head_bn_weight].cpu())


def test_full_fine_tuning_learns_on_a_small_set() -> None:
    from playground.finetune.data import bundled

    digits = bundled("digits")
    n = len(digits.items)  # class-sorted: 300 evenly spread images keep every class (~30 each)
    data = Dataset(digits.root, digits.name, digits.classes, [digits.items[i * n // 300] for i in range(300)])
    result = training.train(TrainConfig(strategy="full", image_size=48, epochs=2), data)
    # Measured 0.87 with pretrained BatchNorm statistics; 0.17 (chance is 0.10) when BatchNorm
    # ran in train mode, whose batch statistics validation never saw.
    assert result.val_accuracy >= 0.6
