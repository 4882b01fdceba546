"""The Designer's Compare tab: a second design beside the one being edited, its link, the hide flags,
and the Concepts lessons that link to it."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from playground import concepts as C
from playground._format import format_dims, human_bytes
from playground.design.analysis import analyze
from playground.design.compare import format_ratio
from playground.design.presets import DEFAULT_SPEC, PRESETS
from playground.spec.share import decode_share, encode_share
from playground.ui.designer.compare import OTHER_KEY, PANEL
from playground.ui.designer.session import DESIGN_KEY, TAB_KEY
from tests.support.apptest_pages import assert_clean, run_page

A, B = PRESETS["LeNet-5"], PRESETS["ResNet-18-style"]


def _compare_link(a: dict[str, Any] = A, b: dict[str, Any] = B, **flags: str) -> AppTest:
    return run_page("design", timeout=120, spec=encode_share(a), vs=encode_share(b), **flags)


def _totals(at: AppTest) -> dict[str, dict[str, str]]:
    """The Compare tab's totals table: quantity -> its row."""
    table = at.table[0].value
    assert list(table.columns) == ["quantity", "A", "B", "B / A"]
    return {row["quantity"]: dict(row) for row in table.to_dict("records")}


def _open_compare(at: AppTest) -> AppTest:
    at.session_state[TAB_KEY] = PANEL
    return at.run()


def _text(at: AppTest) -> str:
    """Everything this run drew as text: messages, tables, code, labels."""
    texts = [e.value for e in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.code]]
    texts += [f"{m.label} {m.value} {m.help}" for m in at.metric]
    texts += [d.value.to_string() for d in [*at.dataframe, *at.table]]
    return "\n".join(texts)


def test_a_compare_link_opens_the_compare_tab_with_both_designs_totals() -> None:
    at = _compare_link()
    assert_clean(at)
    assert at.session_state[TAB_KEY] == PANEL and PANEL in [t.label for t in at.tabs]
    ra, rb = analyze(A), analyze(B)
    rows = _totals(at)
    assert rows["Parameters"] == {"quantity": "Parameters", "A": f"{ra.total_params:,}", "B": f"{rb.total_params:,}",
                                  "B / A": format_ratio(rb.total_params / ra.total_params)}
    assert (rows["MACs"]["A"], rows["MACs"]["B"]) == (f"{ra.total_macs:,}", f"{rb.total_macs:,}")
    assert rows["MACs"]["B / A"] == format_ratio(rb.total_macs / ra.total_macs) == "4,355×"
    assert rows["Activations (fp32)"]["B"] == human_bytes(rb.total_activation_bytes)
    assert rows["Output shape"]["A"] == format_dims(ra.output_shape) and rows["Output shape"]["B / A"] == "differs"
    assert rows["Layers (top level)"]["A"] == str(len(A["layers"]))
    assert len(at.table) == 1 and len(at.dataframe) == 2  # totals; by stage, by layer
    assert len(at.get("image")) >= 2  # both diagrams (beside the summary's own)
    # the links carry both designs, and "Train both" hands them to the Fine-tune page
    link = next(c.value for c in at.code if "vs=" in c.value)
    query = parse_qs(urlsplit(link).query)
    assert decode_share(query["spec"][0]) == A and decode_share(query["vs"][0]) == B
    train = next(m.value for m in at.markdown if "Train both" in m.value)
    train_query = parse_qs(urlsplit(train[train.index("(/finetune") + 1:-1]).query)
    assert decode_share(train_query["design"][0]) == A and decode_share(train_query["design_b"][0]) == B
    assert at.query_params["vs"] == encode_share(B)


def test_swap_edits_b_compared_with_a_and_undo_brings_a_back() -> None:
    at = _compare_link()
    at.button(key="dz.cmp.swap").click().run()
    assert_clean(at)
    assert at.session_state[DESIGN_KEY].spec() == B and at.session_state[OTHER_KEY].spec == A
    assert decode_share(at.query_params["spec"]) == B and decode_share(at.query_params["vs"]) == A
    rows = _totals(at)
    assert (rows["Parameters"]["A"], rows["Parameters"]["B"]) == (f"{analyze(B).total_params:,}",
                                                                  f"{analyze(A).total_params:,}")
    locked = _compare_link(lock="1")
    assert "dz.cmp.swap" not in [b.key for b in locked.button]


def test_the_compare_tab_does_nothing_until_a_second_design_is_chosen_then_a_preset() -> None:
    at = run_page("design", timeout=120)
    assert_clean(at)
    at = _open_compare(at)
    assert_clean(at)
    assert not at.table and "vs" not in at.query_params
    at.selectbox(key="dz.cmp.preset").set_value("VGG-16").run()
    assert_clean(at)
    ra, rb = analyze(DEFAULT_SPEC), analyze(PRESETS["VGG-16"])
    rows = _totals(at)
    assert (rows["Parameters"]["A"], rows["Parameters"]["B"]) == (f"{ra.total_params:,}", f"{rb.total_params:,}")
    assert rows["Parameters"]["B / A"] == format_ratio(rb.total_params / ra.total_params)
    assert decode_share(at.query_params["vs"]) == PRESETS["VGG-16"]  # the address bar carries B
    assert any("**B**: the VGG" in m.value and "preset" in m.value for m in at.markdown)  # md_text escapes "-"
    at.session_state[DESIGN_KEY].clear()  # an edit of A: ?spec= follows it and ?vs= stays
    at.run()
    assert decode_share(at.query_params["spec"])["layers"] == []
    assert decode_share(at.query_params["vs"]) == PRESETS["VGG-16"]
    assert _totals(at)["Parameters"]["A"] == "0"
    at.button(key="dz.cmp.stop").click().run()
    assert_clean(at)
    assert "vs" not in at.query_params and not at.table


def test_a_bad_pasted_link_gives_one_clear_message_and_leaves_the_comparison() -> None:
    at = _open_compare(_compare_link())
    at.radio(key="dz.cmp.source").set_value("A link or JSON").run()
    at.text_area(key="dz.cmp.paste").input("https://class.example/design?spec=eNrNjsEKglAQRf9l").run()
    at.button(key="dz.cmp.go").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "damaged or incomplete" in at.error[0].value
    assert "The comparison is unchanged" in at.error[0].value
    assert at.session_state[OTHER_KEY].spec == B and _totals(at)["Parameters"]["B"] == f"{analyze(B).total_params:,}"
    # a good one replaces B
    at.text_area(key="dz.cmp.paste").input(f"design?spec={encode_share(PRESETS['VGG-16'])}").run()
    at.button(key="dz.cmp.go").click().run()
    assert_clean(at)
    assert _totals(at)["Parameters"]["B"] == f"{analyze(PRESETS['VGG-16']).total_params:,}"


def test_an_imported_torchvision_architecture_as_the_second_design() -> None:
    from playground.arch.landmarks import designer_spec

    at = _open_compare(run_page("design", timeout=120))
    at.radio(key="dz.cmp.source").set_value("A torchvision architecture").run()
    at.selectbox(key="dz.cmp.arch").set_value("resnet18").run()
    assert_clean(at)
    spec = designer_spec("resnet18")
    assert spec is not None
    rows = _totals(at)
    assert rows["Parameters"]["B"] == f"{analyze(spec).total_params:,}" == "11,689,512"  # torchvision's count
    assert decode_share(at.query_params["vs"])["layers"] == spec["layers"]


def test_a_second_design_with_a_broken_layer_is_compared_over_its_valid_part() -> None:
    first = {"type": "conv2d", "out_channels": 8, "kernel_size": 3}
    broken = {"input": [3, 32, 32], "layers": [first, {"type": "conv2d", "out_channels": 8, "kernel_size": 99}]}
    at = _open_compare(_compare_link(DEFAULT_SPEC, broken))
    assert not at.exception
    assert any("Design B needs a fix" in w.value and "layer 1" in w.value for w in at.warning)
    assert _totals(at)["Parameters"]["B"] == f"{analyze({'input': [3, 32, 32], 'layers': [first]}).total_params:,}"
    assert not [m for m in at.markdown if "Train both" in m.value]  # only valid designs can be trained


def test_a_bad_vs_link_is_reported_and_the_design_still_opens() -> None:
    at = run_page("design", timeout=120, spec=encode_share(A), vs="eNrNjsEKglAQRf9l")
    assert not at.exception
    assert len(at.error) == 1 and "second design" in at.error[0].value
    assert at.session_state[DESIGN_KEY].spec() == A and OTHER_KEY not in at.session_state
    assert at.query_params["vs"] == "eNrNjsEKglAQRf9l"  # kept, to send to whoever made it
    at = _open_compare(at)
    at.selectbox(key="dz.cmp.preset").set_value("LeNet-5").run()
    assert_clean(at)  # reported once, and a chosen B takes the link's place
    assert decode_share(at.query_params["vs"]) == PRESETS["LeNet-5"]


def test_before_the_edits_compares_with_the_design_as_it_was() -> None:
    at = _open_compare(run_page("design", timeout=120, spec=encode_share(PRESETS["VGG-16"])))
    at.radio(key="dz.cmp.source").set_value("This design before the edits").run()
    assert any("No edits" in i.value for i in at.info)
    at.session_state[DESIGN_KEY].clear()  # an edit: every layer gone
    at.run()
    at.button(key="dz.cmp.oldest").click().run()
    assert_clean(at)
    assert at.session_state[OTHER_KEY].spec == PRESETS["VGG-16"]
    rows = _totals(at)
    assert (rows["Parameters"]["A"], rows["Parameters"]["B"]) == ("0", f"{analyze(PRESETS['VGG-16']).total_params:,}")
    assert rows["Parameters"]["B / A"] == "–"  # no finite ratio against zero parameters


def _shapes_of(*specs: dict[str, Any]) -> list[str]:
    return [format_dims(x.output_shape) for s in specs for x in analyze(s).layers if len(x.output_shape) == 3]


@pytest.mark.parametrize("hidden", ["shapes", "totals", "table"])
def test_hide_flags_hide_the_quantity_for_both_designs(hidden: str) -> None:
    a, b = DEFAULT_SPEC, PRESETS["VGG-16"]
    ra, rb = analyze(a), analyze(b)
    if hidden == "shapes":
        giveaways = _shapes_of(a, b) + [f"{r.total_macs:,}" for r in (ra, rb)]
    elif hidden == "totals":
        giveaways = [f"{r.total_params:,}" for r in (ra, rb)] + [f"{r.total_macs:,}" for r in (ra, rb)]
    else:  # per-layer counts large enough to be unmistakable
        giveaways = [f"{x.params:,}" for r in (ra, rb) for x in r.layers if x.params >= 1000]
    shown = _text(_compare_link(a, b))
    assert [g for g in giveaways if g in shown] == giveaways, "the check must see them when they are shown"
    at = _compare_link(a, b, hide=hidden)
    assert_clean(at)
    assert at.session_state[TAB_KEY] == PANEL
    shown = _text(at)
    assert [g for g in giveaways if g in shown] == []
    rows = _totals(at)
    if hidden == "shapes":
        assert "Output shape" not in rows and "MACs" not in rows and "Parameters" in rows
        assert all("shape A" not in d.value.columns for d in at.dataframe)
    elif hidden == "totals":
        assert "Parameters" not in rows and "MACs" not in rows and "Output shape" in rows
    else:
        assert not at.dataframe and "Receptive field (last)" not in rows and "Parameters" in rows
    assert "hide=" + hidden in next(c.value for c in at.code if "vs=" in c.value)  # the link keeps the flag


def test_nothing_left_to_compare_takes_the_tab_and_says_why() -> None:
    at = _compare_link(hide="totals,table,shapes")
    assert_clean(at)
    assert PANEL not in [t.label for t in at.tabs]
    assert any("**Compare** is hidden too" in c.value for c in at.caption)


CONCEPTS_PAIRS = {  # lesson tab -> the two designs its comparison link must carry
    "padding": lambda: (C.padding_comparison(32, 3)["valid"].spec, C.padding_comparison(32, 3)["same"].spec),
    "dwsep": lambda: (C.dwsep_comparison(128, 128, 3, size=56)["regular"].spec,
                      C.dwsep_comparison(128, 128, 3, size=56)["separable"].spec),
    "skip": lambda: C.skip_specs(blocks=15),
}


def test_the_concepts_lessons_link_to_the_comparison_of_their_two_designs() -> None:
    from playground.ui.concepts import LESSON_TABS
    from playground.ui.concepts import TAB_KEY as LESSON_TAB

    _conv, padding, _field, _effective, dwsep, skip, _hierarchy = LESSON_TABS
    at = run_page("concepts", timeout=120)
    for tab, name, count in ((padding, "padding", 2), (dwsep, "dwsep", 1), (skip, "skip", 1)):
        at.session_state[LESSON_TAB] = tab
        at = at.run()
        assert_clean(at)
        links = [m.value for m in at.markdown if "vs=" in m.value]
        assert len(links) == count, (tab, links)
        url = links[0][links[0].index("(design?") + 1:-1]
        query = parse_qs(urlsplit(url).query)
        expected = CONCEPTS_PAIRS[name]()
        assert (decode_share(query["spec"][0]), decode_share(query["vs"][0])) == tuple(expected), tab
        if name == "padding":  # the second: stride-2 conv against max-pool
            url = links[1][links[1].index("(design?") + 1:-1]
            query = parse_qs(urlsplit(url).query)
            conv, pool = (decode_share(query[k][0]) for k in ("spec", "vs"))
            assert [x["type"] for x in conv["layers"]] == ["conv2d"] and conv["layers"][0]["stride"] == 2
            assert [x["type"] for x in pool["layers"]] == ["maxpool2d"]
    # and the link opens the designer comparing exactly those two
    opened = _compare_link(*CONCEPTS_PAIRS["skip"]())
    assert_clean(opened)
    plain, residual = (analyze(s) for s in CONCEPTS_PAIRS["skip"]())
    assert _totals(opened)["Parameters"]["B / A"] == format_ratio(residual.total_params / plain.total_params)
