"""The block library: every module a built-in architecture is made of.

Rules that keep rendered models standalone and readable: each class imports nothing but
torch (``torch``, ``nn``, ``F``) and ``math``; no class names another class of this file
(parts arrive as constructor arguments: factories such as ``norm`` or ``mixer``), so the
renderer copies exactly the classes a model uses, verbatim. Every module maps NCHW to NCHW
unless its docstring says otherwise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# -- convolutions ----------------------------------------------------------------------------


class ConvKxK(nn.Conv2d):
    """Standard k x k convolution (no bias: a norm follows)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel_size: int = 3) -> None:
        super().__init__(in_ch, out_ch, kernel_size, stride, kernel_size // 2, bias=False)


class DilatedConv(nn.Conv2d):
    """k x k convolution with holes: a wider receptive field at the same cost."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel_size: int = 3, dilation: int = 2) -> None:
        super().__init__(in_ch, out_ch, kernel_size, stride, dilation * (kernel_size // 2), dilation, bias=False)


class GroupedConv(nn.Conv2d):
    """k x k convolution in groups (channels must divide by ``groups``)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel_size: int = 3, groups: int = 4) -> None:
        groups = math.gcd(math.gcd(in_ch, out_ch), groups)
        super().__init__(in_ch, out_ch, kernel_size, stride, kernel_size // 2, groups=groups, bias=False)


class PointwiseConv(nn.Conv2d):
    """1 x 1 convolution: mixes channels only."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__(in_ch, out_ch, 1, stride, bias=False)


class DepthwiseConv(nn.Conv2d):
    """k x k convolution per channel (groups = input channels)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel_size: int = 3) -> None:
        super().__init__(in_ch, out_ch, kernel_size, stride, kernel_size // 2, groups=in_ch, bias=False)


class DepthwiseSeparable(nn.Module):
    """Depthwise k x k then pointwise 1 x 1 (MobileNet)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel_size: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel_size, stride, kernel_size // 2, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class LargeKernelConv(nn.Module):
    """Depthwise large kernel (7 x 7 or more) then pointwise, as in ConvNeXt / RepLKNet."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel_size: int = 7) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel_size, stride, kernel_size // 2, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class PoolMixer(nn.Module):
    """Token mixing by average pooling minus the input (PoolFormer); 1 x 1 when widths differ."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        self.stride = stride
        self.proj = nn.Conv2d(in_ch, out_ch, 1, bias=False) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.stride == 1 else x[:, :, :: self.stride, :: self.stride]
        return self.proj(self.pool(x) - shortcut)


class ChannelShuffle(nn.Module):
    """Interleaves channel groups so grouped convolutions exchange information (ShuffleNet)."""

    def __init__(self, channels: int, groups: int = 4) -> None:
        super().__init__()
        self.groups = math.gcd(channels, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class MixerThen(nn.Sequential):
    """A mixer followed by a channel operation (a grouped convolution, then a shuffle)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, *, mixer, after) -> None:
        super().__init__(mixer(in_ch, out_ch, stride), after(out_ch))


class ConvMLP(nn.Module):
    """Channel MLP: expand with 1 x 1, activate, project back (MLP expansion)."""

    def __init__(self, channels: int, expansion: float, act: type[nn.Module]) -> None:
        super().__init__()
        hidden = max(8, int(channels * expansion))
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = act()
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


# -- multi-branch mixers ---------------------------------------------------------------------


class SplitTransformMerge(nn.Module):
    """ResNeXt cardinality: split into ``cardinality`` paths, transform each, merge by 1 x 1."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel_size: int = 3, cardinality: int = 4) -> None:
        super().__init__()
        width = max(cardinality, out_ch // cardinality * cardinality)
        self.split = nn.Conv2d(in_ch, width, 1, bias=False)
        self.transform = nn.Conv2d(width, width, kernel_size, stride, kernel_size // 2, groups=cardinality, bias=False)
        self.merge = nn.Conv2d(width, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(F.relu(self.transform(F.relu(self.split(x)))))


class MultiKernel(nn.Module):
    """Inception-style parallel 3 x 3 and dilated 3 x 3 (5 x 5 field) branches, merged by ``fusion``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, fusion) -> None:
        super().__init__()
        self.branch3 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.branch5 = nn.Conv2d(in_ch, out_ch, 3, stride, 2, dilation=2, bias=False)
        self.fusion = fusion(out_ch, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fusion([self.branch3(x), self.branch5(x)])


class RepConv(nn.Module):
    """Re-parameterisable block (RepVGG): 3 x 3, 1 x 1 and identity branches summed while training."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, norm: type[nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv3 = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), norm(out_ch))
        self.conv1 = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), norm(out_ch))
        self.identity = norm(out_ch) if in_ch == out_ch and stride == 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(x) + self.conv1(x)
        return out + self.identity(x) if self.identity is not None else out


class SumFusion(nn.Module):
    """Merges branches by addition."""

    def __init__(self, channels: int, branches: int) -> None:
        super().__init__()

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(xs).sum(0)


class ConcatFusion(nn.Module):
    """Merges branches by concatenation and a 1 x 1 projection."""

    def __init__(self, channels: int, branches: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels * branches, channels, 1, bias=False)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.proj(torch.cat(xs, dim=1))


class GatedFusion(nn.Module):
    """Merges branches with softmax gates computed from their pooled sum (selective kernel)."""

    def __init__(self, channels: int, branches: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels * branches, 1)
        self.branches = branches

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack(xs, dim=1)  # (b, branches, c, h, w)
        pooled = stacked.sum(1).mean((2, 3), keepdim=True)
        gates = self.fc2(F.relu(self.fc1(pooled))).view(stacked.shape[0], self.branches, -1, 1, 1)
        return (stacked * gates.softmax(dim=1)).sum(1)


# -- attention operators (dim -> dim, stride 1) -----------------------------------------------


class GlobalAttention(nn.Module):
    """Multi-head self-attention over all H x W positions (ViT)."""

    def __init__(self, dim: int, heads: int = 2) -> None:
        super().__init__()
        self.heads = math.gcd(dim, heads)
        self.qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).view(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        attn = (q.transpose(-2, -1) @ k * (c // self.heads) ** -0.5).softmax(-1)
        return self.proj((v @ attn.transpose(-2, -1)).reshape(b, c, h, w))


class WindowAttention(nn.Module):
    """Self-attention inside non-overlapping ``window`` x ``window`` windows (Swin)."""

    def __init__(self, dim: int, heads: int = 2, window: int = 4) -> None:
        super().__init__()
        self.heads = math.gcd(dim, heads)
        self.window = window
        self.qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s = min(self.window, h, w)
        ph, pw = (s - h % s) % s, (s - w % s) % s
        qkv = F.pad(self.qkv(x), (0, pw, 0, ph))
        hp, wp = h + ph, w + pw
        d = c // self.heads
        qkv = qkv.view(b, 3, self.heads, d, hp // s, s, wp // s, s).permute(1, 0, 2, 4, 6, 5, 7, 3)
        q, k, v = qkv.reshape(3, b, self.heads, -1, s * s, d).unbind(0)
        out = ((q @ k.transpose(-2, -1)) * d**-0.5).softmax(-1) @ v  # (b, heads, windows, s*s, d)
        out = out.view(b, self.heads, hp // s, wp // s, s, s, d).permute(0, 1, 6, 2, 4, 3, 5)
        return self.proj(out.reshape(b, c, hp, wp)[:, :, :h, :w])


class LinearAttention(nn.Module):
    """Softmax-free attention with an elu + 1 feature map: cost linear in the number of positions."""

    def __init__(self, dim: int, heads: int = 2) -> None:
        super().__init__()
        self.heads = math.gcd(dim, heads)
        self.qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).view(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        q, k = F.elu(q) + 1, F.elu(k) + 1
        context = k @ v.transpose(-2, -1)  # (b, heads, d, d)
        norm = (q * k.sum(-1, keepdim=True)).sum(2, keepdim=True) + 1e-6
        return self.proj(((context.transpose(-2, -1) @ q) / norm).reshape(b, c, h, w))


class AxialAttention(nn.Module):
    """Self-attention along rows, then along columns (Axial-DeepLab)."""

    def __init__(self, dim: int, heads: int = 2) -> None:
        super().__init__()
        self.heads = math.gcd(dim, heads)
        self.row = nn.MultiheadAttention(dim, self.heads, batch_first=True)
        self.col = nn.MultiheadAttention(dim, self.heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(b * h, w, c)
        rows = self.row(rows, rows, rows, need_weights=False)[0].view(b, h, w, c)
        cols = rows.transpose(1, 2).reshape(b * w, h, c)
        cols = self.col(cols, cols, cols, need_weights=False)[0].view(b, w, h, c)
        return cols.permute(0, 3, 2, 1)


# -- normalization -----------------------------------------------------------------------------


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an NCHW tensor."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GroupNorm2d(nn.GroupNorm):
    """Group norm with up to 8 groups (as many as divide the channels)."""

    def __init__(self, channels: int, groups: int = 8) -> None:
        super().__init__(math.gcd(channels, groups), channels)


class NormFreeAffine(nn.Module):
    """Norm-free layer: a learnable per-channel scale and shift, no batch or layer statistics."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.shift = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


# -- recalibration -----------------------------------------------------------------------------


class SqueezeExcite(nn.Module):
    """Channel gates from globally pooled features through a bottleneck MLP (SENet)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class EfficientChannelAttention(nn.Module):
    """Channel gates from a 1-D convolution across pooled channels, no reduction (ECA-Net)."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.conv(x.mean((2, 3)).unsqueeze(1)).squeeze(1)
        return x * torch.sigmoid(gate)[:, :, None, None]


class SpatialAttention(nn.Module):
    """A spatial gate from a 7 x 7 convolution over channel-wise mean and max maps."""

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(maps))


class CBAM(nn.Module):
    """Channel attention (shared MLP on average and max pooling), then spatial attention (CBAM)."""

    def __init__(self, channels: int, reduction: int = 4, kernel_size: int = 7) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.sigmoid(self.mlp(x.mean((2, 3), keepdim=True)) + self.mlp(x.amax((2, 3), keepdim=True)))
        maps = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(maps))


# -- residual parts ------------------------------------------------------------------------------


class ProjectionShortcut(nn.Sequential):
    """1 x 1 convolution and norm on the residual path when shape changes (or always, if asked)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, norm: type[nn.Module]) -> None:
        super().__init__(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), norm(out_ch))


class LayerScale(nn.Module):
    """Learnable per-channel scale of a residual branch, initialised small (CaiT)."""

    def __init__(self, channels: int, init: float = 0.1) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((1, channels, 1, 1), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training.

    ``channels`` is accepted, and unused, so that every tail part is built as ``part(channels)``.
    """

    def __init__(self, channels: int, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= self.p
        return x * keep / (1 - self.p)


# -- blocks ------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two spatial mixers with norm and activation, plus a shortcut (ResNet basic block)."""

    def __init__(self, in_ch, out_ch, stride, mixer, norm, act, shortcut, tail) -> None:
        super().__init__()
        body = [mixer(in_ch, out_ch, stride), norm(out_ch), act(), mixer(out_ch, out_ch, 1), norm(out_ch)]
        self.body = nn.Sequential(*body)
        self.tail = tail(out_ch)
        self.shortcut = shortcut(in_ch, out_ch, stride)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.tail(self.body(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1 x 1 reduce, spatial mixer, 1 x 1 expand, plus a shortcut (ResNet bottleneck)."""

    def __init__(self, in_ch, out_ch, stride, mixer, norm, act, shortcut, tail, expansion: float = 0.25) -> None:
        super().__init__()
        mid = max(8, int(out_ch * expansion))
        expand = [nn.Conv2d(in_ch, mid, 1, bias=False), norm(mid), act()]
        mix = [mixer(mid, mid, stride), norm(mid), act()]
        self.body = nn.Sequential(*expand, *mix, nn.Conv2d(mid, out_ch, 1, bias=False), norm(out_ch))
        self.tail = tail(out_ch)
        self.shortcut = shortcut(in_ch, out_ch, stride)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.tail(self.body(x)) + self.shortcut(x))


class InvertedResidual(nn.Module):
    """1 x 1 expand, spatial mixer on the wide features, linear 1 x 1 project (MobileNetV2)."""

    def __init__(self, in_ch, out_ch, stride, mixer, norm, act, shortcut, tail, expansion: float = 4.0) -> None:
        super().__init__()
        mid = max(8, int(in_ch * expansion))
        expand = [nn.Conv2d(in_ch, mid, 1, bias=False), norm(mid), act()]
        mix = [mixer(mid, mid, stride), norm(mid), act()]
        self.body = nn.Sequential(*expand, *mix, nn.Conv2d(mid, out_ch, 1, bias=False), norm(out_ch))
        self.tail = tail(out_ch)
        self.shortcut = shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x)) + self.shortcut(x)


class ConvNeXtBlock(nn.Module):
    """Spatial mixer (7 x 7 depthwise), norm, channel MLP, residual (ConvNeXt)."""

    def __init__(self, channels, mixer, norm, mlp, tail) -> None:
        super().__init__()
        self.mixer = mixer(channels)
        self.norm = norm(channels)
        self.mlp = mlp(channels)
        self.tail = tail(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.tail(self.mlp(self.norm(self.mixer(x))))


class TransformerBlock(nn.Module):
    """Pre-norm attention and pre-norm channel MLP, each with a residual (ViT block)."""

    def __init__(self, channels, attention, norm, mlp, tail) -> None:
        super().__init__()
        self.norm1 = norm(channels)
        self.attention = attention(channels)
        self.tail1 = tail(channels)
        self.norm2 = norm(channels)
        self.mlp = mlp(channels)
        self.tail2 = tail(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.tail1(self.attention(self.norm1(x)))
        return x + self.tail2(self.mlp(self.norm2(x)))


class MetaFormerBlock(nn.Module):
    """Pre-norm token mixer (pooling, attention or convolution) and pre-norm MLP (MetaFormer)."""

    def __init__(self, channels, token_mixer, norm, mlp, tail) -> None:
        super().__init__()
        self.norm1 = norm(channels)
        self.token_mixer = token_mixer(channels)
        self.tail1 = tail(channels)
        self.norm2 = norm(channels)
        self.mlp = mlp(channels)
        self.tail2 = tail(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.tail1(self.token_mixer(self.norm1(x)))
        return x + self.tail2(self.mlp(self.norm2(x)))


class DenseStage(nn.Module):
    """Dense connectivity: every block sees the concatenation of all earlier outputs (DenseNet)."""

    def __init__(self, channels: int, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.reduce = nn.ModuleList(nn.Conv2d(channels * (i + 1), channels, 1, bias=False) for i in range(len(blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for block, reduce in zip(self.blocks, self.reduce, strict=True):
            features.append(block(reduce(torch.cat(features, dim=1))))
        return features[-1]


class Tail(nn.Sequential):
    """What follows a residual branch: recalibration, layer scale, stochastic depth (any may be absent)."""

    def __init__(self, channels: int, parts: list) -> None:
        super().__init__(*(part(channels) for part in parts))


# -- stems, transitions, head -----------------------------------------------------------------


class ConvStem(nn.Sequential):
    """3 x 3 convolution, norm, activation."""

    def __init__(self, in_ch: int, out_ch: int, norm, act, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), norm(out_ch), act())


class PatchifyStem(nn.Sequential):
    """Non-overlapping p x p patches embedded by a stride-p convolution (ViT, ConvNeXt)."""

    def __init__(self, in_ch: int, out_ch: int, norm, patch: int = 2) -> None:
        super().__init__(nn.Conv2d(in_ch, out_ch, patch, patch), norm(out_ch))


class OverlapPatchEmbed(nn.Sequential):
    """Overlapping patches: a (2p - 1) x (2p - 1) convolution with stride p (PVTv2, SegFormer)."""

    def __init__(self, in_ch: int, out_ch: int, norm, patch: int = 2) -> None:
        super().__init__(nn.Conv2d(in_ch, out_ch, 2 * patch - 1, patch, patch - 1), norm(out_ch))


class PositionalEncoding(nn.Module):
    """Learned absolute position embedding added to the feature map."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(1, channels, height, width))
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos


class ConvDownsample(nn.Sequential):
    """Strided 3 x 3 convolution and norm between stages."""

    def __init__(self, in_ch: int, out_ch: int, norm) -> None:
        super().__init__(nn.Conv2d(in_ch, out_ch, 3, 2, 1, bias=False), norm(out_ch))


class PoolDownsample(nn.Sequential):
    """2 x 2 average pooling, 1 x 1 convolution and norm between stages."""

    def __init__(self, in_ch: int, out_ch: int, norm) -> None:
        super().__init__(nn.AvgPool2d(2, ceil_mode=True), nn.Conv2d(in_ch, out_ch, 1, bias=False), norm(out_ch))


class PatchMerging(nn.Module):
    """Concatenates each 2 x 2 neighbourhood into channels, then a linear projection (Swin)."""

    def __init__(self, in_ch: int, out_ch: int, norm) -> None:
        super().__init__()
        self.norm = norm(4 * in_ch)
        self.proj = nn.Conv2d(4 * in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, x.shape[3] % 2, 0, x.shape[2] % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], 1)
        return self.proj(self.norm(x))


class ChannelProjection(nn.Sequential):
    """1 x 1 convolution and norm where a stage changes width without downsampling."""

    def __init__(self, in_ch: int, out_ch: int, norm) -> None:
        super().__init__(nn.Conv2d(in_ch, out_ch, 1, bias=False), norm(out_ch))


class AvgMaxPool(nn.Module):
    """Global average and global max pooling, concatenated: (b, c, h, w) -> (b, 2c, 1, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)], dim=1)


class Net(nn.Module):
    """Stem, stages, classifier head."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.Sequential(*stages)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))
