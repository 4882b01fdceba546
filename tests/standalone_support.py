"""Running a fine-tuned model folder's load_example.py where the playground cannot be imported.

The project is pip-installed (editable), so a plain subprocess could still import it: the script
runs under ``python -I`` (no cwd, user site or PYTHON* variables on sys.path) behind a meta-path
finder that refuses ``playground`` (and torchvision, for architectures that must not need it).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["BLOCKED_LINE", "run_blocked", "parse_top"]

BLOCKED_LINE = "bootstrap: blocked {names}; playground was importable before: True"

# argv after -c: the blocked top-level names (comma-separated), the script, its arguments.
_BOOTSTRAP = r"""
import importlib.util, runpy, sys
blocked = tuple(sys.argv[1].split(","))
before = importlib.util.find_spec("playground") is not None  # the editable install is visible...

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

assert not [m for m in sys.modules if m.split(".")[0] in blocked], "already imported"
sys.meta_path.insert(0, Blocker())
for name in blocked:  # ...and now it is not
    try:
        __import__(name)
    except ModuleNotFoundError:
        pass
    else:
        sys.exit(f"bootstrap: {name} is still importable")
print(f"bootstrap: blocked {','.join(blocked)}; playground was importable before: {before}", flush=True)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_blocked(argv: list[str], cwd: Path, *, torchvision: bool) -> subprocess.CompletedProcess[str]:
    """``python load_example.py ...`` (``argv`` from the script on) in ``cwd`` without the playground,
    and without torchvision unless ``torchvision``."""
    blocked = "playground" if torchvision else "playground,torchvision"
    return subprocess.run([sys.executable, "-I", "-c", _BOOTSTRAP, blocked, *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def parse_top(stdout: str, images: list[str]) -> dict[str, list[tuple[str, float]]]:
    """load_example.py's output -> image -> [(class, probability)], best first (after the bootstrap line)."""
    lines = stdout.splitlines()[1:]
    out: dict[str, list[tuple[str, float]]] = {}
    current = images[0] if len(images) == 1 else None
    for line in lines:
        if len(images) > 1 and line in images:
            current = line
            continue
        assert current is not None, stdout
        label, _, prob = line.rpartition(": ")
        out.setdefault(current, []).append((label, float(prob)))
    return out
