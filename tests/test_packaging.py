"""The project installs like a library: `playground` works from any folder, as does `python -m playground`."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [["playground"], [sys.executable, "-m", "playground"]])
@pytest.mark.slow  # a fresh CLI process loading models
def test_the_command_line_runs_outside_the_repository(command: list[str], tmp_path: Path) -> None:
    if command == ["playground"] and shutil.which("playground") is None:
        pytest.fail("the `playground` script is missing: install the project with `pip install -e .`")
    proc = subprocess.run([*command, "models", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert '"name": "efficientnet_lite0"' in proc.stdout


def test_the_library_is_imported_from_the_installed_project(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import playground, sys; print(playground.__file__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).parent == Path(__file__).resolve().parent.parent / "playground"


def test_the_typed_re_exports_name_what_the_lazy_ones_load() -> None:
    """``playground/__init__.py`` names each public object twice: for type checkers (``TYPE_CHECKING``
    imports) and for the lazy loader (``_EXPORTS``). Both must name the same object from the same module."""
    import ast

    import playground

    tree = ast.parse(Path(playground.__file__).read_text(encoding="utf-8"))
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    typed = {a.asname or a.name: node.module for node in guarded.body if isinstance(node, ast.ImportFrom)
             for a in node.names}
    assert typed == playground._EXPORTS
    for name in ("analyze", "SpecError", "load_model"):  # and the lazy loader finds them there
        assert getattr(playground, name) is getattr(__import__(typed[name], fromlist=[name]), name)
