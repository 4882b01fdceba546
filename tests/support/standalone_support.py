"""Running a fine-tuned model folder's load_example.py where the playground cannot be imported.

The project is pip-installed (editable), so a plain subprocess could still import it: the scripts
run under ``python -I`` (no cwd, user site or PYTHON* variables on sys.path) behind a meta-path
finder that refuses ``playground`` (and torchvision, for architectures that must not need it).

Each interpreter start imports torch, seconds on a small CI machine, so :class:`BlockedBatch` runs
many scripts in one interpreter, one after another, each as ``python SCRIPT ARGS`` would (its own
``sys.argv``, working directory, stdout, stderr and exit status, and a fresh import of its folder's
``model.py``). Every run without torchvision goes first, while torchvision is still blocked.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Run", "Ran", "BlockedBatch", "run_blocked", "parse_top"]

# argv after -c: the runs as JSON ([{"argv", "cwd", "torchvision"}], torchvision-free ones first),
# the file the results go to as JSON (stdout and stderr of each run are captured, so they cannot mix).
_BOOTSTRAP = r"""
import contextlib, importlib.util, io, json, os, runpy, sys, traceback
runs, results_file = json.loads(sys.argv[1]), sys.argv[2]
if importlib.util.find_spec("playground") is None:  # else blocking it would prove nothing
    sys.exit("bootstrap: playground is not importable even before blocking it")
blocked = {"playground"} | ({"torchvision"} if not all(run["torchvision"] for run in runs) else set())

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

assert not [m for m in sys.modules if m.split(".")[0] in blocked], "already imported"
sys.meta_path.insert(0, Blocker())

def importable(name):
    try:
        __import__(name)
    except ModuleNotFoundError:
        return False
    return True

def exit_status(code):
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)  # sys.exit("message"), as the interpreter reports it
    return 1

results = []
for run in runs:
    if run["torchvision"]:
        blocked.discard("torchvision")  # from here on; no torchvision-free run comes after
    names = sorted(blocked)
    if [n for n in names if n in sys.modules or importable(n)]:
        sys.exit(f"bootstrap: one of {names} is still importable")
    sys.modules.pop("model", None)  # the previous folder's model.py: each script imports its own
    saved = sys.argv, list(sys.path), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    sys.argv = list(run["argv"])
    os.chdir(run["cwd"])
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(sys.argv[0], run_name="__main__")
                status = 0
            except SystemExit as exc:
                status = exit_status(exc.code)
            except BaseException:
                traceback.print_exc()
                status = 1
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]
        os.chdir(saved[2])
    model = sys.modules.get("model")
    results.append({"returncode": status, "stdout": out.getvalue(), "stderr": err.getvalue(), "blocked": names,
                    "model_file": getattr(model, "__file__", None)})
with open(results_file, "w", encoding="utf-8") as f:
    json.dump(results, f)
"""


@dataclass(frozen=True)
class Run:
    """``python SCRIPT ARGS`` (``argv``, from the script on) in ``cwd``; ``torchvision``: allowed."""

    argv: list[str]
    cwd: Path
    torchvision: bool


@dataclass(frozen=True)
class Ran:
    """What one run printed and returned; ``blocked``: the packages it could not import;
    ``model_file``: the ``model.py`` it imported (None if none)."""

    returncode: int
    stdout: str
    stderr: str
    blocked: tuple[str, ...]
    model_file: str | None


class BlockedBatch:
    """Several runs in one ``python -I`` interpreter without the playground, started at once
    (so the caller can work meanwhile); :meth:`wait` gives the results in the order given."""

    def __init__(self, runs: list[Run], results_file: Path) -> None:
        # Stable: torchvision-free runs first, each group in the caller's order.
        self._order = sorted(range(len(runs)), key=lambda i: runs[i].torchvision)
        spec = [{"argv": runs[i].argv, "cwd": str(runs[i].cwd), "torchvision": runs[i].torchvision}
                for i in self._order]
        self._results_file = results_file
        self._proc = subprocess.Popen([sys.executable, "-I", "-c", _BOOTSTRAP, json.dumps(spec), str(results_file)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self) -> None:
        """End the interpreter (when the caller fails before it waits): no stray process."""
        self._proc.kill()
        self._proc.communicate()

    def wait(self, timeout: float = 600) -> list[Ran]:
        """The runs' results, in the order they were given (raises if the interpreter itself failed)."""
        try:
            stdout, stderr = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        assert self._proc.returncode == 0, f"the bootstrap failed ({self._proc.returncode}):\n{stdout}\n{stderr}"
        raw = json.loads(self._results_file.read_text(encoding="utf-8"))
        out: list[Ran | None] = [None] * len(raw)
        for i, r in zip(self._order, raw):
            out[i] = Ran(r["returncode"], r["stdout"], r["stderr"], tuple(r["blocked"]), r["model_file"])
        return [r for r in out if r is not None]


def run_blocked(argv: list[str], cwd: Path, *, torchvision: bool) -> Ran:
    """``python load_example.py ...`` (``argv`` from the script on) in ``cwd`` without the playground,
    and without torchvision unless ``torchvision``: a batch of one."""
    with tempfile.TemporaryDirectory() as tmp:  # not in cwd: that may be the folder under test
        (ran,) = BlockedBatch([Run(argv, cwd, torchvision)], Path(tmp) / "results.json").wait()
    return ran


def parse_top(stdout: str, images: list[str]) -> dict[str, list[tuple[str, float]]]:
    """load_example.py's output -> image -> [(class, probability)], best first."""
    out: dict[str, list[tuple[str, float]]] = {}
    current = images[0] if len(images) == 1 else None
    for line in stdout.splitlines():
        if len(images) > 1 and line in images:
            current = line
            continue
        assert current is not None, stdout
        label, _, prob = line.rpartition(": ")
        out.setdefault(current, []).append((label, float(prob)))
    return out
