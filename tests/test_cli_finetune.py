"""`python -m playground finetune`: JSON on stdout, progress on stderr, a model folder that
`predict --model` uses, one-line errors with exit status 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.cli import main
from tests.conftest import REPO
from tests.support.finetune_data import make_zip, png_bytes, tiny_digits
from tests.support.standalone_support import parse_top, run_blocked

pytestmark = pytest.mark.slow  # real training in CLI processes


def test_finetune_a_zip_then_predict_with_the_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = tiny_digits(tmp_path / "digits", classes=2, per_class=8)
    archive = tmp_path / "two digits.zip"
    archive.write_bytes(make_zip({f"set/{it.path}": ds.path(it).read_bytes() for it in ds.items}))
    out = tmp_path / "model"
    proc = subprocess.run(
        [sys.executable, "-m", "playground", "finetune", str(archive), "--epochs", "2", "--image-size", "32",
         "--batch-size", "4", "--strategy", "last-block", "--out", str(out), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # stdout is exactly one JSON document
    assert result["classes"] == ["0", "1"] and result["epochs"] == 2 and result["strategy"] == "last-block"
    assert 0.0 <= result["val_accuracy"] <= 1.0 and result["train_seconds"] > 0
    assert result["out"] == str(out.resolve()) and result["train_images"] + result["val_images"] == 16
    assert len(result["history"]) == 2 and result["skipped"] == {}
    assert "epoch 2/2: train loss" in proc.stderr and "decoding images" in proc.stderr
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "meta.json", "README.md", "load_example.py",
                                               "model.py"}

    image = ds.path(ds.items[0])
    assert main(["predict", str(image), "--model", str(out), "--json", "--top", "2"]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)
    assert [p["label"] for p in prediction["predictions"]] in (["0", "1"], ["1", "0"])
    assert sum(p["probability"] for p in prediction["predictions"]) == pytest.approx(1.0, abs=1e-5)

    # The --out folder stands alone: its README names only its own files, its example needs no playground.
    readme = (out / "README.md").read_text()
    assert str(tmp_path) not in readme and "job:" not in readme and "`python load_example.py IMAGE`" in readme
    ran = run_blocked(["load_example.py", str(image), "--top", "2"], out, torchvision=False)
    assert ran.returncode == 0 and ran.blocked == ("playground", "torchvision"), ran.stderr
    alone = parse_top(ran.stdout, [str(image)])[str(image)]
    assert [label for label, _ in alone] == [p["label"] for p in prediction["predictions"]]
    assert [p for _, p in alone] == pytest.approx([p["probability"] for p in prediction["predictions"]], abs=1e-4)


@pytest.mark.parametrize("args, message", [
    (["finetune", "{tmp}/photo.zip"], "error: 'photo.zip' is not a readable zip file"),
    (["finetune", "{tmp}/missing"], "error: '{tmp}/missing' is neither a file, a folder nor a bundled dataset (digits, shapes"),
    (["finetune", "{tmp}/one"], "error: 'one' has 1 class folder(s); a classifier needs at least 2"),
    (["finetune", "digits", "--model", "vgg99"], "error: unknown model 'vgg99'; choose one of: efficientnet_lite0"),
    (["finetune", "digits", "--epochs", "0"], "argument --epochs: must be from 1 to 500"),
    (["finetune", "digits", "--strategy", "all"], "argument --strategy: invalid choice: 'all'"),
])
def test_errors_are_one_line_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           args: list[str], message: str) -> None:
    (tmp_path / "photo.zip").write_bytes(png_bytes())
    (tmp_path / "one" / "cats").mkdir(parents=True)
    for i in range(2):
        (tmp_path / "one" / "cats" / f"{i}.png").write_bytes(png_bytes(i))
    argv = [a.format(tmp=tmp_path) for a in args]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    last = captured.err.strip().splitlines()[-1]
    assert message.format(tmp=tmp_path) in last and "Traceback" not in captured.err
