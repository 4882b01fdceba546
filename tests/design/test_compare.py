"""Two designs compared: every figure is the one ``analyze()`` gives for each design on its own."""
from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from playground import analyze
from playground._format import format_dims, format_pair, human_bytes
from playground.design.compare import (
    HEAD,
    compare,
    compare_url,
    format_delta,
    format_ratio,
    ratio,
    read_design_text,
    stages_of,
)
from playground.design.presets import PRESETS
from playground.spec.parse import SpecError
from playground.spec.share import MAX_SHARE_TOKEN, decode_share, encode_share

CONV = {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}
# A graph design: a residual branch, a squeeze-excitation gate inside it, a named block and a concat.
GRAPH: dict[str, Any] = {"input": [3, 32, 32], "layers": [
    {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"type": "branch", "merge": "add", "paths": [
        [CONV, {"type": "branch", "merge": "mul", "paths": [[], [{"type": "global_avgpool"},
                                                                  {"type": "conv2d", "out_channels": 16,
                                                                   "kernel_size": 1},
                                                                  {"type": "sigmoid"}]]}],
        []]},
    {"type": "mbconv", "out_channels": 24, "stride": 2},
    {"type": "branch", "merge": "concat", "paths": [[], [{"type": "conv2d", "out_channels": 8, "kernel_size": 3,
                                                          "padding": 1}]]},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
PLAIN: dict[str, Any] = {"input": [3, 32, 32], "layers": [
    {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
    CONV, {"type": "relu"}, {"type": "conv2d", "out_channels": 24, "kernel_size": 3, "stride": 2, "padding": 1},
    {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def _last_field(spec: dict[str, Any]) -> Any:
    fields = [x.receptive_field for x in analyze(spec).layers if x.receptive_field is not None]
    return fields[-1] if fields else None


PAIRS = [("LeNet-5", "VGG-16"), ("VGG-16", "ResNet-18-style"), ("ResNet-18-style", "MobileNet-V1-style"),
         ("AlexNet-like", "AlexNet-like")]


@pytest.mark.parametrize(("name_a", "name_b"), PAIRS)
def test_totals_are_each_designs_own_and_their_ratios(name_a: str, name_b: str) -> None:
    a, b = PRESETS[name_a], PRESETS[name_b]
    ra, rb = analyze(a), analyze(b)
    cmp = compare(ra, rb)
    for totals, r, spec in ((cmp.totals_a, ra, a), (cmp.totals_b, rb, b)):
        assert totals.params == r.total_params and totals.macs == r.total_macs
        assert totals.activation_bytes == sum(4 * x.output_shape[0] * (x.output_shape[1] * x.output_shape[2]
                                                                       if len(x.output_shape) == 3 else 1)
                                              for x in r.layers)
        assert totals.output_shape == r.layers[-1].output_shape and totals.layers == len(spec["layers"])
        assert totals.receptive_field == _last_field(spec)
    rows = {row["quantity"]: row for row in cmp.totals_rows()}
    assert rows["Parameters"] == {"quantity": "Parameters", "A": f"{ra.total_params:,}", "B": f"{rb.total_params:,}",
                                  "B / A": format_ratio(rb.total_params / ra.total_params)}
    assert rows["MACs"]["B / A"] == format_ratio(rb.total_macs / ra.total_macs)
    assert rows["Activations (fp32)"]["A"] == human_bytes(ra.total_activation_bytes)
    assert rows["Activations (fp32)"]["B / A"] == format_ratio(rb.total_activation_bytes / ra.total_activation_bytes)
    assert rows["Output shape"]["A"] == format_dims(ra.output_shape)
    assert rows["Output shape"]["B / A"] == ("same" if ra.output_shape == rb.output_shape else "differs")
    fa, fb = _last_field(a), _last_field(b)
    assert rows["Receptive field (last)"]["A"] == format_pair(fa)
    assert rows["Receptive field (last)"]["B / A"] == format_ratio(fb[0] / fa[0])  # square fields: one figure
    assert rows["Layers (top level)"]["B / A"] == format_ratio(len(b["layers"]) / len(a["layers"]))
    if name_a == name_b:
        assert {row["B / A"] for row in rows.values()} == {"1.00×", "same"}


def test_ratios_handle_zero_and_are_written_without_raw_floats() -> None:
    assert ratio(0, 0) == 1.0 and ratio(0, 5) is None and ratio(4, 2) == 0.5
    assert format_ratio(None) == "–" and format_ratio(0.0) == "0.00×"
    assert [format_ratio(v) for v in (2.3149, 0.05, 12.345, 1234.4, 0.0012345)] == [
        "2.31×", "0.05×", "12.3×", "1,234×", "0.0012×"]
    assert format_delta(10, 1034) == "+1,024" and format_delta(5, 5) == "0" and format_delta(None, 3) == "–"
    assert format_delta(2_000_000, 1_000_000, as_bytes=True) == "−" + human_bytes(1_000_000)
    # A design without parameters against one with: no finite ratio, said as "–", never "inf"
    pool = {"input": [3, 8, 8], "layers": [{"type": "maxpool2d", "kernel_size": 2}]}
    rows = {r["quantity"]: r for r in compare(analyze(pool), analyze(PLAIN)).totals_rows()}
    assert rows["Parameters"]["B / A"] == "–" and rows["MACs"]["B / A"] == "–"


@pytest.mark.parametrize(("name_a", "name_b"), PAIRS)
def test_stages_sum_to_the_totals_and_pair_by_map_size(name_a: str, name_b: str) -> None:
    ra, rb = analyze(PRESETS[name_a]), analyze(PRESETS[name_b])
    cmp = compare(ra, rb)
    for stages, r in ((cmp.stages_a, ra), (cmp.stages_b, rb)):
        assert sum(s.params for s in stages) == r.total_params and sum(s.macs for s in stages) == r.total_macs
        assert sum(s.activation_bytes for s in stages) == r.total_activation_bytes
        covered = [i for s in stages for i in range(s.first, s.last + 1)]
        assert covered == list(range(len(r.layers)))  # every layer in exactly one stage, in order
        for s in stages:
            rows = r.layers[s.first:s.last + 1]
            assert s.params == sum(x.params for x in rows) and s.output_shape == rows[-1].output_shape
            sizes = {format_dims(x.output_shape[1:]) if len(x.output_shape) == 3 else HEAD for x in rows}
            assert sizes == {s.label}
    for i, j in cmp.stage_pairs.pairs:
        if i is not None and j is not None:
            assert cmp.stages_a[i].label == cmp.stages_b[j].label
    # each side's stages appear once, in order
    assert [i for i, _ in cmp.stage_pairs.pairs if i is not None] == list(range(len(cmp.stages_a)))
    assert [j for _, j in cmp.stage_pairs.pairs if j is not None] == list(range(len(cmp.stages_b)))


def test_stage_rows_show_deltas_of_each_stage() -> None:
    a, b = PRESETS["VGG-16"], PRESETS["ResNet-18-style"]
    ra, rb = analyze(a), analyze(b)
    cmp = compare(ra, rb)
    rows = {row["stage"]: row for row in cmp.stage_rows()}
    sa = next(s for s in stages_of(ra) if s.label == "56×56")
    sb = next(s for s in stages_of(rb) if s.label == "56×56")
    row = rows["56×56"]
    assert (row["params A"], row["params B"]) == (f"{sa.params:,}", f"{sb.params:,}")
    assert row["Δ params"] == format_delta(sa.params, sb.params) and row["Δ MACs"] == format_delta(sa.macs, sb.macs)
    assert row["shape B"] == format_dims(sb.output_shape) and row["field B"] == format_pair(sb.receptive_field)
    assert rows["224×224"]["layers B"] == "–" and rows["224×224"]["params B"] == "–"  # ResNet starts at /2
    assert "shape A" not in cmp.stage_rows(shapes=False)[0] and "MACs A" not in cmp.stage_rows(shapes=False)[0]


def test_a_graph_design_against_a_plain_one_aligns_by_position_with_branch_totals() -> None:
    ra, rb = analyze(PLAIN), analyze(GRAPH)
    assert len(ra.layers) != len(rb.layers)
    cmp = compare(rb, rb)
    assert cmp.layer_pairs.how == "position" and cmp.layer_pairs.matched == len(GRAPH["layers"])
    cmp = compare(ra, rb)
    assert cmp.layer_pairs.how == "prefix and suffix"
    # conv2d first, then (global_avgpool, flatten, linear) at the end agree; the middle is shown alone
    assert cmp.layer_pairs.matched == 4
    rows = cmp.layer_rows()
    assert len(rows) == len(cmp.layer_pairs.pairs) == 4 + (len(ra.layers) - 4) + (len(rb.layers) - 4)
    by_b = {row["# B"]: row for row in rows if row["# B"] != "–"}
    branch = rb.layers[1]  # the residual branch: one row with its paths' totals
    assert branch.type == "branch" and branch.params == sum(x.params for p in branch.children for x in p) > 0
    assert by_b["1"]["params B"] == f"{branch.params:,}" and by_b["1"]["MACs B"] == f"{branch.macs:,}"
    assert by_b["1"]["field B"] == format_pair(branch.receptive_field) and by_b["1"]["# A"] == "–"
    assert by_b["2"]["layer B"] == rb.layers[2].description  # the named block, one row
    last = by_b[str(len(rb.layers) - 1)]
    assert last["# A"] == str(len(ra.layers) - 1) and last["Δ params"] == format_delta(
        ra.layers[-1].params, rb.layers[-1].params)
    assert cmp.totals_b.params == rb.total_params and cmp.totals_b.layers == len(GRAPH["layers"])
    assert sum(s.params for s in cmp.stages_b) == rb.total_params


def test_designs_with_no_common_ends_show_every_layer_alone() -> None:
    a = {"input": [3, 16, 16], "layers": [{"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}]}
    b = {"input": [3, 16, 16], "layers": [CONV]}
    cmp = compare(analyze(a), analyze(b))
    assert cmp.layer_pairs.matched == 0 and cmp.layer_pairs.pairs == ((0, None), (1, None), (None, 0))


@pytest.mark.parametrize(("name_a", "name_b"), itertools.combinations(sorted(PRESETS), 2))
def test_every_layer_appears_once_on_its_side(name_a: str, name_b: str) -> None:
    ra, rb = analyze(PRESETS[name_a]), analyze(PRESETS[name_b])
    pairs = compare(ra, rb).layer_pairs.pairs
    assert [i for i, _ in pairs if i is not None] == list(range(len(ra.layers)))
    assert [j for _, j in pairs if j is not None] == list(range(len(rb.layers)))
    for i, j in pairs:
        if i is not None and j is not None:
            assert ra.layers[i].type == rb.layers[j].type or len(ra.layers) == len(rb.layers)


def test_the_compare_url_carries_both_designs() -> None:
    url = compare_url(PLAIN, GRAPH)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("design?") and decode_share(query["spec"][0]) == PLAIN
    assert decode_share(query["vs"][0]) == GRAPH


def test_pasted_text_is_a_link_a_token_or_json_and_bad_text_says_why() -> None:
    token = encode_share(GRAPH)
    assert read_design_text(f"https://class.example/design?spec={token}&hide=totals") == GRAPH
    assert read_design_text(f"  design?spec={token}&vs={encode_share(PLAIN)}\n") == GRAPH  # A of a compare link
    assert read_design_text(token) == GRAPH
    assert read_design_text('{"input": [3, 8, 8], "layers": []}') == {"input": [3, 8, 8], "layers": []}
    bad = {
        "": "nothing was pasted",
        "https://class.example/design?hide=totals": "holds no design",
        "not a token!": "damaged or incomplete",
        token[:-12]: "damaged or incomplete",
        "{not json": "JSON",
        '{"layers": []}': "not a design",
        "x" * (MAX_SHARE_TOKEN + 1): "over",
        encode_share({"input": [3, 8, 8], "layers": "conv"}): "does not hold a design",
    }
    for text, words in bad.items():
        with pytest.raises(SpecError, match=words):
            read_design_text(text)
