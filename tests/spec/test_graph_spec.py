"""Graph designs in the spec: branches (add / concat / mul, split, nesting), the new layer types with
PyTorch's keys and defaults, named blocks, the messages that name the branch, the path and both shapes,
hints for other names, the limits, and old specs that mean and print exactly what they did."""
from __future__ import annotations

import inspect
import json
import pickle

import pytest
from torch import nn

from playground.spec.error import SpecError
from playground.spec.layers import LAYER_TYPES
from playground.spec.parse import MAX_DEPTH, MAX_TOTAL_LAYERS, parse_layer, parse_spec
from playground.spec.share import decode_share, encode_share
from tests.support.strategies import DESIGN_EXAMPLE, GRAPH_EXAMPLE


def conv(out: int, k: int = 3, **kw: object) -> dict:
    return {"type": "conv2d", "out_channels": out, "kernel_size": k, **kw}


def error_of(layers: list, input_shape: list[int] | None = None) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec({"input": input_shape or [8, 16, 16], "layers": layers})
    return info.value


def branch(merge: str, *paths: list, **kw: object) -> dict:
    return {"type": "branch", "merge": merge, "paths": list(paths), **kw}


def test_merges_give_pytorchs_shapes() -> None:
    spec = parse_spec({"input": [8, 16, 16], "layers": [
        branch("add", [conv(8, padding=1)], []),
        branch("concat", [conv(4, 1)], [conv(6, 3, padding=1)], []),  # 4 + 6 + 8 channels
        branch("mul", [], [{"type": "global_avgpool"}, conv(18, 1), {"type": "sigmoid"}]),  # a gate
        branch("concat", [], [conv(9, 1)], split=True),  # 9 + 9 channels in, 9 + 9 out
        {"type": "channel_shuffle", "groups": 2}]})
    assert spec.shapes[1:] == ((8, 16, 16), (18, 16, 16), (18, 16, 16), (18, 16, 16), (18, 16, 16))
    assert spec.layers[0].describe() == "branch add (1 layer | identity)"
    assert spec.layers[3].describe() == "branch concat (split, identity | 1 layer)"


def test_mismatches_name_the_branch_the_path_both_shapes_and_a_fix() -> None:
    err = error_of([conv(8, padding=1), conv(8, padding=1), conv(8, padding=1), conv(8, padding=1),
                    branch("add", [conv(16, 1)], [])])
    assert str(err) == ('layer 4 (branch): add needs the same shape on every path, but path 1 gives 8×16×16 and '
                        'path 0 gives 16×16×16; end path 1 with a 1×1 conv2d to 16 channels (as a ResNet shortcut '
                        'does), or use merge "concat" to keep both')
    assert (err.layer_index, err.layer_type, err.key) == (4, "branch", "paths")
    err = error_of([branch("concat", [conv(4, 3, stride=2, padding=1)], [])])
    assert "concat needs the same height and width" in str(err) and "path 1 gives 8×16×16 and path 0 gives 4×8×8" \
        in str(err) and "stride" in str(err)
    err = error_of([branch("mul", [], [{"type": "global_avgpool"}, conv(4, 1)])])
    assert "a C×1×1 gate" in str(err) and "path 1 gives 4×1×1" in str(err) and "end with 8 channels" in str(err)


def test_errors_inside_paths_name_every_level() -> None:
    err = error_of([{"type": "relu"}, branch("add", [], [branch("concat", [conv(3, 3, groups=2)])])])
    assert str(err).startswith("layer 1 (branch), path 1, layer 0 (branch), path 0, layer 0 (conv2d): groups 2 "
                               "must divide")
    assert err.where == "1.1.0.0.0" and err.layer_index == 1 and err.inner == ((1, 0, "branch"), (0, 0, "conv2d"))
    assert pickle.loads(pickle.dumps(err)).where == err.where  # worker processes keep the location
    assert "path 0, layer 0 (flatten): cannot go inside a branch path" in str(
        error_of([branch("add", [{"type": "flatten"}])]))
    assert "needs at least one path" in str(error_of([{"type": "branch", "merge": "add"}]))
    assert "at least one path" in str(error_of([branch("add")]))
    assert 'merge must be one of "add", "concat", "mul"' in str(error_of([branch("sum", [])]))
    assert "split shares the 8 channels equally among 3 paths" in str(error_of([branch("add", [], [], [],
                                                                                       split=True)]))


@pytest.mark.parametrize("typo, suggestion", [
    ("layernorm", "layernorm2d"), ("LayerNorm", "layernorm2d"), ("group_norm", "groupnorm"),
    ("deconv", "conv_transpose2d"), ("hard_swish", "hardswish"), ("stochastic_depth", "drop_path"),
    ("squeeze_excitation", "se"), ("InvertedResidual", "inverted_residual"), ("inverted_residul", "inverted_residual"),
    ("FusedMBConv", "fused_mbconv"), ("CNBlock", "convnext_block"), ("concat", "branch"), ("adaptiveavgpool2d",
                                                                                           "adaptive_avgpool2d")])
def test_unknown_types_suggest_the_new_names(typo: str, suggestion: str) -> None:
    assert f'did you mean "{suggestion}"?' in str(error_of([{"type": typo}]))


def test_named_blocks_and_new_types_are_types() -> None:
    for name in ("inverted_residual", "mbconv", "fused_mbconv", "se", "inception", "convnext_block", "dense_layer",
                 "branch", "layernorm2d", "groupnorm", "conv_transpose2d", "upsample", "adaptive_avgpool2d",
                 "hardswish", "hardsigmoid", "identity", "layer_scale", "drop_path", "channel_shuffle"):
        assert name in LAYER_TYPES
    assert list(LAYER_TYPES)[:18] == [  # the original types keep their place (the editor lists them first)
        "conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid",
        "tanh", "dwsep", "residual", "bottleneck", "global_avgpool", "flatten", "dropout", "linear"]
    assert parse_layer({"type": "mbconv", "out_channels": 24, "stride": 2}).describe() == "mbconv 24, 6×, 3×3 /2, SE"
    assert parse_layer({"type": "bottleneck", "out_channels": 256, "groups": 32, "width_per_group": 4}).describe() \
        == "bottleneck 256 32×4d"


@pytest.mark.parametrize("type_, torch_cls, renames", [
    ("layernorm2d", nn.LayerNorm, {}), ("groupnorm", nn.GroupNorm, {}), ("conv_transpose2d", nn.ConvTranspose2d, {}),
    ("upsample", nn.Upsample, {}), ("channel_shuffle", nn.ChannelShuffle, {}),
    ("adaptive_avgpool2d", nn.AdaptiveAvgPool2d, {})])
def test_new_types_take_pytorchs_keys_and_defaults(type_: str, torch_cls: type, renames: dict) -> None:
    signature = inspect.signature(torch_cls)
    for key in LAYER_TYPES[type_]._KEYS:
        parameter = signature.parameters[renames.get(key.name, key.name)]
        if parameter.default is inspect.Parameter.empty:
            continue
        ours = key.default
        assert ours == parameter.default or ours == (parameter.default, parameter.default), (type_, key.name)


def test_new_types_shapes_and_rules() -> None:
    spec = parse_spec({"input": [4, 7, 5], "layers": [
        {"type": "conv_transpose2d", "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1,
         "output_padding": 1},  # (7 − 1)·2 − 2 + 2 + 1 + 1 = 14
        {"type": "upsample", "scale_factor": 1.5}, {"type": "upsample", "size": [5, 9], "mode": "bilinear"},
        {"type": "adaptive_avgpool2d", "output_size": [2, 3]}, {"type": "groupnorm", "num_groups": 3},
        {"type": "layernorm2d"}, {"type": "layer_scale"}, {"type": "drop_path"}, {"type": "hardswish"},
        {"type": "identity"}]})
    assert spec.shapes[1:5] == ((6, 14, 10), (6, 21, 15), (6, 5, 9), (6, 2, 3))
    assert "output_padding 2 must be smaller than the stride or the dilation" in str(error_of(
        [{"type": "conv_transpose2d", "out_channels": 1, "kernel_size": 3, "stride": 2, "output_padding": 2}]))
    assert 'either "scale_factor"' in str(error_of([{"type": "upsample"}]))
    assert "align_corners only applies" in str(error_of([{"type": "upsample", "scale_factor": 2,
                                                          "align_corners": True}]))
    assert "num_groups 3 must divide the 8 channels" in str(error_of([{"type": "groupnorm", "num_groups": 3}]))


def test_limits_on_depth_and_total_layers() -> None:
    nested: dict = {"type": "relu"}
    for _ in range(MAX_DEPTH + 1):
        nested = branch("add", [nested])
    assert f"branches nest more than {MAX_DEPTH} deep" in str(error_of([nested]))
    wide = [branch("add", [{"type": "relu"}] * 1000, [])] * (MAX_TOTAL_LAYERS // 1000 + 1)
    assert f"over {MAX_TOTAL_LAYERS:,} layers counting those inside branches" in str(error_of(wide))


def test_graph_specs_round_trip_and_old_specs_mean_what_they_did() -> None:
    canonical = parse_spec(GRAPH_EXAMPLE).to_dict()
    assert parse_spec(canonical).to_dict() == canonical
    assert parse_spec(decode_share(encode_share(GRAPH_EXAMPLE))).to_dict() == canonical
    old = parse_spec(DESIGN_EXAMPLE).to_dict()
    bottleneck = next(layer for layer in old["layers"] if layer["type"] == "bottleneck")
    # the new keys come in at torchvision's ResNet values: the same block as before
    assert bottleneck == {"type": "bottleneck", "out_channels": 256, "stride": 1, "groups": 1, "width_per_group": 64}
    assert parse_spec(decode_share(encode_share(DESIGN_EXAMPLE))).shapes == parse_spec(DESIGN_EXAMPLE).shapes
    assert json.loads(json.dumps(old)) == old
