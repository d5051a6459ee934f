#!/usr/bin/env python3
"""Writes the built-in sweep specs (schema/quick.json, default.json, full.json).

The shapes come from real networks at batch 1 (ResNet-50, MobileNetV2, MobileNetV3-Large,
EfficientNet-B0, VGG-16 convolutions; BERT-base and ViT-B/16 matmuls), plus a grid around them so the
selector has neighbours to interpolate from. Re-run after editing: python3 scripts/gen_specs.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "schema")


def conv(ic, ih, oc, k, s, g=1, d=1, mb=1):
    p = (k - 1) * d // 2
    key = f"conv2d:mb{mb}ic{ic}ih{ih}iw{ih}oc{oc}kh{k}kw{k}sh{s}sw{s}ph{p}pw{p}"
    if d != 1:
        key += f"dh{d}dw{d}"
    return key + f"g{g}"


def resnet50():
    out = [conv(3, 224, 64, 7, 2)]
    cfg = [(64, 256, 3, 56, 1), (128, 512, 4, 56, 2), (256, 1024, 6, 28, 2), (512, 2048, 3, 14, 2)]
    ic = 64
    for mid, oc, n, hw, stride in cfg:
        for i in range(n):
            s = stride if i == 0 else 1
            h_in = hw if i == 0 else hw // stride
            out.append(conv(ic, h_in, mid, 1, 1))
            out.append(conv(mid, h_in, mid, 3, s))
            if i == 0:
                out.append(conv(ic, h_in, oc, 1, s))
            out.append(conv(mid, h_in // s, oc, 1, 1))
            ic = oc
    return out


def inverted_residual(ic, h, exp, oc, k, s):
    mid = ic * exp
    out = []
    if exp != 1:
        out.append(conv(ic, h, mid, 1, 1))
    out.append(conv(mid, h, mid, k, s, g=mid))
    out.append(conv(mid, h // s, oc, 1, 1))
    return out


def mobilenetv2():
    out = [conv(3, 224, 32, 3, 2)]
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    ic, h = 32, 112
    for t, c, n, s in cfg:
        for i in range(n):
            st = s if i == 0 else 1
            out += inverted_residual(ic, h, t, c, 3, st)
            h //= st
            ic = c
    out.append(conv(320, 7, 1280, 1, 1))
    return out


def mobilenetv3_large():
    out = [conv(3, 224, 16, 3, 2)]
    # (kernel, expanded, out, stride)
    cfg = [(3, 16, 16, 1), (3, 64, 24, 2), (3, 72, 24, 1), (5, 72, 40, 2), (5, 120, 40, 1), (5, 120, 40, 1),
           (3, 240, 80, 2), (3, 200, 80, 1), (3, 184, 80, 1), (3, 184, 80, 1), (3, 480, 112, 1),
           (3, 672, 112, 1), (5, 672, 160, 2), (5, 960, 160, 1), (5, 960, 160, 1)]
    ic, h = 16, 112
    for k, e, c, s in cfg:
        if e != ic:
            out.append(conv(ic, h, e, 1, 1))
        out.append(conv(e, h, e, k, s, g=e))
        h //= s
        out.append(conv(e, h, c, 1, 1))
        ic = c
    out.append(conv(160, 7, 960, 1, 1))
    return out


def efficientnet_b0():
    out = [conv(3, 224, 32, 3, 2)]
    cfg = [(1, 3, 16, 1, 1), (6, 3, 24, 2, 2), (6, 5, 40, 2, 2), (6, 3, 80, 3, 2), (6, 5, 112, 3, 1),
           (6, 5, 192, 4, 2), (6, 3, 320, 1, 1)]
    ic, h = 32, 112
    for t, k, c, n, s in cfg:
        for i in range(n):
            st = s if i == 0 else 1
            out += inverted_residual(ic, h, t, c, k, st)
            h //= st
            ic = c
    out.append(conv(320, 7, 1280, 1, 1))
    return out


def vgg16():
    out = []
    ic, h = 3, 224
    for oc, n in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
        for _ in range(n):
            out.append(conv(ic, h, oc, 3, 1))
            ic = oc
        h //= 2
    return out


def transformer_matmuls(seq, hidden, heads, ffn):
    dh = hidden // heads
    return [
        f"matmul:mb1m{seq}n{hidden}k{hidden}",        # Q, K, V, output projections
        f"matmul:mb1m{seq}n{ffn}k{hidden}",           # FFN up
        f"matmul:mb1m{seq}n{hidden}k{ffn}",           # FFN down
        f"matmul:mb{heads}m{seq}n{seq}k{dh}",         # scores
        f"matmul:mb{heads}m{seq}n{dh}k{seq}",         # context
    ]


def fused(key, *post_ops):
    """An anchor key with a fused post-op chain, as the runtime runs it (conv2d:...+sum+relu)."""
    return key + "".join("+" + p for p in post_ops)


def fused_real():
    """The chains real networks form, on a representative subset of their anchor shapes.

    What the selector forms from a model (selector/fuse.cpp): BatchNormalization and a constant bias
    fold into the anchor (no post-op); activations are eltwise post-ops; the residual Add is `sum`.
    """
    out = [fused(conv(3, 224, 64, 7, 2), "relu")]
    # ResNet-50: the first block of each stage: 1x1 + relu, 3x3 + relu, 1x1 + residual sum + relu.
    ic = 64
    for mid, oc, hw, stride in [(64, 256, 56, 1), (128, 512, 56, 2), (256, 1024, 28, 2), (512, 2048, 14, 2)]:
        out.append(fused(conv(ic, hw, mid, 1, 1), "relu"))
        out.append(fused(conv(mid, hw, mid, 3, stride), "relu"))
        out.append(fused(conv(mid, hw // stride, oc, 1, 1), "sum", "relu"))
        ic = oc
    # MobileNetV2: relu6 (clip) after the expansion and the depthwise conv; the projection of a
    # stride-1 block adds the residual.
    out.append(fused(conv(3, 224, 32, 3, 2), "clip"))
    for c, h in [(24, 56), (32, 28), (96, 14)]:
        mid = c * 6
        out.append(fused(conv(c, h, mid, 1, 1), "clip"))
        out.append(fused(conv(mid, h, mid, 3, 1, g=mid), "clip"))
        out.append(fused(conv(mid, h, c, 1, 1), "sum"))
    out.append(fused(conv(320, 7, 1280, 1, 1), "clip"))
    # MobileNetV3-Large: hardswish after the expansion and the depthwise conv; the squeeze-excitation
    # scale as a per-channel multiply; hardsigmoid on the SE's second 1x1.
    for ic, e, c, h, k in [(40, 120, 40, 28, 5), (80, 240, 80, 28, 3), (112, 672, 112, 14, 3)]:
        out.append(fused(conv(ic, h, e, 1, 1), "hardswish"))
        out.append(fused(conv(e, h, e, k, 1, g=e), "hardswish"))
        out.append(fused(conv(e, h, e, k, 1, g=e), "hardswish", "mulc"))
        out.append(fused(conv(e // 4, 1, e, 1, 1), "hardsigmoid"))
    # EfficientNet-B0: sigmoid-gated activations (swish = x * sigmoid(x) is not a chain; its sigmoid
    # and the SE gate are) and a hardswish variant.
    out.append(fused(conv(32, 112, 32, 3, 1, g=32), "sigmoid"))
    out.append(fused(conv(144, 56, 144, 3, 1, g=144), "sigmoid", "mulc"))
    out.append(fused(conv(24, 56, 144, 1, 1), "hardswish"))
    return out


def fused_transformer():
    """BERT-base / ViT-B/16: the FFN's GELU (the bias folds; with it as a post-op too), the residual
    sum after the output projections, the attention scores' scale (a division in BERT exports, a
    multiplication in ViT's), and fully connected layers with ReLU (VGG-16's classifier)."""
    return [
        fused("matmul:mb1m128n3072k768", "gelu"),
        fused("matmul:mb1m128n3072k768", "addc", "gelu"),
        fused("matmul:mb1m197n3072k768", "gelu"),
        fused("matmul:mb1m128n768k3072", "sum"),
        fused("matmul:mb1m128n768k768", "addc", "sum"),
        fused("matmul:mb12m128n128k64", "divc"),
        fused("matmul:mb12m197n197k64", "mulc"),
        fused("ip:mb1ic4096oc4096", "relu"),
        fused("ip:mb1ic25088oc4096", "relu"),
    ]


def uniq(xs):
    seen, out = set(), []
    for x in xs:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def activations(shapes, algs):
    return [f"eltwise:{a}:mb1c{c}h{h}w{h}" for (c, h) in shapes for a in algs]


# Glue ops (Concat, Resize, ConvTranspose, LeakyRelu, Transpose, ReduceMean) of the bundled example
# models, as import maps them (tests/selector/glue_import_test.cpp prints them): yolo_det at 416,
# paddle_det at 320, the BERT blocks at seq 128.
YOLO_GLUE = ["concat:mb1c256h52w52n2", "concat:mb1c512h26w26n4",
             "deconv:mb1ic128ih52iw52oc64kh2kw2sh2sw2ph0pw0g1",
             "resample:nearest:mb1c128ih26iw26oh52ow52"] + \
    [f"eltwise:leakyrelu:mb1c{c}h{h}w{h}" for (c, h) in [(16, 416), (16, 208), (32, 208), (32, 104), (64, 104),
                                                         (128, 52), (128, 26), (256, 26)]]
PADDLE_GLUE = ["concat:mb1c96h80w80n4", "deconv:mb1ic24ih160iw160oc1kh2kw2sh2sw2ph0pw0g1",
               "deconv:mb1ic24ih320iw320oc1kh2kw2sh2sw2ph0pw0g1", "eltwise:sigmoid:mb1c1h640w640",
               "deconv:mb1ic24ih80iw80oc24kh2kw2sh2sw2ph0pw0g1"] + \
    [f"resample:nearest:mb1c{c}ih{i}iw{i}oh{o}ow{o}" for (c, i, o) in [(24, 10, 80), (24, 20, 80), (24, 40, 80),
                                                                       (96, 10, 20), (96, 20, 40), (96, 40, 80)]]
BERT_GLUE = ["reduce:mean:mb1c128h768w1oc128oh1ow1", "transpose:p0213:mb1c128h12w64",
             "transpose:p0213:mb1c12h128w64", "transpose:p0231:mb1c128h12w64"]


def glue_grid():
    """A small grid around the models' glue shapes: each family at a few sizes and algorithms."""
    out = []
    for c, h in [(64, 56), (256, 28)]:
        out += [f"concat:mb1c{2 * c}h{h}w{h}n2", f"resample:nearest:mb1c{c}ih{h}iw{h}oh{2 * h}ow{2 * h}",
                f"resample:linear:mb1c{c}ih{h}iw{h}oh{2 * h}ow{2 * h}", f"transpose:p0231:mb1c{c}h{h}w{h}",
                f"prelu:mb1c{c}h{h}w{h}", f"pad:mb1c{c}h{h}w{h}pt1pb1pl1pr1",
                f"slice:mb1c{2 * c}h{h}w{h}oc{c}oh{h}ow{h}", f"reduce:mean:mb1c{c}h{h}w{h}oc{c}oh1ow1"]
    out += ["concat:mb1c384h20w20n3",
            "transpose:p0213:mb1c197h12w64", "reduce:sum:mb1c128h768w1oc128oh1ow1",
            "reduce:max:mb1c256h7w7oc256oh1ow1", "deconv:mb1ic256ih14iw14oc128kh4kw4sh2sw2ph1pw1g1",
            "deconv:mb1ic64ih56iw56oc32kh2kw2sh2sw2ph0pw0g1"]
    return out


def spec(name, description, groups, dtypes, measure, transitions, transfers):
    return {
        "$schema": "sweep.schema.json",
        "name": name,
        "description": description,
        "dtypes": dtypes,
        "measure": measure,
        "problems": groups,
        "transitions": transitions,
        "transfers": transfers,
    }


def main():
    r50, mv2, mv3, eb0, vgg = resnet50(), mobilenetv2(), mobilenetv3_large(), efficientnet_b0(), vgg16()
    bert = transformer_matmuls(128, 768, 12, 3072)
    vit = transformer_matmuls(197, 768, 12, 3072)
    act_shapes_small = [(64, 56), (32, 112)]
    se_shapes = [(64, 56), (96, 28), (256, 14), (960, 7)]
    act_shapes = [(16, 112), (32, 112), (64, 56), (96, 56), (144, 56), (128, 28), (240, 28), (256, 28),
                  (512, 14), (672, 14), (1024, 14), (960, 7), (2048, 7)]

    # quick: one representative of each family from real networks; finishes in a few minutes.
    quick_groups = [
        {"name": "conv-real", "source": "ResNet-50, MobileNetV2, VGG-16",
         "keys": [conv(3, 224, 32, 3, 2), conv(64, 56, 64, 3, 1), conv(64, 56, 256, 1, 1),
                  conv(128, 56, 128, 3, 2), conv(256, 14, 1024, 1, 1), conv(144, 56, 144, 3, 1, g=144),
                  conv(96, 112, 96, 3, 2, g=96), conv(128, 28, 128, 3, 1, g=32),
                  conv(64, 56, 64, 3, 1, d=2)]},
        {"name": "matmul-real", "source": "BERT-base seq 128",
         "keys": ["matmul:mb1m128n768k768", "matmul:mb12m128n128k64", "ip:mb1ic2048oc1000"]},
        {"name": "pool", "keys": ["pool:max:mb1ic64ih112iw112kh3kw3sh2sw2ph1pw1",
                                  "pool:avg:mb1ic1280ih7iw7kh7kw7sh1sw1ph0pw0"]},
        {"name": "eltwise", "keys": activations([(64, 56)], ["relu", "clip", "hardswish", "sigmoid", "gelu"])},
        {"name": "glue", "source": "yolo_det (Concat, ConvTranspose, Resize, LeakyRelu), BERT block (Transpose, ReduceMean)",
         "keys": ["concat:mb1c256h52w52n2", "resample:nearest:mb1c128ih26iw26oh52ow52",
                  "deconv:mb1ic128ih52iw52oc64kh2kw2sh2sw2ph0pw0g1", "eltwise:leakyrelu:mb1c64h104w104",
                  "transpose:p0213:mb1c128h12w64", "reduce:mean:mb1c128h768w1oc128oh1ow1",
                  # the families no bundled model has, one small shape each
                  "slice:mb1c128h28w28oc64oh28ow28", "pad:mb1c64h28w28pt1pb1pl1pr1", "prelu:mb1c64h28w28"]},
        {"name": "binary", "keys": ["binary:add:mb1c256h56w56", "binary:mul:mb1c96h56w56",
                                    # a squeeze-excitation Mul: a per-channel run-time scale (bc1)
                                    "binary:mul:mb1c96h28w28bc1"]},
        {"name": "softmax-norm", "keys": ["softmax:mb1c12h128w128ax3", "softmax:mb1c1000h1w1",
                                          "bnorm:mb1c64h56w56", "lnorm:mb1t128c768"]},
        {"name": "fused", "source": "ResNet-50 conv+relu, conv+sum+relu; MobileNetV2 conv+clip; "
                                    "MobileNetV3 conv+hardswish; BERT matmul+gelu; VGG-16 ip+relu",
         "keys": [fused(conv(64, 56, 64, 3, 1), "relu"), fused(conv(64, 56, 256, 1, 1), "sum", "relu"),
                  fused(conv(3, 224, 32, 3, 2), "clip"), fused(conv(144, 56, 144, 3, 1, g=144), "clip"),
                  fused(conv(96, 112, 96, 3, 2, g=96), "hardswish"), fused("matmul:mb1m128n768k768", "gelu"),
                  fused("ip:mb1ic2048oc1000", "relu")]},
    ]
    quick = spec("quick", "One real-network shape per op family; f32 and bf16; a few minutes on 2 cores.",
                 quick_groups, ["f32", "bf16"],
                 {"warmup": 2, "min_reps": 7, "max_reps": 200, "target_rel_ci": 0.02, "budget_s": 0.4},
                 {"shapes": ["mb1c16h16w16", "mb1c64h56w56", "mb1c256h56w56", "mb1c128h128w128"],
                  "dtypes": ["f32"]},
                 {"bytes": [4096, 262144, 4194304, 33554432]})

    # default: every distinct conv of the five CNNs, the transformer matmuls, all activations, and a
    # grid around them.
    convs = uniq(r50 + mv2 + mv3 + eb0 + vgg)
    grid_conv = {"name": "conv-grid", "source": "grid around the real shapes (3x3 and 1x1, dense)",
                 "op": "conv2d",
                 "grid": {"mb": [1], "ic": [32, 128], "ih": [28, 56], "iw": ["ih"], "oc": [32, 128],
                          "kh": [1, 3], "kw": ["kh"], "sh": [1], "sw": ["sh"], "ph": [0], "pw": ["ph"],
                          "g": [1]}}
    grid_dw = {"name": "depthwise-grid", "op": "conv2d",
               "grid": {"mb": [1], "ic": [48, 192, 384], "ih": [14, 28, 56], "iw": ["ih"], "oc": ["ic"],
                        "kh": [3], "kw": [3], "sh": [1, 2], "sw": ["sh"], "ph": [1], "pw": [1], "g": ["ic"]}}
    # Dense convolutions on high-resolution maps with few channels: detectors' and segmentation
    # networks' stems, necks and decoders (160x160 to 640x640 inputs), whose activations leave the
    # caches that every shape above stays in. Without them such a convolution scaled from 56x56
    # neighbours at their FLOP rate (a YOLO detector's plan 21% under its run, side by side).
    grid_highres = {"name": "conv-highres-grid",
                    "source": "dense 1x1 and 3x3 convolutions, 16-64 channels on 160x160 and 320x320 maps",
                    "op": "conv2d",
                    "grid": {"mb": [1], "ic": [16, 64], "ih": [160, 320], "iw": ["ih"], "oc": [16, 64],
                             "kh": [1, 3], "kw": ["kh"], "sh": [1], "sw": ["sh"], "ph": [0], "pw": ["ph"],
                             "g": [1]}}
    grid_mm = {"name": "matmul-grid", "op": "matmul",
               "grid": {"mb": [1], "m": [32, 128, 512], "n": [256, 1024], "k": [256, 1024]}}
    # A reduction over a map's spatial axes, for each reduction the models use.
    reduce_grid = {"mb": [1], "c": [64, 128, 256, 512], "h": [7, 14, 28, 56], "w": ["h"], "oc": ["c"],
                   "oh": [1], "ow": [1]}
    default_groups = [
        {"name": "conv-real", "source": "ResNet-50, MobileNetV2, MobileNetV3-Large, EfficientNet-B0, VGG-16",
         "keys": convs},
        grid_conv, grid_dw, grid_highres,
        {"name": "conv-special", "source": "grouped (ResNeXt) and dilated (DeepLab) convolutions",
         "keys": [conv(128, 56, 128, 3, 1, g=32), conv(256, 28, 256, 3, 1, g=32), conv(512, 14, 512, 3, 1, g=32),
                  conv(256, 28, 256, 3, 1, d=2), conv(512, 28, 512, 3, 1, d=4)]},
        {"name": "matmul-real", "source": "BERT-base (seq 128), ViT-B/16 (seq 197)",
         "keys": uniq(bert + vit + ["ip:mb1ic2048oc1000", "ip:mb1ic1280oc1000", "ip:mb1ic4096oc4096",
                                    "ip:mb1ic25088oc4096", "ip:mb1ic960oc1280"])},
        grid_mm,
        {"name": "pool", "keys": ["pool:max:mb1ic64ih112iw112kh3kw3sh2sw2ph1pw1",
                                  "pool:max:mb1ic64ih224iw224kh2kw2sh2sw2ph0pw0",
                                  "pool:max:mb1ic256ih56iw56kh2kw2sh2sw2ph0pw0",
                                  "pool:max:mb1ic512ih28iw28kh2kw2sh2sw2ph0pw0",
                                  "pool:avg:mb1ic2048ih7iw7kh7kw7sh1sw1ph0pw0",
                                  "pool:avg:mb1ic1280ih7iw7kh7kw7sh1sw1ph0pw0",
                                  "pool:avg:mb1ic960ih7iw7kh7kw7sh1sw1ph0pw0",
                                  "pool:avg:mb1ic144ih56iw56kh56kw56sh1sw1ph0pw0",
                                  "pool:avg:mb1ic672ih14iw14kh14kw14sh1sw1ph0pw0"]},
        # Grids added where leave-one-out on a default sweep found the real shapes too sparse (each
        # source says why; the README gives the figures).
        {'name': 'pool-grid',
         'source': 'max pooling (2x2 and 3x3, stride 2) and global average pooling around the real shapes, '
                   'which are one or two per kernel',
         'op': 'pool',
         'alg': 'max',
         'grid': {'mb': [1],
                  'ic': [32, 128, 512],
                  'ih': [28, 56, 112],
                  'iw': ['ih'],
                  'kh': [2, 3],
                  'kw': ['kh'],
                  'sh': [2],
                  'sw': [2],
                  'ph': [0],
                  'pw': [0]}},
        {'name': 'global-pool-grid',
         'source': "global average pooling (a classifier's head) around the real shapes",
         'op': 'pool',
         'alg': 'avg',
         'grid': {'mb': [1],
                  'ic': [128, 512, 2048],
                  'ih': [7, 14, 28],
                  'iw': ['ih'],
                  'kh': ['ih'],
                  'kw': ['ih'],
                  'sh': [1],
                  'sw': [1],
                  'ph': [0],
                  'pw': [0]}},
        {'name': 'spp-pool-grid',
         'source': "stride-1 5x5 max pooling with 'same' padding, the SPP / SPPF block of YOLO-family "
                   "detectors' necks: the grids above pool with stride 2, and a window read 25 times per "
                   "output is no neighbour of them (a YOLO detector's 13x13 SPP pools were predicted 17 us "
                   'from them and ran 47-60)',
         'op': 'pool',
         'alg': 'max',
         'grid': {'mb': [1],
                  'ic': [128, 512],
                  'ih': [10, 20, 40],
                  'iw': ['ih'],
                  'kh': [5],
                  'kw': ['kh'],
                  'sh': [1],
                  'sw': [1],
                  'ph': [2],
                  'pw': [2]}},
        {"name": "eltwise", "keys": activations(act_shapes, ["relu", "clip", "hardswish", "hardsigmoid",
                                                             "sigmoid", "gelu"])},
        {"name": "binary", "keys": [f"binary:{a}:mb1c{c}h{h}w{h}" for (c, h) in act_shapes for a in ["add", "mul"]]},
        {"name": "binary-broadcast", "source": "squeeze-excitation Muls of MobileNetV3 / EfficientNet-B0 / "
                                               "paddle_det: a [1,C,H,W] map times a run-time [1,C,1,1] scale",
         "keys": [f"binary:mul:mb1c{c}h{h}w{h}bc1" for (c, h) in se_shapes]},
        {"name": "binary-broadcast-grid",
         "source": "per-channel Muls from 16 to 256 channels on 14-112 pixel maps: the four real shapes have "
                   "64-960 channels, and a Paddle detector's 16-channel one on 160x160 ran at 18 GB/s in its "
                   "network where they run at 40-70",
         "op": "binary", "alg": "mul",
         "grid": {"mb": [1], "c": [16, 64, 256], "h": [14, 28, 56, 112], "w": ["h"], "bc": [1]}},
        {"name": "softmax-norm",
         "keys": ["softmax:mb1c12h128w128ax3", "softmax:mb1c12h197w197ax3", "softmax:mb1c1000h1w1",
                  "lnorm:mb1t128c768", "lnorm:mb1t197c768"] +
                 [f"bnorm:mb1c{c}h{h}w{h}" for (c, h) in act_shapes]},
        {"name": "glue-real", "source": "yolo_det, paddle_det (FPN Resize), BERT blocks",
         "keys": uniq(YOLO_GLUE + PADDLE_GLUE + BERT_GLUE)},
        {"name": "glue-grid", "source": "Concat, Resize, Transpose, PRelu, Pad, Slice, Reduce, ConvTranspose "
                                        "around the real shapes", "keys": glue_grid()},
        {'name': 'deconv-grid',
         'source': "ConvTranspose as detectors' necks and segmentation heads use it (2x2, stride 2: 2x "
                   'upsampling) around the real shapes: those are 2-8x apart in two parameters at once, too '
                   'far for leave-one-out (9-17% of held-out deconvolutions within 10%)',
         'op': 'deconv',
         'grid': {'mb': [1],
                  'ic': [16, 64],
                  'ih': [40, 80, 160],
                  'iw': ['ih'],
                  'oc': [16, 64],
                  'kh': [2],
                  'kw': ['kh'],
                  'sh': [2],
                  'sw': ['sh'],
                  'ph': [0],
                  'pw': ['ph'],
                  'g': [1]}},
        {'name': 'lnorm-grid',
         'source': "LayerNorm around BERT-base / ViT-B/16 (tokens x hidden width): the family's only two real "
                   'shapes are 1.5x apart in one parameter',
         'op': 'lnorm',
         'grid': {'mb': [1], 't': [64, 256, 1024], 'c': [256, 768, 2048]}},
        {'name': 'reduce-grid',
         'source': "ReduceMean and ReduceMax over a map's spatial axes (global pooling as exporters write it)",
         'op': 'reduce',
         'alg': 'mean',
         'grid': reduce_grid},
        {'name': 'reduce-max-grid',
         'op': 'reduce',
         'alg': 'max',
         'grid': reduce_grid},
        {'name': 'transpose-grid',
         'source': "NCHW to NHWC transposes, and attention's head split (tokens x heads x head width)",
         'op': 'transpose',
         'alg': 'p0231',
         'grid': {'mb': [1], 'c': [32, 128, 512], 'h': [14, 56], 'w': ['h']}},
        {'name': 'transpose-heads-grid',
         'op': 'transpose',
         'alg': 'p0213',
         'grid': {'mb': [1], 'c': [64, 256, 512], 'h': [8, 12], 'w': [64]}},
        {'name': 'ip-grid',
         'source': 'classifier and MLP heads around the real shapes',
         'op': 'ip',
         'grid': {'mb': [1], 'ic': [256, 512, 1024, 2048, 4096], 'oc': [256, 512, 1000, 2048, 4096]}},
        {"name": "fused", "source": "post-op chains of ResNet-50, MobileNetV2/V3, EfficientNet-B0, BERT-base, "
                                    "ViT-B/16, VGG-16 on a subset of their anchor shapes (attention scores "
                                    "scaled by a division, as BERT exporters write it, or by a "
                                    "multiplication, as ViT exporters do)",
         "keys": uniq(fused_real() + fused_transformer())},
    ]
    default = spec("default", "Every conv of ResNet-50, MobileNetV2/V3, EfficientNet-B0, VGG-16, the "
                   "BERT-base and ViT-B/16 matmuls, every op family, and a grid around them; f32, bf16, "
                   "int8; about 20 minutes on 2 cores (warm, 3 visits a point).",
                   default_groups, ["f32", "bf16", "int8"],
                   {"warmup": 2, "min_reps": 7, "max_reps": 300, "target_rel_ci": 0.02, "budget_s": 0.5},
                   {"shapes": ["mb1c8h8w8", "mb1c16h16w16", "mb1c32h28w28", "mb1c64h56w56", "mb1c256h56w56",
                               "mb1c64h112w112", "mb1c512h64w64", "mb1c128h128w128", "mb1c64h224w224"],
                    "dtypes": ["f32", "bf16"]},
                   {"bytes": [4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 33554432, 67108864]})

    full = json.loads(json.dumps(default))
    full["name"] = "full"
    full["description"] = "default with batch sizes 1, 8 and 32 of the real shapes and a finer grid; hours."
    full["measure"]["budget_s"] = 2.0
    full["problems"].append({"name": "conv-real-batched", "keys": uniq(
        [k.replace("conv2d:mb1", f"conv2d:mb{mb}") for mb in (8, 32) for k in convs])})
    full["problems"][1]["grid"].update({"ic": [16, 32, 64, 128, 256], "oc": [16, 32, 64, 128, 256],
                                        "ih": [14, 28, 56, 112], "sh": [1, 2]})
    for name, s in [("quick", quick), ("default", default), ("full", full)]:
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(s, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
