"""The training loop: accuracy on real digits, the feature cache, seeds, augmentation, stopping,
progress events, label and memory checks."""
from __future__ import annotations

import pytest
import torch

from playground.finetune import loop as training
from playground.finetune import pixels, runtime
from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.data import Dataset, DatasetError, DatasetItem
from playground.finetune.eta import Costs
from playground.finetune.loop import Stopped
from playground.images import load_image
from playground.models import registry as zoo
from tests.support.finetune_data import TINY


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


def test_runs_are_repeatable_with_a_seed(tiny: Dataset) -> None:
    cfg = TrainConfig(**TINY, strategy="last-block", augment=True)
    a, b = training.train(cfg, tiny), training.train(cfg, tiny)
    assert a.history == [dict(h, seconds=a.history[i]["seconds"]) for i, h in enumerate(b.history)]
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(x, y), name


def test_cached_pixels_match_the_prediction_preprocessing(tiny: Dataset) -> None:
    pp = runtime.training_preprocess(zoo.MODELS["efficientnet_lite0"], 40)
    assert (pp.crop, pp.resize) == (40, round(40 * 256 / 224))
    cache = pixels.decode_all(tiny, pp, lambda done, total: None, lambda: False)  # (N, 3, 40, 40) uint8
    mean, std = torch.tensor(pp.mean).view(1, 3, 1, 1), torch.tensor(pp.std).view(1, 3, 1, 1)
    for i in (0, len(tiny.items) - 1):
        expected = pp(load_image(tiny.path(tiny.items[i])))  # what predict feeds the model
        torch.testing.assert_close(pixels.normalize(cache[i : i + 1], mean, std)[0], expected)


def test_augmentation_is_a_seeded_crop_and_flip() -> None:
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float).view(2, 3, 16, 16)
    a = pixels.augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, pixels.augment(x, torch.Generator().manual_seed(1)))
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
    # After the last step only the last validation pass is left: a little, not nothing.
    assert batch[-1]["eta_seconds"] > 0
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[-1]["eta_seconds"] == 0
    assert {e["phase"] for e in events if e["event"] == "phase"} == {"loading model", "decoding images", "extracting features"}
    # The head path reports its feature extraction with counts and time left, and writes per-epoch metrics.
    extracting = [e for e in events if e.get("phase") == "extracting features"]
    assert [e["done"] for e in extracting] == [8, 16, 24, 30] and all(e["total"] == 30 for e in extracting)
    # Without prior costs the head's steps have no cost until the first one ran: no figure rather than a wrong one.
    assert all("eta_seconds" in e for e in extracting) and extracting[-1]["eta_seconds"] is None
    # With them (what a job gets from the before-Start estimate) every phase has a time left from the start.
    events.clear()
    prior = Costs(decode=1e-3, forward=1e-2, step=1e-4, evaluate=1e-4)
    training.train(TrainConfig(**TINY), tiny, on_event=events.append, prior=prior)
    timed = [e for e in events if e["event"] != "phase" or e["phase"] != "loading model"]
    assert all(e["eta_seconds"] is not None for e in timed)


def test_a_run_records_what_its_work_cost(tiny: Dataset) -> None:
    """Per-image costs of this run's own work, under its calibration key, for later estimates."""
    events: list[dict] = []
    result = training.train(TrainConfig(**TINY, strategy="full"), tiny, on_event=events.append)
    timing = result.timing
    assert timing["key"] == "efficientnet_lite0|full|32px|b8|cpu|auto|pixels"
    assert all(timing["costs"][k] > 0 for k in ("decode", "step", "evaluate"))
    assert timing["costs"]["forward"] == timing["costs"]["evaluate"]  # no extraction: validation is that pass
    assert timing["work_seconds"] > 0 and result.metrics()["timing"] == timing
    # The time left shrinks to nothing by the end, and every step after the first has one.
    etas = [e["eta_seconds"] for e in events if e["event"] == "batch"][1:]
    assert None not in etas and events[-1]["eta_seconds"] == 0


def test_a_stopped_run_keeps_its_best_epoch(tiny: Dataset) -> None:
    epochs: list[dict] = []
    with pytest.raises(Stopped) as stopped:
        training.train(TrainConfig(**dict(TINY, epochs=5), strategy="last-block"), tiny,
                       on_event=lambda e: epochs.append(e) if e["event"] == "epoch" else None,
                       should_stop=lambda: len(epochs) >= 3)
    kept = stopped.value.result
    assert kept is not None and len(epochs) == 3
    best = max(epochs, key=lambda e: (e["val_accuracy"], -e["val_loss"]))
    assert kept.kept_epoch == best["epoch"] and kept.config.epochs == best["epoch"]
    assert kept.val_accuracy == pytest.approx(best["val_accuracy"])
    assert kept.stopped == {"epoch": 4, "epochs": 5, "step": 1, "steps_per_epoch": 3}
    assert [h["epoch"] for h in kept.history] == [1, 2, 3]
    assert kept.metrics()["val_loss"] == pytest.approx(best["val_loss"])
    # The weights are that epoch's: run once for exactly that many epochs, the same seed gives them.
    again = training.train(TrainConfig(**dict(TINY, epochs=best["epoch"]), strategy="last-block"), tiny)
    for (name, x), (_, y) in zip(kept.model.state_dict().items(), again.model.state_dict().items()):
        torch.testing.assert_close(x, y, msg=name)
    assert not any(p.requires_grad for p in kept.model.parameters()) and not kept.model.training


def test_a_run_stopped_before_any_epoch_keeps_nothing(tiny: Dataset) -> None:
    with pytest.raises(Stopped) as stopped:
        training.train(TrainConfig(**TINY, strategy="full"), tiny, should_stop=lambda: True)
    assert stopped.value.result is None


def test_labels_are_checked_before_any_model_work(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "load_zoo_model", lambda *a: pytest.fail("model loaded before labels were checked"))
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


def test_memory_cap_on_the_image_cache(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pixels, "MAX_CACHE_BYTES", 30 * 3 * 40 * 40)
    with pytest.raises(TrainingError, match=r"30 images at 64 px need 0 MB of memory \(limit 0 MB\); use a smaller image size \(at most 40 px\)"):
        training.train(TrainConfig(**dict(TINY, image_size=64)), tiny)


def test_full_fine_tuning_learns_on_a_small_set() -> None:
    from playground.finetune.data import bundled

    digits = bundled("digits")
    n = len(digits.items)  # class-sorted: 300 evenly spread images keep every class (~30 each)
    data = Dataset(digits.root, digits.name, digits.classes, [digits.items[i * n // 300] for i in range(300)])
    result = training.train(TrainConfig(strategy="full", image_size=48, epochs=2), data)
    # Measured 0.87 with pretrained BatchNorm statistics; 0.17 (chance is 0.10) when BatchNorm
    # ran in train mode, whose batch statistics validation never saw.
    assert result.val_accuracy >= 0.6
