"""Names from users (class folder names in an uploaded zip) printed by the CLI and written into a model's
README: control characters escaped, so no terminal escape runs and no newline starts a heading; bidirectional
overrides shown as ``<U+202E>``, in the CLI, the README and on the page (md_text)."""
from __future__ import annotations

from pathlib import Path

import pytest

from playground._format import visible
from playground.cli import main
from playground.finetune.jobs.store import JobStore
from playground.models.finetuned import write_readme
from playground.ui.text import md_text
from tests.support.finetune_data import png_bytes
from tests.support.model_data import write_finetuned

EVIL = "cats\x1b]0;pwned\x07\x1b[2J\n# Free answers\u202egpj.exe"


def test_visible_escapes_controls_and_bidi_but_keeps_text() -> None:
    assert visible(EVIL) == "cats\\x1b]0;pwned\\x07\\x1b[2J\\n# Free answers<U+202E>gpj.exe"
    assert visible("Éclair 猫 café") == "Éclair 猫 café"  # other scripts and accents are names, not attacks
    assert visible("a\\x1b") == "a\\\\x1b"  # a real backslash cannot pass for an escaped control


def _job_model(home: Path) -> str:
    store = JobStore(home)
    job = store.create({"kind": "finetune"})
    write_finetuned(job.artifacts, classes=(EVIL, "dogs"))
    store.finish(job.id, "done", "validation accuracy 50.0%")
    return f"job:{job.id}"


def test_models_and_predict_print_names_escaped(_playground_home: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    ref = _job_model(_playground_home)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "cats\\x1b]0;pwned\\x07" in out
    image = tmp_path / "photo.png"
    image.write_bytes(png_bytes(90, size=64))
    assert main(["predict", str(image), "--model", ref, "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\n# Free" not in out
    assert visible(EVIL) in out


def test_the_model_readme_writes_names_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    write_finetuned(folder, classes=(EVIL, "dogs"))
    text = write_readme(folder).read_text()
    assert "\x1b" not in text and "\u202e" not in text
    assert "\n# Free answers" not in text and "\n\\# Free" not in text  # no heading injected
    assert text.count("\n# ") == 0 and text.startswith("# Fine-tuned")


def test_md_text_shows_bidi_overrides() -> None:
    shown = md_text("photos\u202egpj.zip")
    assert "\u202e" not in shown and "U\\+202E" in shown
