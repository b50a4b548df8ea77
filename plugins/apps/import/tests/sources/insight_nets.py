"""Re-creations of InsightFace ``arcface_torch`` backbones (``backbones/iresnet.py``, ``mobilefacenet.py``,
``vit.py``), written for these tests from their architecture: same module tree (``state_dict`` keys),
same computation, their own quirks (IResNet's frozen ``features.weight``, MBF's ``layers``
Sequentials, ViT's ReLU6 MLP, flatten head with BatchNorm eps 2e-5 and training-only mask token),
plus InsightFace's own preprocessing and its ``torch2onnx.py`` export.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn


# -- IResNet -------------------------------------------------------------------------------------------
class IBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        if self.downsample is not None:
            identity = self.downsample(x)
        return out + identity


class IResNet(nn.Module):
    fc_scale = 7 * 7

    def __init__(self, layers, dropout=0.0, num_features=512):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-05)
        self.prelu = nn.PReLU(64)
        self.layer1 = self._make_layer(64, layers[0], 2)
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.bn2 = nn.BatchNorm2d(512, eps=1e-05)
        self.dropout = nn.Dropout(p=dropout, inplace=True)
        self.fc = nn.Linear(512 * self.fc_scale, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-05)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)

    def _make_layer(self, planes, blocks, stride):
        downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                   nn.BatchNorm2d(planes, eps=1e-05))
        layers = [IBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.bn2(x), 1)
        x = self.dropout(x)
        return self.features(self.fc(x.float()))


# -- MobileFaceNet / MBF -----------------------------------------------------------------------------
class Flatten(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(cin, cout, kernel, groups=groups, stride=stride, padding=padding,
                                              bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout))

    def forward(self, x):
        return self.layers(x)


class LinearBlock(nn.Module):
    def __init__(self, cin, cout, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False),
                                    nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    def __init__(self, cin, cout, residual=False, stride=2, groups=1):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(ConvBlock(cin, groups), ConvBlock(groups, groups, 3, stride, 1, groups=groups),
                                    LinearBlock(groups, cout))

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, c, num_block, groups):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(c, c, True, 1, groups) for _ in range(num_block)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    def __init__(self, embedding_size):
        super().__init__()
        self.layers = nn.Sequential(LinearBlock(512, 512, (7, 7), groups=512), Flatten(),
                                    nn.Linear(512, embedding_size, bias=False), nn.BatchNorm1d(embedding_size))

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(nn.Module):
    def __init__(self, num_features=512, blocks=(1, 4, 6, 2), scale=2):
        super().__init__()
        s = scale
        self.layers = nn.ModuleList([ConvBlock(3, 64 * s, 3, 2, 1)])
        if blocks[0] == 1:
            self.layers.append(ConvBlock(64 * s, 64 * s, 3, 1, 1, groups=64))
        else:
            self.layers.append(Residual(64 * s, blocks[0], 128))
        self.layers.extend([DepthWise(64 * s, 64 * s, stride=2, groups=128), Residual(64 * s, blocks[1], 128),
                            DepthWise(64 * s, 128 * s, stride=2, groups=256), Residual(128 * s, blocks[2], 256),
                            DepthWise(128 * s, 128 * s, stride=2, groups=512), Residual(128 * s, blocks[3], 256)])
        self.conv_sep = ConvBlock(128 * s, 512)
        self.features = GDC(num_features)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.features(self.conv_sep(x))


# -- ViT ---------------------------------------------------------------------------------------------
class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU6()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    def __init__(self, dim, num_heads=8):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0].float(), qkv[1].float(), qkv[2].float()
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (self.attn_drop(attn) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.drop_path = nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, img_size=112, patch_size=9, embed_dim=256):
        super().__init__()
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(3, embed_dim, patch_size, patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    def __init__(self, img_size=112, patch_size=9, num_classes=512, embed_dim=256, depth=12, num_heads=8,
                 mask_ratio=0.1):
        super().__init__()
        self.patch_embed = PatchEmbed(img_size, patch_size, embed_dim)
        self.num_patches, self.embed_dim, self.mask_ratio = self.patch_embed.num_patches, embed_dim, mask_ratio
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, embed_dim))
        self.pos_drop = nn.Dropout(0.0)
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim)
        self.feature = nn.Sequential(
            nn.Linear(embed_dim * self.num_patches, embed_dim, bias=False), nn.BatchNorm1d(embed_dim, eps=2e-5),
            nn.Linear(embed_dim, num_classes, bias=False), nn.BatchNorm1d(num_classes, eps=2e-5))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x):
        b = x.shape[0]
        x = self.pos_drop(self.patch_embed(x) + self.pos_embed)
        for blk in self.blocks:  # eval: no token masking
            x = blk(x)
        x = self.norm(x.float())
        return self.feature(torch.reshape(x, (b, self.num_patches * self.embed_dim)))


# -- InsightFace's own preprocessing, saving and export ------------------------------------------------
def inference_input(crops_bgr):
    """arcface_torch ``inference.py``: BGR -> RGB, CHW, ``div(255).sub(0.5).div(0.5)``."""
    rgb = [cv2.cvtColor(img, cv2.COLOR_BGR2RGB).transpose(2, 0, 1) for img in crops_bgr]
    return torch.from_numpy(np.stack(rgb)).float().div_(255).sub_(0.5).div_(0.5)


def arcface_onnx_input(crops_bgr, model_path):
    """The model packs' ``ArcFaceONNX.get_feat``: mean/std 127.5 unless the graph's first nodes
    subtract and multiply (an MXNet-converted model), then ``blobFromImages(..., swapRB=True)``."""
    import onnx

    nodes = onnx.load(str(model_path)).graph.node[:8]
    has_sub = any(n.name.startswith(("Sub", "_minus")) for n in nodes)
    has_mul = any(n.name.startswith(("Mul", "_mul")) for n in nodes)
    mean, std = (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)
    return cv2.dnn.blobFromImages(list(crops_bgr), 1.0 / std, (112, 112), (mean, mean, mean), swapRB=True)


def torch2onnx(net, output, opset=11, dynamo=False):
    """``torch2onnx.py``'s ``convert_onnx``: trace at 1x3x112x112 with input ``data``, then make the
    batch dimension dynamic. ``dynamo=False`` is the TorchScript exporter the script was written for."""
    import onnx

    img = np.random.randint(0, 255, size=(112, 112, 3), dtype=np.int32).astype(np.float32)
    img = torch.from_numpy(((img / 255.0 - 0.5) / 0.5).transpose((2, 0, 1))).unsqueeze(0).float()
    import warnings

    net.eval()
    with warnings.catch_warnings():  # torch deprecates the TorchScript exporter torch2onnx.py was written for
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, img, str(output), input_names=["data"], keep_initializers_as_inputs=False,
                          verbose=False, opset_version=opset, dynamo=dynamo)
    model = onnx.load(str(output))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "None"
    onnx.save(model, str(output))
