"""How long the designer takes to rerun after an edit on a 30-layer design.

Prints, as medians over repeated edits (a kernel size toggled in the chosen layer's editor):
- compute: the page's compute function alone (parse, analysis, advice, share token);
- app time: the whole designer script, as Streamlit runs it (measured inside the run);
- AppTest wall: the same rerun plus the test harness's own overhead;
and the ratio of the designer's app time to an empty page's app time measured the same way.

    python bench/bench_designer.py [--edits 30]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

from streamlit.testing.v1 import AppTest  # noqa: E402

from playground.design.view import compute  # noqa: E402
from playground.ui.designer.session import SELECTED_KEY, wkey  # noqa: E402

# The page is run through a wrapper that times it inside the Streamlit run ("app time").
WRAPPER = '''
import runpy, time
import streamlit as st
t0 = time.perf_counter()
runpy.run_path({page!r}, run_name="__main__")
st.session_state["bench.app_s"] = time.perf_counter() - t0
'''
EMPTY_PAGE = 'import streamlit as st\nst.title("Empty")\n'


def thirty_layers() -> dict:
    """conv-BN-ReLU x 10 on 3x64x64 (a pool every third unit): 30 layers."""
    layers = []
    for i in range(10):
        layers += [{"type": "conv2d", "out_channels": 32 * (1 + i // 4), "kernel_size": 3, "padding": 1,
                    "stride": 2 if i in (3, 6) else 1, "bias": False},
                   {"type": "batchnorm2d"}, {"type": "relu"}]
    return {"input": [3, 64, 64], "layers": layers}


def _median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=30)
    args = parser.parse_args()
    spec = thirty_layers()
    from playground.spec.share import encode_share

    compute(spec)  # warm imports
    t_compute = []
    for _ in range(args.edits * 10):
        t0 = time.perf_counter()
        compute(spec)
        t_compute.append(time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "designer_timed.py"
        page.write_text(WRAPPER.format(page=str(REPO / "app_pages" / "design.py")))
        empty = Path(tmp) / "empty.py"
        empty.write_text(EMPTY_PAGE)
        empty_timed = Path(tmp) / "empty_timed.py"
        empty_timed.write_text(WRAPPER.format(page=str(empty)))

        at = AppTest.from_file(str(page), default_timeout=60)
        at.query_params["spec"] = encode_share(spec)
        at.run()
        design = at.session_state["dz.design"]
        layer_id = design.ids[15]
        at.session_state[SELECTED_KEY] = layer_id  # one layer chosen, as while editing it
        at.run()
        app, wall = [], []
        for i in range(args.edits):
            t0 = time.perf_counter()
            at.text_input(key=wkey(layer_id, "kernel_size")).set_value("5" if i % 2 == 0 else "3").run()
            wall.append(time.perf_counter() - t0)
            app.append(at.session_state["bench.app_s"])
            assert not at.exception, at.exception
        n_layers = len(at.session_state["dz.design"].layers)

        base = AppTest.from_file(str(empty_timed), default_timeout=60)
        base.run()
        base_app = []
        for _ in range(args.edits):
            base.run()
            base_app.append(base.session_state["bench.app_s"])

    print(f"designer, {n_layers}-layer design, edit in an open row ({args.edits} edits, medians):")
    print(f"  compute (analysis + advice + share token): {_median_ms(t_compute):7.2f} ms")
    print(f"  app time (whole page script):              {_median_ms(app):7.2f} ms")
    print(f"  AppTest wall (incl. harness):              {_median_ms(wall):7.2f} ms")
    print(f"  empty page app time (baseline):            {_median_ms(base_app):7.2f} ms")
    print(f"  ratio designer / empty page:               {statistics.median(app) / statistics.median(base_app):7.1f}x")
    print(f"  share of the 100 ms budget:                {_median_ms(app) / 100:7.0%}")


if __name__ == "__main__":
    main()
