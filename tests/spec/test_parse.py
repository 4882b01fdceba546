"""Spec parsing: defaults are PyTorch's, every error names its layer and the fix."""
from __future__ import annotations

import inspect
import json
import pickle
from pathlib import Path

import pytest
from torch import nn

from playground.spec.keys import MAX_CHANNELS, MAX_SPEC_SIDE
from playground.spec.layers import LAYER_TYPES
from playground.spec.parse import MAX_LAYERS, Spec, SpecError, parse_spec, parse_spec_prefix
from tests.support.strategies import DESIGN_EXAMPLE as FULL


def one(layer: dict, input_shape: list[int] | None = None) -> dict:
    return {"input": input_shape or [3, 32, 32], "layers": [layer]}


def error_of(spec: object) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)  # type: ignore[arg-type]
    return info.value


# --- parsing and canonical form ------------------------------------------------------------------

def test_design_example_parses_with_shapes() -> None:
    spec = parse_spec(FULL)
    assert spec.input == (3, 224, 224)
    assert [layer.type for layer in spec.layers] == [layer["type"] for layer in FULL["layers"]]
    assert spec.shapes[1] == (32, 112, 112)
    assert spec.shapes[4] == (32, 56, 56)  # maxpool stride defaults to kernel_size
    assert spec.shapes[6] == (64, 28, 28)
    assert spec.shapes[8] == (256, 1, 1)
    assert spec.shapes[9] == (256,)
    assert spec.output_shape == (10,)


@pytest.mark.parametrize("type_, torch_cls, renames", [
    ("conv2d", nn.Conv2d, {}),
    ("maxpool2d", nn.MaxPool2d, {}),
    ("avgpool2d", nn.AvgPool2d, {}),
    ("batchnorm2d", nn.BatchNorm2d, {}),
    ("leaky_relu", nn.LeakyReLU, {}),
    ("gelu", nn.GELU, {}),
    ("dropout", nn.Dropout, {}),
    ("linear", nn.Linear, {}),
])
def test_defaults_are_pytorchs(type_: str, torch_cls: type, renames: dict) -> None:
    """Every optional key's default equals the PyTorch constructor's (pool stride None = kernel_size)."""
    signature = inspect.signature(torch_cls)
    cls = LAYER_TYPES[type_]
    optional = [key for key in cls._KEYS if key.default is not _required()]
    assert optional, type_
    for key in optional:
        torch_default = signature.parameters[renames.get(key.name, key.name)].default
        ours = key.default
        if isinstance(ours, tuple):
            assert ours == (torch_default, torch_default), (type_, key.name)
        else:
            assert ours == torch_default, (type_, key.name)


def _required() -> object:
    from playground.spec import keys as module

    return module._REQUIRED


def test_canonical_dict_fills_defaults_and_round_trips() -> None:
    spec = parse_spec(one({"type": "conv2d", "out_channels": 8, "kernel_size": [3, 5]}))
    assert spec.to_dict() == {"input": [3, 32, 32], "layers": [
        {"type": "conv2d", "out_channels": 8, "kernel_size": [3, 5], "stride": 1, "padding": 0, "dilation": 1,
         "groups": 1, "bias": True}]}
    full = parse_spec(FULL)
    assert parse_spec(full.to_dict()) == full
    assert parse_spec(json.loads(json.dumps(full.to_dict()))).to_dict() == full.to_dict()
    pool = parse_spec(one({"type": "maxpool2d", "kernel_size": [2, 3], "stride": None})).to_dict()["layers"][0]
    assert pool["stride"] == [2, 3]
    assert parse_spec(one({"type": "conv2d", "out_channels": 4, "kernel_size": [3, 3]})).layers[0].kernel_size == (3, 3)


def test_same_and_valid_padding() -> None:
    spec = parse_spec({"input": [1, 32, 32], "layers": [
        {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": "valid"},
        {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": "same"},
        {"type": "conv2d", "out_channels": 2, "kernel_size": 4, "padding": "same", "dilation": 3}]})
    assert spec.shapes[1:] == ((2, 30, 30), (2, 30, 30), (2, 30, 30))
    assert spec.layers[1].to_dict()["padding"] == "same"
    assert spec.layers[2].pads() == ((4, 4), (5, 5))  # 3·(4 − 1) = 9: the odd pixel goes right/bottom


def test_sources_dict_text_path_and_spec(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(FULL))
    expected = parse_spec(FULL)
    assert parse_spec(json.dumps(FULL)) == expected
    assert parse_spec(path) == expected
    assert parse_spec(str(path)) == expected
    assert parse_spec(expected) is expected


def test_optional_name_and_in_channels_are_checked() -> None:
    spec = parse_spec({"name": "tiny", "input": [3, 8, 8], "layers": [
        {"type": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3},
        {"type": "batchnorm2d", "num_features": 4}, {"type": "flatten"},
        {"type": "linear", "in_features": 144, "out_features": 2}]})
    assert spec.name == "tiny" and spec.to_dict()["name"] == "tiny"
    assert "in_channels" not in spec.to_dict()["layers"][0]  # worked out, so not stored
    err = error_of({"input": [3, 8, 8], "layers": [{"type": "linear", "in_features": 5, "out_features": 2}]})
    assert err.layer_index == 0  # linear before flatten is reported first
    err = error_of({"input": [3, 8, 8], "layers": [{"type": "conv2d", "in_channels": 4, "out_channels": 4,
                                                     "kernel_size": 3}]})
    assert (err.layer_index, err.key) == (0, "in_channels")
    assert "in_channels 4 does not match the 3 coming in" in str(err)


def test_elementwise_layers_after_flatten_and_empty_stack() -> None:
    spec = parse_spec({"input": [2, 4, 4], "layers": [
        {"type": "flatten"}, {"type": "relu"}, {"type": "dropout"}, {"type": "flatten"},
        {"type": "linear", "out_features": 3}, {"type": "tanh"}]})
    assert spec.shapes == ((2, 4, 4), (32,), (32,), (32,), (32,), (3,), (3,))
    empty = parse_spec({"input": [3, 4, 4]})
    assert empty.layers == () and empty.output_shape == (3, 4, 4)


# --- every error: the layer, what is wrong, the fix ----------------------------------------------

def test_issue_example_message_exactly() -> None:
    err = error_of({"input": [1, 6, 6], "layers": [
        {"type": "relu"}, {"type": "batchnorm2d"}, {"type": "relu"},
        {"type": "conv2d", "out_channels": 4, "kernel_size": 9}]})
    assert str(err) == ("layer 3 (conv2d): kernel 9×9 is larger than its padded 6×6 input; "
                        "use kernel_size ≤ 6 or padding ≥ 2")
    assert (err.layer_index, err.layer_type, err.key) == (3, "conv2d", "kernel_size")


@pytest.mark.parametrize("layer, input_shape, needles", [
    # unknown type / key, with the closest valid one
    ({"type": "conv", "out_channels": 4, "kernel_size": 3}, None, ['unknown layer type "conv"', '"conv2d"']),
    ({"type": "Dense", "out_features": 4}, None, ['did you mean "linear"']),
    ({"type": "zzzz"}, None, ["valid types are conv2d"]),
    ({"type": "conv2d", "out_channels": 4, "kernel": 3}, None, ['unknown key "kernel"', '"kernel_size"']),
    ({"type": "linear", "units": 4}, [4], ['"out_features"']),
    ({"type": "relu", "inplace": True}, None, ["relu takes no keys"]),
    ({"type": "conv2d", "kernel_size": 3}, None, ['missing "out_channels"', "e.g."]),
    # non-positive / non-integer sizes
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 0}, None, ["kernel_size must be ≥ 1, got 0"]),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 2.5}, None, ["kernel_size must be a positive whole"]),
    ({"type": "conv2d", "out_channels": -1, "kernel_size": 3}, None, ["out_channels must be ≥ 1"]),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": [3, 3, 3]}, None, ["[height, width]"]),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": True}, None, ["positive whole number"]),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": -1}, None, ["padding must be ≥ 0"]),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": "full"}, None, ['"same" or "valid"']),
    ({"type": "maxpool2d", "kernel_size": 2, "padding": "same"}, None, ["padding must be a whole number ≥ 0"]),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 3, "bias": "no"}, None, ["bias must be true or false"]),
    ({"type": "dropout", "p": 1.5}, None, ["p must be ≥ 0.0 and ≤ 1.0"]),
    ({"type": "gelu", "approximate": "fast"}, None, ['"none", "tanh"']),
    # groups, "same" + stride, pooling padding
    ({"type": "conv2d", "out_channels": 8, "kernel_size": 3, "groups": 3}, [4, 8, 8],
     ["groups 3 must divide both the 4 input channels and the 8 out_channels", "use one of 1, 2, 4"]),
    ({"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": "same"}, None,
     ['"same" needs stride 1', "padding 1 to keep the stride"]),
    ({"type": "maxpool2d", "kernel_size": 2, "padding": 2}, None,
     ["padding 2 is more than half the 2×2 kernel", "padding ≤ 1"]),
    ({"type": "avgpool2d", "kernel_size": [3, 5], "padding": [2, 1]}, None, ["use padding ≤ [1, 2]"]),
    # windows that do not fit (the size would collapse to 0)
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 3, "dilation": 4}, [1, 6, 6],
     ["dilation 4 spans 9×9", "padded 6×6 input", "use kernel_size ≤ 2, a smaller dilation or padding ≥ 2"]),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": [3, 9], "padding": 1}, [1, 8, 4],
     ["kernel 3×9 is larger than its padded 10×6 input", "kernel_size ≤ [10, 6] or padding ≥ [1, 3]"]),
    ({"type": "maxpool2d", "kernel_size": 3}, [1, 2, 2], ["kernel 3×3 is larger than its padded 2×2 input",
                                                          "kernel_size ≤ 2 or padding ≥ 1"]),
    ({"type": "dwsep", "out_channels": 4, "kernel_size": 4}, [1, 1, 1], ["kernel 4×4", "odd kernel_size"]),
    # bottleneck width
    ({"type": "bottleneck", "out_channels": 250}, None, ["out_channels 250 is not divisible by 4",
                                                          "use 248 or 252"]),
    ({"type": "bottleneck", "out_channels": 2}, None, ["use 4"]),
    # limits
    ({"type": "conv2d", "out_channels": MAX_CHANNELS + 1, "kernel_size": 1}, None, ["over the 65,536 limit"]),
    ({"type": "linear", "out_features": 10**6}, [4], ["over the 65,536 limit"]),
    ({"type": "conv2d", "out_channels": 1, "kernel_size": MAX_SPEC_SIDE + 1}, None, ["over the 8,192 limit"]),
    ({"type": "conv2d", "out_channels": 1, "kernel_size": 1, "padding": 4100}, [1, 8, 8],
     ["8208×8208 px, over the 8,192 px limit", "use less padding"]),
])
def test_layer_errors_name_the_layer_and_the_fix(layer: dict, input_shape: list[int] | None,
                                                 needles: list[str]) -> None:
    spec = {"input": input_shape or [3, 32, 32], "layers": [{"type": "relu"}, layer]}
    if input_shape == [4]:
        spec = {"input": [4, 1, 1], "layers": [{"type": "flatten"}, layer]}
    err = error_of(spec)
    assert err.layer_index == 1
    assert str(err).startswith(f"layer 1 ({layer['type']}): ")
    assert err.layer_type == layer["type"]
    for needle in needles:
        assert needle in str(err), (needle, str(err))
    assert "\n" not in str(err)


def test_structure_errors() -> None:
    err = error_of({"input": [3, 8, 8], "layers": [{"type": "flatten"}, {"type": "conv2d", "out_channels": 2,
                                                                          "kernel_size": 1}]})
    assert err.layer_index == 1
    assert "flatten at layer 0 made it a vector of 192; move this layer before the flatten" in str(err)
    for spatial in ({"type": "maxpool2d", "kernel_size": 2}, {"type": "batchnorm2d"}, {"type": "global_avgpool"},
                    {"type": "residual", "out_channels": 4}):
        err = error_of({"input": [3, 8, 8], "layers": [{"type": "flatten"}, spatial]})
        assert err.layer_index == 1 and "before the flatten" in str(err)
    err = error_of({"input": [3, 8, 8], "layers": [{"type": "global_avgpool"}, {"type": "linear",
                                                                                "out_features": 2}]})
    assert str(err).startswith("layer 1 (linear): needs a flat vector but gets (3, 1, 1)")
    assert '{"type": "flatten"}' in str(err)
    err = error_of({"input": [3, 8, 8], "layers": [{"kernel_size": 3}]})
    assert str(err).startswith('layer 0: has no "type"')
    err = error_of({"input": [3, 8, 8], "layers": ["relu"]})
    assert err.layer_index == 0 and 'like {"type": "relu"}' in str(err)
    err = error_of({"input": [3, 8, 8], "layers": [{"type": 3}]})
    assert err.layer_index == 0 and '"type" must be a string' in str(err)


@pytest.mark.parametrize("spec, needle", [
    ("[1, 2]", 'a spec must be a JSON object with "input" and "layers"'),
    ({"layers": []}, 'missing "input"'),
    ({"input": [3, 8], "layers": []}, '"input" must be [channels, height, width]'),
    ({"input": [3, 0, 8], "layers": []}, '"input" height must be ≥ 1, got 0'),
    ({"input": [3, 8.5, 8], "layers": []}, '"input" height must be a positive whole number, got 8.5'),
    ({"input": [3, 8, MAX_SPEC_SIDE + 1], "layers": []}, '"input" width 8,193 is over the 8,192 limit'),
    ({"input": [MAX_CHANNELS + 1, 8, 8], "layers": []}, "over the 65,536 limit"),
    ({"input": [3, 8, 8], "layers": {"type": "relu"}}, '"layers" must be a list'),
    ({"input": [3, 8, 8], "layer": []}, 'unknown top-level key "layer"; did you mean "layers"?'),
    ({"input": [3, 8, 8], "name": 5}, '"name" must be a string'),
    ({"input": [3, 8, 8], "layers": [{"type": "relu"}] * (MAX_LAYERS + 1)}, "501 layers is over the 500 layer limit"),
    ('{"input": [3, 8, 8], "layers": [}', "spec is not valid JSON"),
    ('{"input": [3, NaN, 8]}', "NaN is not allowed"),
    ("[" * 100_000, "not valid JSON"),
])
def test_whole_spec_errors(spec: object, needle: str) -> None:
    err = error_of(spec)
    assert err.layer_index is None and err.layer_type is None
    assert needle in str(err), str(err)


def test_file_errors(tmp_path: Path) -> None:
    assert "cannot read spec file" in str(error_of(tmp_path / "missing.json"))
    assert "cannot read spec file" in str(error_of(tmp_path))  # a directory
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 1_000_001)
    assert "over 1,000,000 bytes" in str(error_of(big))
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert "not UTF-8" in str(error_of(binary))
    bad = tmp_path / "bad.json"
    bad.write_text('{"input": [3, 8, 8], "layers": [')
    err = error_of(bad)
    assert "spec file" in str(err) and "bad.json" in str(err) and "line 1" in str(err)
    assert "not valid JSON" in str(error_of("no-such-file.json"))
    assert "a spec must be a dict" in str(error_of(42))


def test_spec_error_pickles_with_its_attributes() -> None:
    err = error_of(one({"type": "bottleneck", "out_channels": 6}))
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.layer_index, copy.layer_type, copy.key) == (str(err), 0, "bottleneck", "out_channels")


def test_prefix_parse_keeps_valid_layers() -> None:
    spec, err = parse_spec_prefix({"input": [3, 8, 8], "layers": [
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
        {"type": "conv2d", "out_channels": 4, "kernel_size": 9}, {"type": "relu"}]})
    assert isinstance(spec, Spec) and len(spec.layers) == 2 and spec.output_shape == (4, 6, 6)
    assert err is not None and err.layer_index == 2
    spec, err = parse_spec_prefix({"input": [3, 8], "layers": []})
    assert spec is None and err is not None and err.layer_index is None
    spec, err = parse_spec_prefix(FULL)
    assert err is None and spec == parse_spec(FULL)


def test_numpy_numbers_are_accepted_and_odd_values_explained() -> None:
    import numpy as np
    spec = parse_spec({"input": [np.int64(3), 8, 8], "layers": [
        {"type": "conv2d", "out_channels": np.int32(4), "kernel_size": np.int64(3)},
        {"type": "dropout", "p": np.float32(0.25)}]})
    assert json.loads(json.dumps(spec.to_dict()))["layers"][0]["out_channels"] == 4
    assert type(spec.layers[0].out_channels) is int and spec.layers[1].p == 0.25
    err = error_of(one({"type": "conv2d", "out_channels": 4, "kernel_size": object()}))
    assert "kernel_size must be a positive whole number or [height, width], got <object" in str(err)


def test_parse_layer_checks_one_layer_on_its_own() -> None:
    from playground.spec.parse import parse_layer

    assert parse_layer({"type": "conv2d", "out_channels": 8, "kernel_size": [3, 5]}).describe().startswith("conv2d 8")
    with pytest.raises(SpecError, match=r"^layer 7 \(conv2d\): .*kernel_size"):
        parse_layer({"type": "conv2d", "out_channels": 8, "kernel_size": "abc"}, 7)


def test_load_json_bytes_is_the_one_decoder_of_spec_files_and_uploads() -> None:
    from playground.spec.parse import MAX_SPEC_BYTES, load_json_bytes
    from playground.ui.designer.share import read_design_json

    assert load_json_bytes(b'\xef\xbb\xbf{"input": [3, 8, 8]}', "'a.json'") == {"input": [3, 8, 8]}  # BOM ok
    for data, words in ((b'{"input": [3, NaN, 8]}', "NaN is not allowed"), (b"\xff\xfe{", "not UTF-8"),
                        (b" " * (MAX_SPEC_BYTES + 1), "is over"), (b'{"input": [', "not valid JSON")):
        with pytest.raises(SpecError, match=words) as err:
            load_json_bytes(data, "'a.json'")
        assert str(err.value).startswith("'a.json' ")
        with pytest.raises(ValueError, match=words):  # the designer's upload goes through the same checks
            read_design_json(data, "a.json")
