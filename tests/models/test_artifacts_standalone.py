"""A fine-tuned model folder stands alone: load_example.py (with model.py) runs with torch, safetensors
and Pillow (torchvision only for torchvision architectures) and gives the playground's own prediction;
its README names only paths that exist where the files are."""
from __future__ import annotations

import ast
import functools
import importlib.util
import io
import json
import re
import shutil
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from playground.catalog import finetuned_dir, load_model
from playground.cli import main
from playground.finetune.config import TrainConfig
from playground.finetune.jobs import worker
from playground.finetune.jobs.store import JobStore
from playground.finetune.loop import TrainResult
from playground.images import load_image
from playground.models import efficientnet_lite, standalone
from playground.models.finetuned import (
    EXAMPLE_FILE,
    MODEL_FILE,
    README_FILE,
    save_finetuned,
    write_readme,
)
from playground.models.inference import predict
from playground.models.preprocess import Preprocess
from playground.models.registry import MODELS, replace_head
from tests.support.job_support import job_settings
from tests.support.standalone_support import BlockedBatch, Ran, Run, parse_top

pytestmark = pytest.mark.slow  # fresh interpreters loading real models

CLASSES = ["apple", "pear: green", "plum"]  # ": " in a name: the output is split at the last one
TOP = 3
# One model of each family the fine-tuner offers (every MODELS entry is checked in-process below):
# EfficientNet-Lite (the playground's own code; Lite2 is the width-scaled one) and each torchvision family.
FAMILIES = ["efficientnet_lite0", "efficientnet_lite2", "mobilenet_v2", "resnet18", "mobilenet_v3_large",
            "efficientnet_b0", "convnext_tiny"]
CROP = 32  # the smallest input every family takes (all downsample by 32 to one pixel)


@functools.cache  # building convnext_tiny alone takes seconds; nothing changes a result once built
def _result(arch: str) -> TrainResult:
    """A fine-tuned result as train() returns it: random weights, a head scaled so the classes differ
    clearly, the architecture's own normalisation at a small input (fast on a CPU)."""
    entry, classes, crop = MODELS[arch], CLASSES, CROP
    torch.manual_seed(0)
    model = replace_head(entry.builder(), entry, len(classes)).eval()
    with torch.no_grad():
        head = model.get_submodule(entry.head)
        head.weight.mul_(30.0)  # random init is near-uniform over 3 classes; spread it
        for m in model.modules():  # trained batch-norm statistics, not the fresh 0 / 1
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    pp = Preprocess(crop + 8, crop, entry.preprocess.mean, entry.preprocess.std, entry.preprocess.interpolation)
    n = len(classes)
    return TrainResult(model=model, entry=entry, preprocess=pp, classes=list(classes),
                       config=TrainConfig(model=arch, image_size=crop, epochs=1),
                       history=[{"epoch": 1, "val_loss": 1.0, "train_loss": 1.0, "train_accuracy": 0.5}],
                       confusion=[[1 if i == j else 0 for j in range(n)] for i in range(n)], misclassified=[],
                       train_seconds=1.0, images_per_sec=10.0, trainable_params=1, total_params=1, device="cpu",
                       precision="fp32", train_count=n, val_count=n)


def _photos(folder: Path) -> list[str]:
    """A sideways phone-style JPEG (EXIF orientation 6, big enough for draft decoding) and a
    half-transparent PNG: the decoding steps the playground does before preprocessing."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[0:300, 0:420]
    rgb = np.stack([xs * 255 // 420, ys * 255 // 300, (xs + ys) % 256], -1) + rng.integers(0, 40, (300, 420, 3))
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = folder / "sideways.jpg"
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(jpeg, "JPEG", quality=90, exif=exif)
    rgba = np.concatenate([rgb[:120, :90], np.full((120, 90, 1), 128)], -1).clip(0, 255).astype(np.uint8)
    png = folder / "glass.png"
    Image.fromarray(rgba, "RGBA").save(png)
    return [str(jpeg), str(png)]


def _playground_top(folder: Path, images: list[str]) -> dict[str, list[tuple[str, float]]]:
    """What `python -m playground predict IMAGE... --model FOLDER` computes, in this process."""
    loaded = load_model(folder)
    side = loaded.preprocess.resize
    return {image: [(label, p) for label, _, p in predict(loaded, load_image(image, draft_size=(side, side)), TOP).top]
            for image in images}


def _assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [c for c, _ in got] == [c for c, _ in want]
    assert [p for _, p in got] == pytest.approx([p for _, p in want], abs=1e-4)


def _copy_alone(folder: Path, dest: Path) -> Path:
    """A temp dir holding only a copy of the model folder (as unzipped from the download)."""
    dest.mkdir()
    return Path(shutil.copytree(folder, dest / "finetuned-model"))


def _family(arch: str) -> str:
    """The module defining an architecture (torchvision.models.resnet, playground.models.efficientnet_lite...)."""
    builder = MODELS[arch].builder
    return str(getattr(builder, "func", builder).__module__)


def test_the_families_cover_the_zoo() -> None:
    assert {_family(a) for a in MODELS} == {_family(a) for a in FAMILIES}


@dataclass(frozen=True)
class Exported:
    """Model folders, each copied alone as if unzipped from a download, and what their load_example.py
    printed there, all run in one interpreter without the playground (one torch import, not nine)."""

    images: list[str]  # a phone photo and a transparent PNG, given to every family's script
    saved: dict[str, Path]  # arch -> the folder save_finetuned wrote
    alone: dict[str, Path]  # arch -> its copy in a folder of its own
    ran: dict[str, Ran]  # arch -> `python finetuned-model/load_example.py IMAGE IMAGE --top 3` beside the copy
    want: dict[str, dict[str, list[tuple[str, float]]]]  # arch -> the playground's own prediction
    bad_image: Path
    ran_bad: Ran  # `python .../load_example.py notes.jpg` (not an image)
    home: Path  # a PLAYGROUND_HOME holding one job, job_id, whose artifacts are a fine-tuned lite0
    job_id: str
    job_alone: Path  # the job's folder, unzipped elsewhere
    ran_readme: Ran  # `python load_example.py IMAGE`, as its README says, from inside job_alone


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    tmp = tmp_path_factory.mktemp("standalone")
    home = tmp / "home"
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the per-test PLAYGROUND_HOME
        mp.setenv("PLAYGROUND_HOME", str(home))
        images = _photos(tmp / "photos")
        saved = {arch: save_finetuned(_result(arch), tmp / arch / "saved") for arch in FAMILIES}
        alone = {arch: _copy_alone(saved[arch], tmp / arch / "elsewhere") for arch in FAMILIES}
        job = JobStore().create(job_settings())
        worker._save(job, _result("efficientnet_lite0"))  # what the worker does with a finished run
    job_alone = _copy_alone(job.artifacts, tmp / "unzipped")
    bad_image = tmp / "notes.jpg"
    bad_image.write_text("not an image")
    runs = [Run([f"{alone[arch].name}/{EXAMPLE_FILE}", *images, "--top", str(TOP)], alone[arch].parent,
                standalone.needs_torchvision(MODELS[arch])) for arch in FAMILIES]
    runs.append(Run([str(saved["efficientnet_lite0"] / EXAMPLE_FILE), str(bad_image)], tmp, False))
    runs.append(Run([EXAMPLE_FILE, images[0]], job_alone, False))
    batch = BlockedBatch(runs, tmp / "results.json")
    try:
        want = {arch: _playground_top(saved[arch], images) for arch in FAMILIES}  # while the scripts run
    except BaseException:
        batch.stop()
        raise
    *ran, ran_bad, ran_readme = batch.wait()
    return Exported(images, saved, alone, dict(zip(FAMILIES, ran)), want, bad_image, ran_bad, home, job.id,
                    job_alone, ran_readme)


@pytest.mark.parametrize("arch", FAMILIES)
def test_load_example_runs_without_the_playground_and_agrees_with_it(arch: str, exported: Exported) -> None:
    ran, images = exported.ran[arch], exported.images
    assert ran.returncode == 0, ran.stderr
    tv = standalone.needs_torchvision(MODELS[arch])
    assert ran.blocked == (("playground",) if tv else ("playground", "torchvision"))
    assert ran.model_file is not None  # this folder's own model.py, not one a previous script imported
    assert Path(ran.model_file) == (exported.alone[arch] / MODEL_FILE).resolve()
    got, want = parse_top(ran.stdout, images), exported.want[arch]
    for image in images:
        _assert_same(got[image], want[image])
    top = got[images[0]]
    assert top[0][1] - top[-1][1] > 0.01  # far from uniform (a 1e-4 match means the same model)


def test_the_batch_interpreter_blocks_and_isolates_each_run(tmp_path: Path) -> None:
    """The harness itself (no torch imported: a second): blocked imports fail in every run, a
    torchvision run given first still runs after the torchvision-free ones, each run has its own
    argv, working directory, output and exit status."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "free.py").write_text(
        "import os, sys\n"
        "print(sys.argv[1:], os.path.basename(os.getcwd()))\n"
        "for name in ('playground', 'playground.models', 'torchvision'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ModuleNotFoundError:\n"
        "        print('no', name)\n"
        "sys.exit(3)\n")
    (tmp_path / "tv.py").write_text(
        "import importlib.util, sys\n"
        "print(sys.argv[1:], importlib.util.find_spec('torchvision') is not None)\n"
        "import playground\n")
    (tmp_path / "message.py").write_text("import sys\nsys.exit('bye')\n")
    runs = [Run([str(tmp_path / "tv.py")], tmp_path / "b", True),
            Run([str(tmp_path / "free.py"), "x", "--top", "1"], tmp_path / "a", False),
            Run([str(tmp_path / "message.py")], tmp_path, False)]
    tv, free, message = BlockedBatch(runs, tmp_path / "results.json").wait()
    assert (free.returncode, free.blocked) == (3, ("playground", "torchvision"))
    assert free.stdout == "['x', '--top', '1'] a\nno playground\nno playground.models\nno torchvision\n"
    assert (tv.returncode, tv.blocked, tv.stdout) == (1, ("playground",), "[] True\n")
    assert "ModuleNotFoundError: No module named 'playground' (blocked by the test)" in tv.stderr
    assert (message.returncode, message.stdout, message.stderr) == (1, "", "bye\n")


def _imported(source: str) -> set[str]:
    """The top-level packages a module's source imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    return names


def test_model_py_embeds_the_playground_definitions_verbatim(tmp_path: Path) -> None:
    out = save_finetuned(_result("efficientnet_lite2"), tmp_path / "m")
    text = (out / MODEL_FILE).read_text()
    assert standalone.embedded_module_source(efficientnet_lite) in text  # one definition: the playground's own
    assert "def crop_image(self, img: Image.Image) -> Image.Image:" in text
    assert "efficientnet_lite2(num_classes=num_classes)" in text
    assert _imported(text) == {"__future__", "dataclasses", "json", "math", "pathlib", "typing", "torch", "PIL",
                               "safetensors"}  # no playground, no torchvision
    tv_text = (save_finetuned(_result("resnet18"), tmp_path / "r") / MODEL_FILE).read_text()
    assert "from torchvision.models import resnet18" in tv_text and "resnet18(weights=None, num_classes=" in tv_text
    assert "playground" not in _imported(tv_text)


def test_a_module_that_imports_the_playground_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "leaky_arch.py"
    path.write_text("import torch\nfrom playground.models.registry import MODELS\n")
    spec = importlib.util.spec_from_file_location("leaky_arch", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(RuntimeError, match="imports 'playground.models.registry'"):
        standalone.embedded_module_source(module)


def test_a_bad_image_is_one_line_not_a_traceback(exported: Exported) -> None:
    ran = exported.ran_bad
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert ran.stderr.startswith(f"{exported.bad_image}: cannot read this image")


def _readme_paths(text: str) -> list[str]:
    """Every path-like word inside the README's backticks (IMAGE is the reader's own photo)."""
    words = [w for span in re.findall(r"`([^`]+)`", text) for w in span.split()]
    return [w for w in words if w != "IMAGE" and ("." in w or "/" in w) and not w.startswith("job:")]


def test_a_job_readme_names_only_what_exists_and_its_job(exported: Exported, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PLAYGROUND_HOME", str(exported.home))  # the server's store, which holds the job
    store, job_id = JobStore(), exported.job_id
    job = store.folder(job_id)
    text = (job.artifacts / README_FILE).read_text()
    assert ".artifacts.tmp" not in text and str(exported.home.parent) not in text and str(store.root) not in text
    assert f"`python -m playground predict IMAGE --model job:{job_id}`" in text
    assert finetuned_dir(f"job:{job_id}") == job.artifacts  # the job reference leads here
    alone = exported.job_alone
    paths = _readme_paths(text)
    assert {"model.safetensors", "meta.json", "model.py", "load_example.py", "."} <= set(paths)
    assert [p for p in paths if not (alone / p).exists()] == []

    # The README's two commands, as written, from inside the folder.
    image = exported.images[0]
    assert "`python load_example.py IMAGE`" in text
    ran = exported.ran_readme
    assert ran.returncode == 0, ran.stderr
    monkeypatch.chdir(alone)
    assert "`python -m playground predict IMAGE --model .`" in text
    assert main(["predict", image, "--model", ".", "--json", "--top", "1"]) == 0
    (via_cli,) = json.loads(capsys.readouterr().out)
    best = via_cli["predictions"][0]
    _assert_same(parse_top(ran.stdout, [image])[image][:1], [(best["label"], best["probability"])])


def test_a_folder_outside_a_job_names_no_job_and_a_copy_is_rewritten(tmp_path: Path) -> None:
    store = JobStore()
    job = store.create(job_settings())
    save_finetuned(_result("mobilenet_v2"), job.artifacts, job_ref=f"job:{job.id}")
    assert f"job:{job.id}" in (job.artifacts / README_FILE).read_text()
    elsewhere = tmp_path / "20250101-model"
    shutil.copytree(job.artifacts, elsewhere)
    write_readme(elsewhere)  # what `finetune --runner ray --out DIR` does with the job's copy
    text = (elsewhere / README_FILE).read_text()
    assert "job:" not in text and "torch, torchvision, safetensors and Pillow" in text
    assert "3 classes: apple, pear: green, plum. Validation accuracy 100.0% on 3 images" in text
    plain = (save_finetuned(_result("efficientnet_lite0"), tmp_path / "out") / README_FILE).read_text()
    assert "job:" not in plain and "torchvision" not in plain


def test_a_job_in_another_store_names_no_job(tmp_path: Path) -> None:
    """A job run in a store that is not this playground's (the CLI's Ray run uses a scratch one): its
    job:<id> would lead elsewhere, so the worker's README names none."""
    job = JobStore(tmp_path / "scratch").create(job_settings())
    worker._save(job, _result("efficientnet_lite0"))
    text = (job.artifacts / README_FILE).read_text()
    assert "job:" not in text and (job.artifacts / "model.safetensors").is_file()


def _import_exported(folder: Path, name: str) -> types.ModuleType:
    """A folder's model.py, imported from its file as a user would (its folder on sys.path)."""
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, folder / MODEL_FILE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # as `import model` does (dataclasses look their module up)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)
    return module


def test_model_py_is_importable_as_a_library(tmp_path: Path) -> None:
    out = save_finetuned(_result("efficientnet_lite1"), tmp_path / "m")
    exported = _import_exported(out, "exported_lite1")
    model, meta = exported.load_model(out)
    assert meta["classes"] == CLASSES and not model.training
    photo = Image.open(io.BytesIO(_png(90, 70))).convert("RGB")
    ours, theirs = Preprocess.from_dict(meta["preprocess"]), exported.Preprocess(**meta["preprocess"])
    assert torch.equal(ours(photo), theirs(photo))  # the same numbers, without torchvision


@pytest.mark.parametrize("arch", list(MODELS))
def test_every_zoo_model_exports_a_builder_with_the_saved_keys(arch: str, tmp_path: Path) -> None:
    entry = MODELS[arch]
    (tmp_path / MODEL_FILE).write_text(standalone.model_source(entry, 7))
    exported = _import_exported(tmp_path, f"exported_{arch}")
    with torch.device("meta"):  # names and shapes only: no memory, no (seconds of) random init
        want = replace_head(entry.builder(), entry, 7).state_dict()
        got = exported.build_model(7).state_dict()
    assert {k: tuple(v.shape) for k, v in got.items()} == {k: tuple(v.shape) for k, v in want.items()}


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()
