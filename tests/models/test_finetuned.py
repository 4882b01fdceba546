"""The fine-tuned model folder: what save_finetuned writes loads back, and its example runs in plain PyTorch."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import torch

from playground.catalog import load_model
from playground.finetune import loop as training
from playground.finetune.config import TrainConfig
from playground.images import load_image
from playground.models.finetuned import save_finetuned
from tests.support.finetune_data import TINY, tiny_digits


def test_saved_model_loads_back_and_the_example_runs(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = tiny_digits(tmp_path / "tiny", classes=3, per_class=10)
    result = training.train(TrainConfig(**TINY), tiny)
    out = save_finetuned(result, tmp_path / "model")
    loaded = load_model(out)  # the Predict page's loader
    assert loaded.categories == tiny.classes and loaded.preprocess == result.preprocess
    x = torch.stack([result.preprocess(load_image(tiny.path(it))) for it in tiny.items[:4]])  # (4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), result.model(x))
    image = tiny.path(tiny.items[0])
    monkeypatch.setattr(sys, "argv", ["load_example.py", str(image)])
    monkeypatch.setattr(sys, "path", list(sys.path))  # it puts its folder first, to import its model.py
    monkeypatch.setitem(sys.modules, "model", None)  # recorded as absent, so teardown drops the model.py
    del sys.modules["model"]  # module it imports (none is imported yet)
    with pytest.raises(SystemExit) as ended:
        runpy.run_path(str(out / "load_example.py"), run_name="__main__")  # plain torch (see test_artifacts_standalone)
    assert ended.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    with torch.no_grad():
        probs = result.model(result.preprocess(load_image(image)).unsqueeze(0)).softmax(1)[0]  # (3,)
    top = probs.argmax()
    assert len(lines) == 3 and lines[0] == f"{tiny.classes[top]}: {float(probs[top]):.6f}"
    assert "import playground" not in (out / "model.py").read_text()
    meta = (out / "meta.json").read_text()
    assert '"format": "cnn-playground/finetuned-v1"' in meta and '"val_accuracy"' in meta
