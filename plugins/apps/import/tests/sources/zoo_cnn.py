"""Re-creations of FaceX-Zoo's CNN backbones, written for these tests from FaceX-Zoo's architecture
(JDAI-CV/FaceX-Zoo ``backbone/*.py``): same module tree (hence the same ``state_dict`` keys and order),
same computation, FaceX-Zoo's own quirks included (L2-normalised outputs of ResNet/GhostNet/ResNeSt,
the unused ``conv4`` shortcut convolutions of AttentionNet, ...). Sizes FaceX-Zoo hard-codes are
parameters here only where the tests need a smaller network; their defaults are FaceX-Zoo's.

MobileFaceNet, ResNet IR/IR-SE, GhostNet, AttentionNet, TF-NAS, LightCNN-29 v2, RepVGG.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


def l2_norm(x):
    return x / torch.norm(x, 2, 1, True)


# -- MobileFaceNet (backbone/MobileFaceNets.py) -------------------------------------------------------
class ConvBlock(nn.Module):
    """Conv_block: conv (no bias) -> bn -> prelu."""

    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.prelu = nn.PReLU(cout)

    def forward(self, x):
        return self.prelu(self.bn(self.conv(x)))


class LinearBlock(nn.Module):
    """Linear_block: conv (no bias) -> bn."""

    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class DepthWise(nn.Module):
    """Depth_Wise: 1x1 to ``groups`` -> 3x3 depthwise (stride) -> 1x1 linear, optional residual."""

    def __init__(self, cin, cout, residual=False, stride=2, groups=1):
        super().__init__()
        self.conv = ConvBlock(cin, groups)
        self.conv_dw = ConvBlock(groups, groups, 3, stride, 1, groups=groups)
        self.project = LinearBlock(groups, cout)
        self.residual = residual

    def forward(self, x):
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, c, num_block, groups):
        super().__init__()
        self.model = nn.Sequential(*[DepthWise(c, c, True, 1, groups) for _ in range(num_block)])

    def forward(self, x):
        return self.model(x)


class MobileFaceNet(nn.Module):
    def __init__(self, embedding_size=512, out_h=7, out_w=7):
        super().__init__()
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.conv2_dw = ConvBlock(64, 64, 3, 1, 1, groups=64)
        self.conv_23 = DepthWise(64, 64, stride=2, groups=128)
        self.conv_3 = Residual(64, 4, 128)
        self.conv_34 = DepthWise(64, 128, stride=2, groups=256)
        self.conv_4 = Residual(128, 6, 256)
        self.conv_45 = DepthWise(128, 128, stride=2, groups=512)
        self.conv_5 = Residual(128, 2, 256)
        self.conv_6_sep = ConvBlock(128, 512)
        self.conv_6_dw = LinearBlock(512, 512, (out_h, out_w), groups=512)
        self.conv_6_flatten = Flatten()
        self.linear = nn.Linear(512, embedding_size, bias=False)
        self.bn = nn.BatchNorm1d(embedding_size)

    def forward(self, x):
        for layer in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34, self.conv_4,
                      self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw, self.conv_6_flatten):
            x = layer(x)
        return self.bn(self.linear(x))


# -- ResNet IR / IR-SE (backbone/ResNets.py) ---------------------------------------------------------
class SEModule(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class BottleneckIR(nn.Module):
    """bottleneck_IR (``se=False``) / bottleneck_IR_SE (``se=True``)."""

    def __init__(self, cin, depth, stride, se=False):
        super().__init__()
        if cin == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        layers = [nn.BatchNorm2d(cin), nn.Conv2d(cin, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
                  nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth)]
        if se:
            layers.append(SEModule(depth, 16))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


RESNET_UNITS = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}


class Resnet(nn.Module):
    """``units`` (tests only) overrides the unit counts that ``num_layers`` gives."""

    def __init__(self, num_layers, drop_ratio, mode="ir", feat_dim=512, out_h=7, out_w=7, units=None):
        super().__init__()
        units = units or RESNET_UNITS[num_layers]
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        # registered before the body, as in FaceX-Zoo
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(drop_ratio), Flatten(),
                                          nn.Linear(512 * out_h * out_w, feat_dim), nn.BatchNorm1d(feat_dim))
        modules, cin = [], 64
        for depth, count in zip((64, 128, 256, 512), units):
            for i in range(count):
                modules.append(BottleneckIR(cin, depth, 2 if i == 0 else 1, se=mode == "ir_se"))
                cin = depth
        self.body = nn.Sequential(*modules)

    def forward(self, x):
        return l2_norm(self.output_layer(self.body(self.input_layer(x))))


# -- GhostNet (backbone/GhostNet.py) ------------------------------------------------------------------
def make_divisible(v, divisor, min_value=None):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def hard_sigmoid(x):
    return F.relu6(x + 3.0) / 6.0


class GhostSE(nn.Module):
    def __init__(self, chs, se_ratio=0.25):
        super().__init__()
        reduced = make_divisible(chs * se_ratio, 4)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(chs, reduced, 1, bias=True)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, chs, 1, bias=True)

    def forward(self, x):
        return x * hard_sigmoid(self.conv_expand(self.act1(self.conv_reduce(self.avg_pool(x)))))


class ConvBnAct(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act1(self.bn1(self.conv(x)))


class GhostModule(nn.Module):
    def __init__(self, inp, oup, relu=True):
        super().__init__()
        self.oup = oup
        init = math.ceil(oup / 2)
        act = (lambda: nn.ReLU(inplace=True)) if relu else nn.Sequential
        self.primary_conv = nn.Sequential(nn.Conv2d(inp, init, 1, 1, 0, bias=False), nn.BatchNorm2d(init), act())
        self.cheap_operation = nn.Sequential(nn.Conv2d(init, init, 3, 1, 1, groups=init, bias=False),
                                             nn.BatchNorm2d(init), act())

    def forward(self, x):
        x1 = self.primary_conv(x)
        return torch.cat([x1, self.cheap_operation(x1)], dim=1)[:, :self.oup]


class GhostBottleneck(nn.Module):
    def __init__(self, cin, mid, cout, k=3, stride=1, se_ratio=0.0):
        super().__init__()
        self.stride = stride
        self.ghost1 = GhostModule(cin, mid, relu=True)
        if stride > 1:
            self.conv_dw = nn.Conv2d(mid, mid, k, stride, (k - 1) // 2, groups=mid, bias=False)
            self.bn_dw = nn.BatchNorm2d(mid)
        self.se = GhostSE(mid, se_ratio) if se_ratio else None
        self.ghost2 = GhostModule(mid, cout, relu=False)
        if cin == cout and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cin, k, stride, (k - 1) // 2, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.ghost1(x)
        if self.stride > 1:
            y = self.bn_dw(self.conv_dw(y))
        if self.se is not None:
            y = self.se(y)
        return self.ghost2(y) + self.shortcut(x)


GHOST_CFGS = [
    [[3, 16, 16, 0, 1]], [[3, 48, 24, 0, 2]], [[3, 72, 24, 0, 1]], [[5, 72, 40, 0.25, 2]], [[5, 120, 40, 0.25, 1]],
    [[3, 240, 80, 0, 2]],
    [[3, 200, 80, 0, 1], [3, 184, 80, 0, 1], [3, 184, 80, 0, 1], [3, 480, 112, 0.25, 1], [3, 672, 112, 0.25, 1]],
    [[5, 672, 160, 0.25, 2]],
    [[5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1], [5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1]],
]


class GhostNet(nn.Module):
    def __init__(self, width=1.0, drop_ratio=0.2, feat_dim=512, out_h=7, out_w=7):
        super().__init__()
        cout = make_divisible(16 * width, 4)
        self.conv_stem = nn.Conv2d(3, cout, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = nn.ReLU(inplace=True)
        cin, stages = cout, []
        for cfg in GHOST_CFGS:
            layers = []
            for k, exp, c, se, s in cfg:
                cout, hidden = make_divisible(c * width, 4), make_divisible(exp * width, 4)
                layers.append(GhostBottleneck(cin, hidden, cout, k, s, se))
                cin = cout
            stages.append(nn.Sequential(*layers))
        cout = make_divisible(exp * width, 4)
        stages.append(nn.Sequential(ConvBnAct(cin, cout, 1)))
        self.blocks = nn.Sequential(*stages)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(960), nn.Dropout(drop_ratio), Flatten(),
                                          nn.Linear(960 * out_h * out_w, feat_dim), nn.BatchNorm1d(feat_dim))

    def forward(self, x):
        x = self.blocks(self.act1(self.bn1(self.conv_stem(x))))
        return l2_norm(self.output_layer(x))


# -- AttentionNet (backbone/AttentionNets.py) -------------------------------------------------------
class ResidualBlock(nn.Module):
    """Pre-activation bottleneck; ``conv4`` exists in every block and is used only when the shape changes."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, cout // 4, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout // 4)
        self.conv2 = nn.Conv2d(cout // 4, cout // 4, 3, stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout // 4)
        self.conv3 = nn.Conv2d(cout // 4, cout, 1, 1, bias=False)
        self.conv4 = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        shortcut = self.conv4(pre) if (self.cin != self.cout or self.stride != 1) else x
        return out + shortcut


def _mask_head(c):
    return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c, 1, 1, bias=False),
                         nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c, 1, 1, bias=False), nn.Sigmoid())


class AttentionStage1(nn.Module):
    def __init__(self, c, size1=(56, 56), size2=(28, 28), size3=(14, 14)):
        super().__init__()
        self.first_residual_blocks = ResidualBlock(c, c)
        self.trunk_branches = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.mpool1 = nn.MaxPool2d(3, 2, 1)
        self.softmax1_blocks = ResidualBlock(c, c)
        self.skip1_connection_residual_block = ResidualBlock(c, c)
        self.mpool2 = nn.MaxPool2d(3, 2, 1)
        self.softmax2_blocks = ResidualBlock(c, c)
        self.skip2_connection_residual_block = ResidualBlock(c, c)
        self.mpool3 = nn.MaxPool2d(3, 2, 1)
        self.softmax3_blocks = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.interpolation3 = nn.UpsamplingBilinear2d(size=size3)
        self.softmax4_blocks = ResidualBlock(c, c)
        self.interpolation2 = nn.UpsamplingBilinear2d(size=size2)
        self.softmax5_blocks = ResidualBlock(c, c)
        self.interpolation1 = nn.UpsamplingBilinear2d(size=size1)
        self.softmax6_blocks = _mask_head(c)
        self.last_blocks = ResidualBlock(c, c)

    def forward(self, x):
        x = self.first_residual_blocks(x)
        trunk = self.trunk_branches(x)
        s1 = self.softmax1_blocks(self.mpool1(x))
        skip1 = self.skip1_connection_residual_block(s1)
        s2 = self.softmax2_blocks(self.mpool2(s1))
        skip2 = self.skip2_connection_residual_block(s2)
        s3 = self.softmax3_blocks(self.mpool3(s2))
        out = self.interpolation3(s3) + s2 + skip2
        s4 = self.softmax4_blocks(out)
        out = self.interpolation2(s4) + s1 + skip1
        s5 = self.softmax5_blocks(out)
        mask = self.softmax6_blocks(self.interpolation1(s5) + trunk)
        return self.last_blocks((1 + mask) * trunk)


class AttentionStage2(nn.Module):
    def __init__(self, c, size1=(28, 28), size2=(14, 14)):
        super().__init__()
        self.first_residual_blocks = ResidualBlock(c, c)
        self.trunk_branches = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.mpool1 = nn.MaxPool2d(3, 2, 1)
        self.softmax1_blocks = ResidualBlock(c, c)
        self.skip1_connection_residual_block = ResidualBlock(c, c)
        self.mpool2 = nn.MaxPool2d(3, 2, 1)
        self.softmax2_blocks = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.interpolation2 = nn.UpsamplingBilinear2d(size=size2)
        self.softmax3_blocks = ResidualBlock(c, c)
        self.interpolation1 = nn.UpsamplingBilinear2d(size=size1)
        self.softmax4_blocks = _mask_head(c)
        self.last_blocks = ResidualBlock(c, c)

    def forward(self, x):
        x = self.first_residual_blocks(x)
        trunk = self.trunk_branches(x)
        s1 = self.softmax1_blocks(self.mpool1(x))
        skip1 = self.skip1_connection_residual_block(s1)
        s2 = self.softmax2_blocks(self.mpool2(s1))
        s3 = self.softmax3_blocks(self.interpolation2(s2) + s1 + skip1)
        mask = self.softmax4_blocks(self.interpolation1(s3) + trunk)
        return self.last_blocks((1 + mask) * trunk)


class AttentionStage3(nn.Module):
    def __init__(self, c, size1=(14, 14)):
        super().__init__()
        self.first_residual_blocks = ResidualBlock(c, c)
        self.trunk_branches = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.mpool1 = nn.MaxPool2d(3, 2, 1)
        self.softmax1_blocks = nn.Sequential(ResidualBlock(c, c), ResidualBlock(c, c))
        self.interpolation1 = nn.UpsamplingBilinear2d(size=size1)
        self.softmax2_blocks = _mask_head(c)
        self.last_blocks = ResidualBlock(c, c)

    def forward(self, x):
        x = self.first_residual_blocks(x)
        trunk = self.trunk_branches(x)
        s1 = self.softmax1_blocks(self.mpool1(x))
        mask = self.softmax2_blocks(self.interpolation1(s1) + trunk)
        return self.last_blocks((1 + mask) * trunk)


class ResidualAttentionNet(nn.Module):
    """``width`` (tests only) scales FaceX-Zoo's 64-channel stem and every stage with it."""

    def __init__(self, stage1_modules, stage2_modules, stage3_modules, feat_dim, out_h, out_w, width=64):
        super().__init__()
        w = width
        self.conv1 = nn.Sequential(nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        body = [ResidualBlock(w, 4 * w)]
        body += [AttentionStage1(4 * w) for _ in range(stage1_modules)]
        body.append(ResidualBlock(4 * w, 8 * w, 2))
        body += [AttentionStage2(8 * w) for _ in range(stage2_modules)]
        body.append(ResidualBlock(8 * w, 16 * w, 2))
        body += [AttentionStage3(16 * w) for _ in range(stage3_modules)]
        body += [ResidualBlock(16 * w, 32 * w, 2), ResidualBlock(32 * w, 32 * w), ResidualBlock(32 * w, 32 * w)]
        self.attention_body = nn.Sequential(*body)
        self.output_layer = nn.Sequential(Flatten(), nn.Linear(32 * w * out_h * out_w, feat_dim, False),
                                          nn.BatchNorm1d(feat_dim))

    def forward(self, x):
        return self.output_layer(self.attention_body(self.conv1(x)))


# -- TF-NAS-A (backbone/TF_NAS.py) -------------------------------------------------------------------
class Swish(nn.Module):
    def forward(self, x):
        return x * x.sigmoid()


def _act(name):
    return {"relu": lambda: nn.ReLU(inplace=True), "swish": Swish}[name]()


class ConvLayer(nn.Module):
    """ConvLayer with ops order weight_bn_act (``act=None``: no activation)."""

    def __init__(self, cin, cout, kernel=3, stride=1, act="relu"):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = _act(act) if act else None

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


class MBInvertedResBlock(nn.Module):
    def __init__(self, cin, mid, se, cout, kernel=3, stride=1, act="relu"):
        super().__init__()
        from collections import OrderedDict

        if mid > cin:
            self.inverted_bottleneck = nn.Sequential(OrderedDict(
                [("conv", nn.Conv2d(cin, mid, 1, 1, 0, bias=False)), ("bn", nn.BatchNorm2d(mid)), ("act", _act(act))]))
        else:
            self.inverted_bottleneck = None
            mid = cin
        self.depth_conv = nn.Sequential(OrderedDict(
            [("conv", nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)),
             ("bn", nn.BatchNorm2d(mid)), ("act", _act(act))]))
        if se > 0:
            self.squeeze_excite = nn.Sequential(OrderedDict(
                [("conv_reduce", nn.Conv2d(mid, se, 1, 1, 0, bias=True)), ("act", _act(act)),
                 ("conv_expand", nn.Conv2d(se, mid, 1, 1, 0, bias=True))]))
        else:
            self.squeeze_excite = None
        self.point_linear = nn.Sequential(OrderedDict(
            [("conv", nn.Conv2d(mid, cout, 1, 1, 0, bias=False)), ("bn", nn.BatchNorm2d(cout))]))
        self.has_residual = cin == cout and stride == 1

    def forward(self, x):
        y = self.inverted_bottleneck(x) if self.inverted_bottleneck is not None else x
        y = self.depth_conv(y)
        if self.squeeze_excite is not None:
            y = y * torch.sigmoid(self.squeeze_excite(F.adaptive_avg_pool2d(y, 1)))
        y = self.point_linear(y)
        return y + x if self.has_residual else y


TFNAS_STAGES = [
    ("relu", [(16, 83, 32, 24, 3, 2), (24, 128, 0, 24, 5, 1)]),
    ("swish", [(24, 138, 48, 40, 3, 2), (40, 297, 0, 40, 3, 1), (40, 170, 80, 40, 5, 1)]),
    ("swish", [(40, 248, 80, 80, 5, 2), (80, 500, 0, 80, 3, 1), (80, 424, 0, 80, 3, 1), (80, 477, 0, 80, 3, 1)]),
    ("swish", [(80, 504, 160, 112, 3, 1), (112, 796, 0, 112, 3, 1), (112, 723, 224, 112, 3, 1),
               (112, 555, 224, 112, 3, 1)]),
    ("swish", [(112, 813, 0, 192, 3, 2), (192, 1370, 0, 192, 3, 1), (192, 1138, 384, 192, 3, 1),
               (192, 1359, 384, 192, 3, 1)]),
    ("swish", [(192, 1203, 384, 320, 5, 1)]),
]


class TF_NAS_A(nn.Module):
    def __init__(self, out_h, out_w, feat_dim, drop_ratio=0.0):
        super().__init__()
        self.first_stem = ConvLayer(3, 32, 3, 1, act="relu")
        self.second_stem = MBInvertedResBlock(32, 32, 8, 16, 3, 1, act="relu")
        for i, (act, blocks) in enumerate(TFNAS_STAGES, start=1):
            setattr(self, f"stage{i}", nn.Sequential(*[MBInvertedResBlock(*b[:4], kernel=b[4], stride=b[5], act=act)
                                                       for b in blocks]))
        self.feature_mix_layer = ConvLayer(320, 1280, 1, 1, act=None)
        self.output_layer = nn.Sequential(nn.Dropout(drop_ratio), Flatten(), nn.Linear(1280 * out_h * out_w, feat_dim),
                                          nn.BatchNorm1d(feat_dim))

    def forward(self, x):
        x = self.second_stem(self.first_stem(x))
        for i in range(1, 7):
            x = getattr(self, f"stage{i}")(x)
        return self.output_layer(self.feature_mix_layer(x))


# -- LightCNN-29 v2 (backbone/LightCNN.py) ---------------------------------------------------------
class MFM(nn.Module):
    def __init__(self, cin, cout, kernel=3, stride=1, padding=1):
        super().__init__()
        self.out_channels = cout
        self.filter = nn.Conv2d(cin, 2 * cout, kernel, stride, padding)

    def forward(self, x):
        a, b = torch.split(self.filter(x), self.out_channels, 1)
        return torch.max(a, b)


class Group(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv_a = MFM(cin, cin, 1, 1, 0)
        self.conv = MFM(cin, cout, 3, 1, 1)

    def forward(self, x):
        return self.conv(self.conv_a(x))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = MFM(c, c)
        self.conv2 = MFM(c, c)

    def forward(self, x):
        return self.conv2(self.conv1(x)) + x


def _pool(x):
    return F.max_pool2d(x, 2) + F.avg_pool2d(x, 2)


class LightCNN29v2(nn.Module):
    """``channels`` (tests only) replaces FaceX-Zoo's fixed 48/96/192/128/128."""

    def __init__(self, drop_ratio, out_h, out_w, feat_dim, layers=(1, 2, 3, 4), channels=(48, 96, 192, 128, 128)):
        super().__init__()
        c0, c1, c2, c3, c4 = channels
        self.conv1 = MFM(3, c0, 5, 1, 2)
        self.block1 = nn.Sequential(*[ResBlock(c0) for _ in range(layers[0])])
        self.group1 = Group(c0, c1)
        self.block2 = nn.Sequential(*[ResBlock(c1) for _ in range(layers[1])])
        self.group2 = Group(c1, c2)
        self.block3 = nn.Sequential(*[ResBlock(c2) for _ in range(layers[2])])
        self.group3 = Group(c2, c3)
        self.block4 = nn.Sequential(*[ResBlock(c3) for _ in range(layers[3])])
        self.group4 = Group(c3, c4)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(c4), nn.Dropout(drop_ratio), Flatten(),
                                          nn.Linear(c4 * out_h * out_w, feat_dim), nn.BatchNorm1d(feat_dim))

    def forward(self, x):
        x = _pool(self.conv1(x))
        x = _pool(self.group1(self.block1(x)))
        x = _pool(self.group2(self.block2(x)))
        x = self.group4(self.block4(self.group3(self.block3(x))))
        return self.output_layer(_pool(x))


# -- RepVGG (backbone/RepVGG.py) ------------------------------------------------------------------------
def _conv_bn(cin, cout, kernel, stride, padding):
    seq = nn.Sequential()
    seq.add_module("conv", nn.Conv2d(cin, cout, kernel, stride, padding, bias=False))
    seq.add_module("bn", nn.BatchNorm2d(cout))
    return seq


class RepVGGBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.cin = cin
        self.nonlinearity = nn.ReLU()
        self.se = nn.Identity()
        self.rbr_identity = nn.BatchNorm2d(cin) if cin == cout and stride == 1 else None
        self.rbr_dense = _conv_bn(cin, cout, 3, stride, 1)
        self.rbr_1x1 = _conv_bn(cin, cout, 1, stride, 0)

    def forward(self, x):
        if hasattr(self, "rbr_reparam"):
            return self.nonlinearity(self.se(self.rbr_reparam(x)))
        identity = 0 if self.rbr_identity is None else self.rbr_identity(x)
        return self.nonlinearity(self.se(self.rbr_dense(x) + self.rbr_1x1(x) + identity))

    @staticmethod
    def _fuse(kernel, bn):
        std = (bn.running_var + bn.eps).sqrt()
        return kernel * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std

    @torch.no_grad()
    def switch_to_deploy(self):
        """RepVGG's re-parameterisation: one 3x3 conv (with bias) equal to the three branches."""
        k3, b3 = self._fuse(self.rbr_dense.conv.weight, self.rbr_dense.bn)
        k1, b1 = self._fuse(self.rbr_1x1.conv.weight, self.rbr_1x1.bn)
        kernel, bias = k3 + F.pad(k1, [1, 1, 1, 1]), b3 + b1
        if self.rbr_identity is not None:
            ident = torch.zeros(self.cin, self.cin, 3, 3)
            ident[range(self.cin), range(self.cin), 1, 1] = 1.0
            ki, bi = self._fuse(ident, self.rbr_identity)
            kernel, bias = kernel + ki, bias + bi
        conv = self.rbr_dense.conv
        self.rbr_reparam = nn.Conv2d(conv.in_channels, conv.out_channels, 3, conv.stride, 1, bias=True)
        self.rbr_reparam.weight.copy_(kernel)
        self.rbr_reparam.bias.copy_(bias)
        del self.rbr_dense, self.rbr_1x1
        if hasattr(self, "rbr_identity"):
            del self.rbr_identity


class RepVGG(nn.Module):
    def __init__(self, num_blocks, width_multiplier, feat_dim=512, out_h=7, out_w=7):
        super().__init__()
        self.in_planes = min(64, int(64 * width_multiplier[0]))
        self.stage0 = RepVGGBlock(3, self.in_planes, 1)
        for i, (planes, count) in enumerate(zip((64, 128, 256, 512), num_blocks), start=1):
            setattr(self, f"stage{i}", self._make_stage(int(planes * width_multiplier[i - 1]), count, 2))
        c = int(512 * width_multiplier[3])
        self.output_layer = nn.Sequential(nn.BatchNorm2d(c), Flatten(), nn.Linear(c * out_h * out_w, feat_dim),
                                          nn.BatchNorm1d(feat_dim))

    def _make_stage(self, planes, count, stride):
        blocks = []
        for s in [stride] + [1] * (count - 1):
            blocks.append(RepVGGBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        for stage in (self.stage0, self.stage1, self.stage2, self.stage3, self.stage4):
            x = stage(x)
        return self.output_layer(x)

    def switch_to_deploy(self):
        for m in self.modules():
            if isinstance(m, RepVGGBlock):
                m.switch_to_deploy()
        return self
