"""`python -m playground predict` and `models`, through the real dispatcher."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from playground.cli import main
from playground.samples import load_sample
from tests.conftest import REPO
from tests.model_data import write_finetuned


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
    assert code == 0 and "efficientnet_lite0" in out and "unavailable" in out


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
