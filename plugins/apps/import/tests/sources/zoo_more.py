"""Re-creations of FaceX-Zoo's EfficientNet, HRNet, ResNeSt, ReXNet and Swin Transformer, written for
these tests from FaceX-Zoo's architecture (same module tree and ``state_dict`` keys, same computation,
FaceX-Zoo's quirks included: EfficientNet's static paddings computed for ``image_size`` and halved
after the stem, its unused ``_fc``; HRNet's transitions fed from the lowest branch; ResNeSt's
L2-normalised output; ReXNet's in-place partial identity). Sizes FaceX-Zoo hard-codes are
parameters only where the tests need a smaller network; the defaults are FaceX-Zoo's.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo_cnn import Flatten, l2_norm


# -- EfficientNet (backbone/EfficientNets.py, after lukemelas/EfficientNet-PyTorch) ---------------------
def round_filters(filters, width, divisor=8):
    if not width:
        return filters
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * filters else new)


class StaticSameConv(nn.Conv2d):
    """Conv2dStaticSamePadding: TensorFlow 'same' padding computed once for ``image_size``."""

    def __init__(self, cin, cout, kernel, stride=1, image_size=None, groups=1, bias=True):
        super().__init__(cin, cout, kernel, stride, 0, groups=groups, bias=bias)
        ih, iw = (image_size, image_size) if isinstance(image_size, int) else image_size
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h > 0 or pad_w > 0:
            self.static_padding = nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        else:
            self.static_padding = nn.Identity()

    def forward(self, x):
        return F.conv2d(self.static_padding(x), self.weight, self.bias, self.stride, 0, 1, self.groups)


def _swish(x):
    return x * torch.sigmoid(x)


def _out_size(size, stride):
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, int) else size
    return [math.ceil(h / stride), math.ceil(w / stride)]


class MBConvBlock(nn.Module):
    def __init__(self, cin, cout, kernel, stride, expand, image_size, se_ratio=0.25):
        super().__init__()
        self.expand, self.stride, self.cin, self.cout = expand, stride, cin, cout
        mom, eps = 0.01, 1e-3
        oup = cin * expand
        if expand != 1:
            self._expand_conv = StaticSameConv(cin, oup, 1, image_size=image_size, bias=False)
            self._bn0 = nn.BatchNorm2d(oup, momentum=mom, eps=eps)
        self._depthwise_conv = StaticSameConv(oup, oup, kernel, stride, image_size=image_size, groups=oup, bias=False)
        self._bn1 = nn.BatchNorm2d(oup, momentum=mom, eps=eps)
        image_size = _out_size(image_size, stride)
        squeezed = max(1, int(cin * se_ratio))
        self._se_reduce = StaticSameConv(oup, squeezed, 1, image_size=(1, 1))
        self._se_expand = StaticSameConv(squeezed, oup, 1, image_size=(1, 1))
        self._project_conv = StaticSameConv(oup, cout, 1, image_size=image_size, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, momentum=mom, eps=eps)

    def forward(self, inputs):
        x = inputs
        if self.expand != 1:
            x = _swish(self._bn0(self._expand_conv(inputs)))
        x = _swish(self._bn1(self._depthwise_conv(x)))
        squeezed = self._se_expand(_swish(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
        x = self._bn2(self._project_conv(torch.sigmoid(squeezed) * x))
        if self.stride == 1 and self.cin == self.cout:
            x = x + inputs  # drop connect only in training
        return x


EFFICIENTNET_B0 = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                   (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]


class EfficientNet(nn.Module):
    def __init__(self, out_h, out_w, feat_dim, width=1.0, depth=1.0, image_size=112, dropout_rate=0.2):
        super().__init__()
        mom, eps = 0.01, 1e-3
        stem = round_filters(32, width)
        self._conv_stem = StaticSameConv(3, stem, 3, 1, image_size=image_size, bias=False)
        self._bn0 = nn.BatchNorm2d(stem, momentum=mom, eps=eps)
        image_size = _out_size(image_size, 2)  # FaceX-Zoo keeps the ImageNet stem's halving here
        self._blocks = nn.ModuleList()
        for repeats, k, s, e, cin, cout in EFFICIENTNET_B0:
            cin, cout = round_filters(cin, width), round_filters(cout, width)
            repeats = int(math.ceil(depth * repeats))
            self._blocks.append(MBConvBlock(cin, cout, k, s, e, image_size))
            image_size = _out_size(image_size, s)
            for _ in range(repeats - 1):
                self._blocks.append(MBConvBlock(cout, cout, k, 1, e, image_size))
        head = round_filters(1280, width)
        self._conv_head = StaticSameConv(cout, head, 1, image_size=image_size, bias=False)
        self._bn1 = nn.BatchNorm2d(head, momentum=mom, eps=eps)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout_rate)
        self._fc = nn.Linear(head, 1000)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(1280), nn.Dropout(dropout_rate), Flatten(),
                                          nn.Linear(1280 * out_h * out_w, feat_dim), nn.BatchNorm1d(feat_dim))

    def forward(self, x):
        x = _swish(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = _swish(self._bn1(self._conv_head(x)))
        return self.output_layer(x)


# -- HRNet (backbone/HRNet.py, after HRNet-Image-Classification) --------------------------------------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


BLOCKS = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


def _make_layer(block, inplanes, planes, blocks, stride=1):
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                                   nn.BatchNorm2d(planes * block.expansion))
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    def __init__(self, num_branches, block, num_blocks, num_inchannels, num_channels):
        super().__init__()
        self.num_branches, self.num_inchannels = num_branches, list(num_inchannels)
        branches = []
        for i in range(num_branches):
            branches.append(_make_layer(block, self.num_inchannels[i], num_channels[i], num_blocks[i]))
            self.num_inchannels[i] = num_channels[i] * block.expansion
        self.branches = nn.ModuleList(branches)
        self.fuse_layers = self._make_fuse_layers()

    def _make_fuse_layers(self):
        if self.num_branches == 1:
            return None
        c = self.num_inchannels
        fuse = []
        for i in range(self.num_branches):
            row = []
            for j in range(self.num_branches):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(c[j], c[i], 1, 1, 0, bias=False), nn.BatchNorm2d(c[i]),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        if k == i - j - 1:
                            steps.append(nn.Sequential(nn.Conv2d(c[j], c[i], 3, 2, 1, bias=False),
                                                       nn.BatchNorm2d(c[i])))
                        else:
                            steps.append(nn.Sequential(nn.Conv2d(c[j], c[j], 3, 2, 1, bias=False), nn.BatchNorm2d(c[j]),
                                                       nn.ReLU(False)))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        return nn.ModuleList(fuse)

    def forward(self, x):
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        out = []
        for i in range(len(self.fuse_layers)):
            y = x[0] if i == 0 else self.fuse_layers[i][0](x[0])
            for j in range(1, self.num_branches):
                y = y + (x[j] if i == j else self.fuse_layers[i][j](x[j]))
            out.append(F.relu(y))
        return out


class HighResolutionNet(nn.Module):
    """``cfg`` is FaceX-Zoo's ``{'MODEL': yaml section}``; ``head_channels``/``final_channels`` (tests
    only) replace the classification head's fixed 32/64/128/256 and 2048."""

    def __init__(self, cfg, head_channels=(32, 64, 128, 256), final_channels=2048):
        super().__init__()
        model = cfg["MODEL"]
        extra = model["EXTRA"]
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        s1 = extra["STAGE1"]
        block = BLOCKS[s1["BLOCK"]]
        self.layer1 = _make_layer(block, 64, s1["NUM_CHANNELS"][0], s1["NUM_BLOCKS"][0])
        pre = [block.expansion * s1["NUM_CHANNELS"][0]]
        self.stage_cfgs = []
        for k in (2, 3, 4):
            cfg_k = extra[f"STAGE{k}"]
            block = BLOCKS[cfg_k["BLOCK"]]
            channels = [c * block.expansion for c in cfg_k["NUM_CHANNELS"]]
            setattr(self, f"transition{k - 1}", self._transition(pre, channels))
            modules = []
            for _ in range(cfg_k["NUM_MODULES"]):
                modules.append(HighResolutionModule(cfg_k["NUM_BRANCHES"], block, cfg_k["NUM_BLOCKS"], channels,
                                                    cfg_k["NUM_CHANNELS"]))
                channels = modules[-1].num_inchannels
            setattr(self, f"stage{k}", nn.Sequential(*modules))
            self.stage_cfgs.append(cfg_k)
            pre = channels
        self.incre_modules = nn.ModuleList(_make_layer(Bottleneck, c, h, 1) for c, h in zip(pre, head_channels))
        self.downsamp_modules = nn.ModuleList(
            nn.Sequential(nn.Conv2d(head_channels[i] * 4, head_channels[i + 1] * 4, 3, 2, 1),
                          nn.BatchNorm2d(head_channels[i + 1] * 4), nn.ReLU(inplace=True))
            for i in range(len(pre) - 1))
        self.final_layer = nn.Sequential(nn.Conv2d(head_channels[3] * 4, final_channels, 1, 1, 0),
                                         nn.BatchNorm2d(final_channels), nn.ReLU(inplace=True))
        self.output_layer = nn.Sequential(Flatten(), nn.Linear(final_channels * model["out_h"] * model["out_w"],
                                                               model["feat_dim"], False), nn.BatchNorm1d(512))

    @staticmethod
    def _transition(pre, cur):
        layers = []
        for i in range(len(cur)):
            if i < len(pre):
                layers.append(nn.Sequential(nn.Conv2d(pre[i], cur[i], 3, 1, 1, bias=False), nn.BatchNorm2d(cur[i]),
                                            nn.ReLU(inplace=True)) if cur[i] != pre[i] else None)
            else:
                steps = []
                for j in range(i + 1 - len(pre)):
                    cout = cur[i] if j == i - len(pre) else pre[-1]
                    steps.append(nn.Sequential(nn.Conv2d(pre[-1], cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout),
                                               nn.ReLU(inplace=True)))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for k, cfg_k in zip((2, 3, 4), self.stage_cfgs):
            transition = getattr(self, f"transition{k - 1}")
            xs = []
            for i in range(cfg_k["NUM_BRANCHES"]):
                if transition[i] is not None:
                    # FaceX-Zoo feeds a new (or changed) branch from the lowest-resolution output
                    xs.append(transition[i](ys[-1] if k > 2 else ys[0]))
                else:
                    xs.append(ys[i])
            ys = getattr(self, f"stage{k}")(xs)
        y = self.incre_modules[0](ys[0])
        for i in range(len(self.downsamp_modules)):
            y = self.incre_modules[i + 1](ys[i + 1]) + self.downsamp_modules[i](y)
        return self.output_layer(self.final_layer(y))


def hrnet_extra(width=18, stage1_channels=64, stage1_blocks=4, modules=(1, 4, 3), blocks=(4, 4, 4)):
    """A FaceX-Zoo ``EXTRA`` table (the default is the W18 layout of backbone_conf.yaml)."""
    def stage(m, n, block, nb, ch):
        return {"NUM_MODULES": m, "NUM_BRANCHES": n, "BLOCK": block, "NUM_BLOCKS": nb, "NUM_CHANNELS": ch,
                "FUSE_METHOD": "SUM"}
    return {"STAGE1": stage(1, 1, "BOTTLENECK", [stage1_blocks], [stage1_channels]),
            **{f"STAGE{k}": stage(modules[k - 2], k, "BASIC", [blocks[k - 2]] * k, [width * 2 ** i for i in range(k)])
               for k in (2, 3, 4)}}


# -- ResNeSt (backbone/resnest, after zhanghang1989/ResNeSt) -----------------------------------------
class SplAtConv2d(nn.Module):
    def __init__(self, cin, channels, stride=1, radix=2, reduction_factor=4):
        super().__init__()
        inter = max(cin * radix // reduction_factor, 32)
        self.radix, self.channels = radix, channels
        self.conv = nn.Conv2d(cin, channels * radix, 3, stride, 1, groups=radix, bias=False)
        self.bn0 = nn.BatchNorm2d(channels * radix)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, inter, 1)
        self.bn1 = nn.BatchNorm2d(inter)
        self.fc2 = nn.Conv2d(inter, channels * radix, 1)

    def forward(self, x):
        x = F.relu(self.bn0(self.conv(x)))
        batch = x.shape[0]
        splits = torch.split(x, x.shape[1] // self.radix, dim=1)
        gap = F.adaptive_avg_pool2d(sum(splits), 1)
        gap = F.relu(self.bn1(self.fc1(gap)))
        atten = self.fc2(gap).view(batch, self.radix, self.channels)
        atten = F.softmax(atten, dim=1).view(batch, -1, 1, 1)
        atten = torch.split(atten, x.shape[1] // self.radix, dim=1)
        return sum(a * s for a, s in zip(atten, splits)).contiguous()


class ResNeStBottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None, radix=2, avd=False):
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.avd = avd and stride > 1
        if self.avd:
            self.avd_layer = nn.AvgPool2d(3, stride, padding=1)
            stride = 1
        self.conv2 = SplAtConv2d(width, width, stride, radix)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.conv2(F.relu(self.bn1(self.conv1(x))))
        if self.avd:
            out = self.avd_layer(out)
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNeStBody(nn.Module):
    """resnest/resnet.py ``ResNet`` with the ImageNet stem removed and layer1 given stride 2."""

    def __init__(self, layers, radix=2):
        super().__init__()
        self.inplanes = 64
        for i, (planes, count) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            setattr(self, f"layer{i}", self._make_layer(planes, count, radix))

    def _make_layer(self, planes, blocks, radix, stride=2):
        downsample = nn.Sequential(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                                   nn.Conv2d(self.inplanes, planes * 4, 1, 1, bias=False), nn.BatchNorm2d(planes * 4))
        layers = [ResNeStBottleneck(self.inplanes, planes, stride, downsample, radix, avd=True)]
        self.inplanes = planes * 4
        layers += [ResNeStBottleneck(self.inplanes, planes, radix=radix, avd=True) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class ResNeSt(nn.Module):
    """``layers`` (tests only) replaces ResNeSt-50's 3,4,6,3."""

    def __init__(self, num_layers, drop_ratio, feat_dim, out_h=7, out_w=7, layers=(3, 4, 6, 3)):
        super().__init__()
        assert num_layers == 50
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        self.output_layer = nn.Sequential(nn.BatchNorm2d(2048), nn.Dropout(drop_ratio), Flatten(),
                                          nn.Linear(2048 * out_h * out_w, feat_dim), nn.BatchNorm1d(feat_dim))
        self.body = ResNeStBody(layers)

    def forward(self, x):
        return l2_norm(self.output_layer(self.body(self.input_layer(x))))


# -- ReXNet (backbone/ReXNets.py, after clovaai/rexnet) ---------------------------------------------
def _conv_bn_act(out, cin, c, kernel=1, stride=1, pad=0, groups=1, active=True):
    out.append(nn.Conv2d(cin, c, kernel, stride, pad, groups=groups, bias=False))
    out.append(nn.BatchNorm2d(c))
    if active:
        out.append(nn.ReLU(inplace=True))


class SwishModule(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def _conv_bn_swish(out, cin, c, kernel=1, stride=1, pad=0, groups=1):
    out.append(nn.Conv2d(cin, c, kernel, stride, pad, groups=groups, bias=False))
    out.append(nn.BatchNorm2d(c))
    out.append(SwishModule())


class ReXSE(nn.Module):
    def __init__(self, cin, c, se_ratio=12):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Conv2d(cin, c // se_ratio, 1, padding=0), nn.BatchNorm2d(c // se_ratio),
                                nn.ReLU(inplace=True), nn.Conv2d(c // se_ratio, c, 1, padding=0), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(self.avg_pool(x))


class LinearBottleneck(nn.Module):
    def __init__(self, cin, c, t, stride, use_se=True, se_ratio=12):
        super().__init__()
        self.use_shortcut = stride == 1 and cin <= c
        self.cin = cin
        out = []
        dw = cin * t if t != 1 else cin
        if t != 1:
            _conv_bn_swish(out, cin, dw)
        _conv_bn_act(out, dw, dw, 3, stride, 1, groups=dw, active=False)
        if use_se:
            out.append(ReXSE(dw, dw, se_ratio))
        out.append(nn.ReLU6())
        _conv_bn_act(out, dw, c, active=False)
        self.out = nn.Sequential(*out)

    def forward(self, x):
        out = self.out(x)
        if self.use_shortcut:
            out[:, 0:self.cin] += x
        return out


class ReXNetV1(nn.Module):
    def __init__(self, input_ch=16, final_ch=180, width_mult=1.0, depth_mult=1.0, use_se=True, se_ratio=12,
                 out_h=7, out_w=7, feat_dim=512, dropout_ratio=0.2):
        super().__init__()
        layers = [math.ceil(n * depth_mult) for n in (1, 2, 2, 3, 3, 5)]
        strides = sum([[s] + [1] * (layers[i] - 1) for i, s in enumerate((1, 2, 2, 2, 1, 2))], [])
        ses = sum([[s] * layers[i] for i, s in enumerate((False, False, True, True, True, True))], []) if use_se \
            else [False] * sum(layers)
        ts = [1] * layers[0] + [6] * sum(layers[1:])
        n = sum(layers)
        stem = 32 / width_mult if width_mult < 1.0 else 32
        planes = input_ch / width_mult if width_mult < 1.0 else input_ch
        cins, couts = [], []
        for i in range(n):
            if i == 0:
                cins.append(int(round(stem * width_mult)))
                couts.append(int(round(planes * width_mult)))
            else:
                cins.append(int(round(planes * width_mult)))
                planes += final_ch / (n * 1.0)
                couts.append(int(round(planes * width_mult)))
        features = []
        _conv_bn_swish(features, 3, int(round(stem * width_mult)), 3, 1, 1)
        for cin, c, t, s, se in zip(cins, couts, ts, strides, ses):
            features.append(LinearBottleneck(cin, c, t, s, se, se_ratio))
        _conv_bn_swish(features, c, int(512 * width_mult))
        self.features = nn.Sequential(*features)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(dropout_ratio), Flatten(),
                                          nn.Linear(512 * out_h * out_w, feat_dim), nn.BatchNorm1d(feat_dim))

    def forward(self, x):
        return self.output_layer(self.features(x))


# -- Swin Transformer (backbone/Swin_Transformer.py) ---------------------------------------------------
class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def window_partition(x, ws):
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, c)


def window_reverse(windows, ws, h, w):
    b = int(windows.shape[0] / (h * w / ws / ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


class WindowAttention(nn.Module):
    def __init__(self, dim, ws, num_heads):
        super().__init__()
        self.dim, self.ws, self.num_heads = dim, ws, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) * (2 * ws - 1), num_heads))
        coords = torch.stack(torch.meshgrid([torch.arange(ws), torch.arange(ws)], indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += ws - 1
        rel[:, :, 1] += ws - 1
        rel[:, :, 0] *= 2 * ws - 1
        self.register_buffer("relative_position_index", rel.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x, mask=None):
        b_, n, c = x.shape
        qkv = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b_ // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = self.attn_drop(self.softmax(attn))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(b_, n, c)))


class SwinBlock(nn.Module):
    def __init__(self, dim, resolution, num_heads, ws=7, shift=0, mlp_ratio=4.0):
        super().__init__()
        self.resolution, self.ws, self.shift = resolution, ws, shift
        if min(resolution) <= ws:
            self.shift, self.ws = 0, min(resolution)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, self.ws, num_heads)
        self.drop_path = nn.Identity()  # DropPath: identity in eval
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if self.shift > 0:
            h, w = resolution
            img = torch.zeros((1, h, w, 1))
            cnt = 0
            for hs in (slice(0, -self.ws), slice(-self.ws, -self.shift), slice(-self.shift, None)):
                for wsl in (slice(0, -self.ws), slice(-self.ws, -self.shift), slice(-self.shift, None)):
                    img[:, hs, wsl, :] = cnt
                    cnt += 1
            mw = window_partition(img, self.ws).view(-1, self.ws * self.ws)
            mask = mw.unsqueeze(1) - mw.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        else:
            mask = None
        self.register_buffer("attn_mask", mask)

    def forward(self, x):
        h, w = self.resolution
        b, _, c = x.shape
        shortcut = x
        x = self.norm1(x).view(b, h, w, c)
        if self.shift > 0:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, self.ws).view(-1, self.ws * self.ws, c)
        windows = self.attn(windows, mask=self.attn_mask).view(-1, self.ws, self.ws, c)
        x = window_reverse(windows, self.ws, h, w)
        if self.shift > 0:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = shortcut + self.drop_path(x.view(b, h * w, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    def __init__(self, resolution, dim):
        super().__init__()
        self.resolution = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x):
        h, w = self.resolution
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class BasicLayer(nn.Module):
    def __init__(self, dim, resolution, depth, num_heads, ws, mlp_ratio, downsample):
        super().__init__()
        self.blocks = nn.ModuleList([SwinBlock(dim, resolution, num_heads, ws, 0 if i % 2 == 0 else ws // 2, mlp_ratio)
                                     for i in range(depth)])
        self.downsample = PatchMerging(resolution, dim) if downsample else None

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed(nn.Module):
    def __init__(self, img_size=224, patch_size=4, in_chans=3, embed_dim=96):
        super().__init__()
        self.resolution = [img_size // patch_size, img_size // patch_size]
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x):
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class SwinTransformer(nn.Module):
    def __init__(self, img_size=224, patch_size=4, in_chans=3, embed_dim=96, depths=(2, 2, 18, 2),
                 num_heads=(3, 6, 12, 24), window_size=7, mlp_ratio=4.0):
        super().__init__()
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        res = self.patch_embed.resolution
        self.pos_drop = nn.Dropout(0.0)
        self.layers = nn.ModuleList(
            BasicLayer(int(embed_dim * 2 ** i), (res[0] // 2 ** i, res[1] // 2 ** i), depths[i], num_heads[i],
                       window_size, mlp_ratio, downsample=i < len(depths) - 1)
            for i in range(len(depths)))
        self.output_layer = nn.Sequential(nn.LayerNorm(int(embed_dim * 2 ** (len(depths) - 1))), Flatten(),
                                          nn.Linear(49 * 768, 512), nn.BatchNorm1d(512))

    def forward(self, x):
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            x = layer(x)
        return self.output_layer(x)
