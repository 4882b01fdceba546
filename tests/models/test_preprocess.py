"""playground.models.preprocess: the registry's preprocessing against torchvision's transforms (the oracle)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode

from playground.models.preprocess import Preprocess
from playground.models.registry import DEFAULT_MODEL, MODELS
from playground.samples import load_sample
from tests.conftest import REPO


@pytest.mark.parametrize("name", ["resnet50", "efficientnet_b0", "convnext_tiny", DEFAULT_MODEL])
@pytest.mark.parametrize("photo, size", [("Astronaut", None), ("Rocket", None), ("Coffee cup", (97, 300)),
                                         ("Cat (Chelsea)", (150, 120))])
def test_preprocess_matches_torchvision_transforms(name: str, photo: str, size) -> None:
    """Our one-step crop+resize against torchvision's Resize + CenterCrop + Normalize (the oracle)."""
    entry = MODELS[name]
    p = entry.preprocess
    img = load_sample(photo) if size is None else load_sample(photo).resize(size)
    want = torchvision.transforms.Compose([
        torchvision.transforms.Resize(p.resize, interpolation=InterpolationMode(p.interpolation)),
        torchvision.transforms.CenterCrop(p.crop), torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize(p.mean, p.std)])(img)
    got = p(img)
    assert got.shape == want.shape == (3, p.crop, p.crop)
    step = 1 / 255 / min(p.std) + 1e-5  # one grey level after normalising
    diff = (got - want).abs()
    assert diff.max() <= step and (diff > 1e-5).float().mean() < 0.01
    if name != DEFAULT_MODEL:  # and the registry's numbers are the weights' own transforms
        weights = getattr(torchvision.models, {"resnet50": "ResNet50_Weights", "efficientnet_b0":
                          "EfficientNet_B0_Weights", "convnext_tiny": "ConvNeXt_Tiny_Weights"}[name]).DEFAULT
        assert (got - weights.transforms()(img)).abs().max() <= step


def test_preprocess_round_trip_and_validation() -> None:
    p = MODELS[DEFAULT_MODEL].preprocess
    assert Preprocess.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    for bad, word in (({"crop": 224}, "resize"), ({**p.to_dict(), "std": [1, 0, 1]}, "std"),
                      ({**p.to_dict(), "interpolation": "lanczos9"}, "interpolation")):
        with pytest.raises(ValueError, match=word):
            Preprocess.from_dict(bad)


def _two_step(p: Preprocess, img: Image.Image) -> Image.Image:
    """torchvision's own Resize + CenterCrop on a PIL image: the oracle for crop_image."""
    return torchvision.transforms.Compose([
        torchvision.transforms.Resize(p.resize, interpolation=InterpolationMode(p.interpolation)),
        torchvision.transforms.CenterCrop(p.crop)])(img)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("resize, crop", [(256, 224), (232, 224), (100, 150), (64, 80)])
@pytest.mark.parametrize("size", [(2000, 100), (100, 2000), (20, 1), (1, 20), (50, 40), (97, 300), (640, 480)])
def test_crop_image_matches_torchvision_on_odd_shapes(interpolation: str, resize: int, crop: int, size) -> None:
    """Shrinking, upscaling (small and long thin photos) and zero padding (crop larger than the resize):
    resampling only the crop's box equals torchvision's two steps up to rounding. (Each of Pillow's two
    passes rounds to 8 bits; Pillow 13 runs the vertical pass first for some tall shrinks, we always run
    the horizontal one first, so a pixel may differ by a grey level per pass.)"""
    p = Preprocess(resize, crop, (0.5,) * 3, (0.5,) * 3, interpolation)
    img = load_sample("Astronaut").resize(size, Image.Resampling.BILINEAR)
    want, got = np.asarray(_two_step(p, img), np.int16), np.asarray(p.crop_image(img), np.int16)
    assert got.shape == want.shape == (crop, crop, 3)
    diff = np.abs(got - want)
    assert diff.max() <= 2 and diff.mean() < 0.2 and (diff > 1).mean() < 0.001
    if crop > resize:  # the padding: zeros in the same columns (or rows) as torchvision's, image next to them
        w, h = size
        short = 1 if w <= h else 0  # the axis the resize sets to `resize`, padded to `crop`
        before, after = (crop - resize) // 2, (crop - resize + 1) // 2
        for image in (want, got):
            pad = np.moveaxis(image, short, 0)  # (padded axis, other axis, 3)
            assert not pad[:before].any() and not pad[crop - after:].any()
            assert pad[before].any() and pad[crop - after - 1].any()


def test_nearest_picks_the_same_source_pixels_up_to_ties() -> None:
    p = Preprocess(232, 224, (0.5,) * 3, (0.5,) * 3, "nearest")
    img = load_sample("Astronaut").resize((300, 500))
    want, got = np.asarray(_two_step(p, img), np.int16), np.asarray(p.crop_image(img), np.int16)
    assert got.shape == want.shape and (np.abs(got - want).max(axis=2) > 0).mean() < 0.05


_PEAK_SCRIPT = """
import resource, sys
from PIL import Image
from playground.models.preprocess import Preprocess
img = Image.new("RGB", (int(sys.argv[1]), 1), (200, 100, 50))
p = Preprocess(256, 224, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# Cap the address space a little above what the process already maps: the old two-step resize of
# this strip (256 rows x 25.6 M columns) fails here with MemoryError instead of taking the machine.
with open("/proc/self/status") as f:
    mapped = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (mapped + 1024**3, resource.RLIM_INFINITY))
x = p(img)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(tuple(x.shape), round((after - before) / 1024), float(x[0].mean()))
"""


def test_a_long_thin_strip_never_allocates_more_than_the_crop() -> None:
    """Found on the hosted app: a 375-byte 100000x1 PNG made the server allocate ~20 GB."""
    proc = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, "100000"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shape, grown_mb, red = proc.stdout.split(") ")[0] + ")", *proc.stdout.split(") ")[1].split()
    assert shape == "(3, 224, 224)"
    assert int(grown_mb) < 64  # peak resident growth, in MB (the two-step way: gigabytes)
    assert abs(float(red) - (200 / 255 - 0.5) / 0.25) < 1e-3  # and the pixels are the strip's colour
