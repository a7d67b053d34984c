"""restora's own small noise-conditional UNet (fully convolutional, EDM-preconditioned).

No attention, so it runs at any size divisible by ``2 ** (len(channel_mult) - 1)``; noise level
enters every residual block through a scale-shift of its normalised activations.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.priors.base import EDMPrior

MAX_LEVELS = 8
LIMITS = (("in_channels", 1, 64), ("channels", 1, 1024), ("channel_mult", 1, 16), ("num_blocks", 0, 16),
          ("emb_channels", 2, 4096), ("groups", 1, 1024))
"""Ranges a :class:`UNetConfig` may take: beyond them a config is a mistake (or a hostile file), not a
network that fits in memory."""


@dataclass
class UNetConfig:
    """Architecture of :class:`UNet`; ``num_blocks[i]`` residual blocks at level i."""

    in_channels: int = 3
    channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2, 3, 4)
    num_blocks: tuple[int, ...] = (1, 2, 2, 2)
    emb_channels: int = 128
    groups: int = 16
    dropout: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.channel_mult = tuple(self.channel_mult)
        self.num_blocks = tuple(self.num_blocks)
        for key, low, high in LIMITS:
            values = getattr(self, key)
            for v in values if isinstance(values, tuple) else (values,):
                if not (isinstance(v, int) and not isinstance(v, bool) and low <= v <= high):
                    raise RestoraError(f"UNet config: {key} must be integers in [{low}, {high}], got "
                                       f"{str(values)[:60]}")
        if not 1 <= len(self.channel_mult) <= MAX_LEVELS:
            raise RestoraError(f"UNet config: 1 to {MAX_LEVELS} levels, got {len(self.channel_mult)}")
        if len(self.num_blocks) != len(self.channel_mult):
            raise RestoraError("num_blocks and channel_mult must have the same length")
        for m in self.channel_mult:
            if (self.channels * m) % self.groups:
                raise RestoraError(f"channels*{m} must be divisible by groups={self.groups}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["num_blocks"] = list(self.num_blocks)
        return d


def fourier_embedding(c_noise: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of the scalar noise condition (one row per sample)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=c_noise.device) / half)
    args = c_noise.float()[:, None] * 1000.0 * freqs[None] / 250.0
    return torch.cat([args.cos(), args.sin()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the noise embedding as scale/shift of the second norm."""

    def __init__(self, cin: int, cout: int, emb: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, 2 * cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(self.act(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """The raw network F(c_in * x, c_noise) of :class:`EDMPrior`."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        c, emb, g, p = config.channels, config.emb_channels, config.groups, config.dropout
        self.emb_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = nn.Conv2d(config.in_channels, c, 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        skips = []
        ch = c
        for level, (mult, n) in enumerate(zip(config.channel_mult, config.num_blocks, strict=True)):
            blocks = nn.ModuleList()
            for _ in range(n):
                blocks.append(ResBlock(ch, c * mult, emb, g, p))
                ch = c * mult
            self.down.append(blocks)
            skips.append(ch)
            last = level == len(config.channel_mult) - 1
            self.pool.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb, g, p), ResBlock(ch, ch, emb, g, p)])
        self.up = nn.ModuleList()
        self.unpool = nn.ModuleList()
        for level in reversed(range(len(config.channel_mult))):
            mult, n = config.channel_mult[level], config.num_blocks[level]
            blocks = nn.ModuleList()
            cin = ch + skips[level]
            for _ in range(n):
                blocks.append(ResBlock(cin, c * mult, emb, g, p))
                cin = ch = c * mult
            self.up.append(blocks)
            self.unpool.append(
                nn.Identity() if level == 0
                else nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                   nn.Conv2d(ch, c * config.channel_mult[level - 1], 3, padding=1))
            )
            if level:
                ch = c * config.channel_mult[level - 1]
        self.out = nn.Sequential(
            nn.GroupNorm(g, ch), nn.SiLU(), nn.Conv2d(ch, config.in_channels, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @property
    def size_multiple(self) -> int:
        return 2 ** (len(self.config.channel_mult) - 1)

    def forward(self, x: Tensor, c_noise: Tensor) -> Tensor:
        emb = self.emb_mlp(fourier_embedding(c_noise, self.config.emb_channels).to(x.dtype))
        h = self.stem(x)
        skips = []
        for blocks, pool in zip(self.down, self.pool, strict=True):
            for block in blocks:
                h = block(h, emb)
            skips.append(h)
            h = pool(h)
        for block in self.mid:
            h = block(h, emb)
        for blocks, unpool in zip(self.up, self.unpool, strict=True):
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, emb)
            h = unpool(h)
        return self.out(h)


MODEL_SIZES = {
    "tiny": UNetConfig(channels=16, channel_mult=(1, 2, 2), num_blocks=(1, 1, 1), groups=8),
    "small": UNetConfig(channels=32, channel_mult=(1, 2, 3, 4, 4), num_blocks=(1, 1, 2, 2, 2)),
    "base": UNetConfig(channels=64, channel_mult=(1, 2, 3, 4, 4), num_blocks=(1, 2, 2, 2, 2)),
    "large": UNetConfig(channels=96, channel_mult=(1, 2, 3, 4, 4), num_blocks=(2, 2, 2, 2, 2)),
    "kernel": UNetConfig(in_channels=1, channels=32, channel_mult=(1, 2, 2), num_blocks=(1, 2, 2), groups=8),
}
"""Named architectures of :class:`UNet` (``restora train --model``); the bundled prior is ``small``, the
bundled kernel prior ``kernel`` (one channel, 31x31 kernels padded to 32)."""


def build_restora_prior(config: UNetConfig | dict, sigma_data: float = 0.5,
                        sigma_min: float = 0.002, sigma_max: float = 160.0) -> EDMPrior:
    """A restora UNet wrapped with EDM preconditioning, ready to train or load weights into."""
    if isinstance(config, dict):
        config = UNetConfig(**config)
    net = UNet(config)
    return EDMPrior(net, sigma_data=sigma_data, sigma_min=sigma_min, sigma_max=sigma_max,
                    channels=config.in_channels, size_multiple=net.size_multiple)
