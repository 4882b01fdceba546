"""The upload limit is written the same way everywhere: the uploader's own texts (Streamlit's frontend
formatting, replayed here), the Fine-tune page's caption and the README."""
from __future__ import annotations

import tomllib
from pathlib import Path

from playground.ui.finetune import DATA, DATA_SOURCE
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import run_page

REPO = Path(__file__).resolve().parents[1]


def frontend_size(size: float, unit: str = "b", decimals: int = 1) -> str:
    """Streamlit's FileUploader size text (``getSizeDisplay`` in its frontend bundle, base 1000): a size
    moves up a unit once it passes half of the next, then is rounded to ``decimals``."""
    units = ["gb", "mb", "kb", "b"]
    i = units.index(unit)
    if i and size > 1000 / 2:
        return frontend_size(size / 1000, units[i - 1], decimals)
    return f"{size:.{decimals}f}".rstrip() + unit.upper()


def test_the_frontend_replay_reproduces_what_a_walk_of_the_app_saw() -> None:
    half_gib = 512 * 2**20  # the old limit: "1GB per file", and a 545 MB zip "must be 0.5GB or smaller"
    assert frontend_size(half_gib, decimals=0) == "1GB" and frontend_size(half_gib) == "0.5GB"


def test_the_uploaders_limit_reads_in_mb_and_the_page_says_the_same_figure() -> None:
    limit_mib = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    limit = limit_mib * 2**20
    per_file, refusal = frontend_size(limit, decimals=0), frontend_size(limit)  # "…per file", "…or smaller"
    assert per_file.endswith("MB") and refusal.endswith("MB"), (per_file, refusal)
    mb = int(per_file.removesuffix("MB"))
    assert refusal == f"{limit / 10**6:.1f}MB" and int(float(refusal.removesuffix("MB"))) == mb

    at = run_page("finetune")
    at.segmented_control(key=widget_key(DATA, DATA_SOURCE)).set_value("upload").run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert f"up to {mb} MB" in captions, captions
    assert f"{mb} MB" in (REPO / "README.md").read_text()
