"""The ADM UNet of guided-diffusion (Dhariwal & Nichol 2021), in the parameter layout of the OpenAI
checkpoints, so that ``256x256_diffusion_uncond.pt``, ``ffhq_10m.pt`` (DPS / DiffPIR) and other
guided-diffusion files load with strict key matching.

Written from the paper and the public description of ``guided_diffusion/unet.py``; the module and
parameter names (``time_embed.0``, ``input_blocks.N.M.in_layers.0``, ``qkv``, ``proj_out``, ...) are
kept identical to the original because the checkpoints are keyed by them. Attention runs through
``torch.nn.functional.scaled_dot_product_attention``, which is numerically equivalent to the
original einsum-softmax formulation (both head orders, legacy and ``use_new_attention_order``).

Image size: the network is convolutional plus self-attention, so it runs at any height and width
divisible by ``2 ** (len(channel_mult) - 1)`` (32 for the 256x256 models). :meth:`Prior.forward`
reflect-pads other sizes automatically and crops the result back. The attention layers see the whole
image, so images much larger than ``native_size`` (the training resolution) leave the training
distribution and cost quadratic memory: tile them instead (the CLI does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.priors.base import VPEpsPrior
from restora.schedules import VPSchedule, cosine_betas, linear_betas

# guided-diffusion script_util: channel_mult used when the config leaves it empty.
DEFAULT_CHANNEL_MULT: dict[int, tuple[float, ...]] = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}
NUM_CLASSES = 1000

# Keys of guided-diffusion's argument dicts that do not change the network or its prior view.
_IGNORED_KEYS = frozenset({
    "use_checkpoint", "model_path", "timestep_respacing", "use_kl", "rescale_learned_sigmas",
    "clip_denoised", "num_samples", "batch_size", "use_ddim", "sigma_small", "classifier_scale",
})


@dataclass(frozen=True)
class ADMConfig:
    """guided-diffusion ``create_model`` arguments (defaults of ``model_and_diffusion_defaults``)
    plus the two diffusion settings that define the timestep grid."""

    image_size: int = 64
    num_channels: int = 128
    num_res_blocks: int = 2
    channel_mult: str | tuple[float, ...] = ""
    learn_sigma: bool = False
    class_cond: bool = False
    attention_resolutions: str | tuple[int, ...] = "16,8"
    num_heads: int = 4
    num_head_channels: int = -1
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = True
    dropout: float = 0.0
    resblock_updown: bool = False
    use_fp16: bool = False
    use_new_attention_order: bool = False
    in_channels: int = 3
    num_classes: int | None = None
    diffusion_steps: int = 1000
    noise_schedule: str = "linear"
    predict_xstart: bool = False
    rescale_timesteps: bool = False

    @classmethod
    def from_dict(cls, config: Mapping) -> ADMConfig:
        """Validate a guided-diffusion style dict (unknown keys are an error, run-time keys ignored)."""
        if isinstance(config, ADMConfig):
            return config
        if not isinstance(config, Mapping):
            raise RestoraError(f"an ADM config must be a dict of guided-diffusion arguments, got {config!r}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - names - _IGNORED_KEYS)
        if unknown:
            raise RestoraError(f"unknown ADM config keys {unknown}; known keys: {sorted(names)}")
        kw = {k: v for k, v in config.items() if k in names}
        for key in ("channel_mult", "attention_resolutions"):
            if isinstance(kw.get(key), list):
                kw[key] = tuple(kw[key])
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (tuples as lists)."""
        d = asdict(self)
        for key in ("channel_mult", "attention_resolutions"):
            if isinstance(d[key], tuple):
                d[key] = list(d[key])
        return d

    @property
    def mult(self) -> tuple[float, ...]:
        """Channel multipliers per resolution level (the image-size default when left empty)."""
        cm = self.channel_mult
        if isinstance(cm, str):
            if not cm.strip():
                if self.image_size not in DEFAULT_CHANNEL_MULT:
                    raise RestoraError(f"no default channel_mult for image_size {self.image_size}; "
                                       f"give channel_mult, e.g. '1,2,3,4'")
                return DEFAULT_CHANNEL_MULT[self.image_size]
            try:
                return tuple(float(c) if "." in c else int(c) for c in cm.split(","))
            except ValueError as exc:
                raise RestoraError(f"bad channel_mult {cm!r}; expected e.g. '1,1,2,2,4,4'") from exc
        return tuple(cm)

    @property
    def attention_ds(self) -> tuple[int, ...]:
        """Downsample factors with attention: ``image_size // res`` for each attention resolution."""
        res = self.attention_resolutions
        if isinstance(res, str):
            try:
                res = [int(r) for r in res.split(",") if r.strip()]
            except ValueError as exc:
                raise RestoraError(f"bad attention_resolutions {res!r}; expected e.g. '32,16,8'") from exc
        elif isinstance(res, int):
            res = [res]
        return tuple(self.image_size // int(r) for r in res)

    @property
    def out_channels(self) -> int:
        return self.in_channels * (2 if self.learn_sigma else 1)

    @property
    def size_multiple(self) -> int:
        return 2 ** (len(self.mult) - 1)

    def validate(self) -> None:
        """Raise RestoraError for settings the network or restora cannot use."""
        mult, heads_ok = self.mult, self.num_heads > 0 or self.num_head_channels > 0
        if self.num_channels < 1 or self.num_res_blocks < 1 or not mult or not heads_ok:
            raise RestoraError("num_channels, num_res_blocks, channel_mult and num_heads/num_head_channels "
                               "must be positive")
        if self.num_head_channels > 0:
            for m in mult:
                if int(m * self.num_channels) % self.num_head_channels:
                    raise RestoraError(f"num_head_channels {self.num_head_channels} must divide every "
                                       f"level width (num_channels * channel_mult)")
        for m in mult:
            if int(m * self.num_channels) % 32:
                raise RestoraError("num_channels * channel_mult must be divisible by 32 (GroupNorm32)")
        _ = self.attention_ds
        if self.noise_schedule not in ("linear", "cosine"):
            raise RestoraError(f"noise_schedule must be 'linear' or 'cosine', got {self.noise_schedule!r}")
        if self.predict_xstart:
            raise RestoraError("predict_xstart models are not supported: restora wraps epsilon prediction")
        if self.rescale_timesteps and self.diffusion_steps != 1000:
            raise RestoraError("rescale_timesteps with diffusion_steps != 1000 is not supported")

    def schedule(self) -> VPSchedule:
        """The training noise schedule (guided-diffusion ``get_named_beta_schedule``)."""
        if self.noise_schedule == "cosine":
            return VPSchedule(cosine_betas(self.diffusion_steps))
        scale = 1000 / self.diffusion_steps
        return VPSchedule(linear_betas(self.diffusion_steps, scale * 1e-4, scale * 0.02))


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding ``[cos(t f_i), sin(t f_i)]`` with f_i = max_period^(-i/half); float32,
    fractional t allowed."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class GroupNorm32(nn.GroupNorm):
    """GroupNorm(32) computed in float32 whatever the input dtype, returned in the input dtype."""

    def forward(self, x: Tensor) -> Tensor:
        w = None if self.weight is None else self.weight.float()
        b = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, w, b, self.eps).to(x.dtype)


def _norm(channels: int) -> GroupNorm32:
    return GroupNorm32(32, channels)


class EmbedSequential(nn.Sequential):
    """A Sequential whose residual blocks also receive the timestep embedding."""

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class Upsample(nn.Module):
    """Nearest 2x upsampling, optionally followed by a 3x3 conv (key ``conv``)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1) if use_conv else None

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.conv is not None else x


class Downsample(nn.Module):
    """2x downsampling: strided 3x3 conv (key ``op``) or 2x2 average pooling."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.op = (nn.Conv2d(channels, out_channels or channels, 3, stride=2, padding=1) if use_conv
                   else nn.AvgPool2d(2, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class ResBlock(nn.Module):
    """Norm-SiLU-conv, timestep embedding (added, or as scale/shift of the second norm),
    norm-SiLU-dropout-conv, plus a skip; optionally up- or down-samples both paths."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = False, up: bool = False, down: bool = False) -> None:
        super().__init__()
        out = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(_norm(channels), nn.SiLU(), nn.Conv2d(channels, out, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out if use_scale_shift_norm
                                                             else out))
        self.out_layers = nn.Sequential(_norm(out), nn.SiLU(), nn.Dropout(dropout),
                                        nn.Conv2d(out, out, 3, padding=1))
        nn.init.zeros_(self.out_layers[3].weight)
        nn.init.zeros_(self.out_layers[3].bias)
        self.skip_connection = nn.Identity() if out == channels else nn.Conv2d(channels, out, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        if self.updown:
            h = self.in_layers[:-1](x)
            h = self.in_layers[-1](self.h_upd(h))
            x = self.x_upd(x)
        else:
            h = self.in_layers(x)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all spatial positions, with a residual connection.

    ``legacy`` (QKVAttentionLegacy) splits the qkv channels head-major ([q k v] per head); the new
    order splits them into q, k, v first and then into heads.
    """

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1,
                 use_new_attention_order: bool = False) -> None:
        super().__init__()
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels:
                raise RestoraError(
                    f"channels {channels} not divisible by num_head_channels {num_head_channels}")
            self.num_heads = channels // num_head_channels
        if channels % self.num_heads:
            raise RestoraError(f"channels {channels} not divisible by num_heads {self.num_heads}")
        self.legacy = not use_new_attention_order
        self.norm = _norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        n, heads = qkv.shape[-1], self.num_heads
        ch = c // heads
        if self.legacy:
            q, k, v = qkv.reshape(b, heads, 3 * ch, n).split(ch, dim=2)
        else:
            q, k, v = qkv.reshape(b, 3, heads, ch, n).unbind(1)
        a = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        h = self.proj_out(a.transpose(-1, -2).reshape(b, c, n))
        return (x + h).reshape(b, c, *spatial)


class ADMUNet(nn.Module):
    """guided-diffusion's ``UNetModel``: ``net(x_t, t, y=None)`` -> epsilon (and the learned variance
    interpolation in channels 3-5 when ``learn_sigma``). ``t`` may be fractional.

    Class-conditional nets need labels ``y``; when called without them they use ``class_label``
    (None by default, which is an error).
    """

    def __init__(self, config: ADMConfig | Mapping) -> None:
        super().__init__()
        cfg = ADMConfig.from_dict(config)
        self.config = cfg
        mc, mult, attn_ds = cfg.num_channels, cfg.mult, cfg.attention_ds
        heads_up = cfg.num_heads if cfg.num_heads_upsample == -1 else cfg.num_heads_upsample
        self.model_channels = mc
        self.num_classes = (cfg.num_classes or NUM_CLASSES) if cfg.class_cond else None
        self.class_label: int | None = None
        emb = 4 * mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        if self.num_classes is not None:
            self.label_emb = nn.Embedding(self.num_classes, emb)

        def res(cin: int, cout: int, **kw) -> ResBlock:
            return ResBlock(cin, emb, cfg.dropout, cout, cfg.use_scale_shift_norm, **kw)

        def attn(ch: int, heads: int) -> AttentionBlock:
            return AttentionBlock(ch, heads, cfg.num_head_channels, cfg.use_new_attention_order)

        ch = int(mult[0] * mc)
        input_ch = ch
        self.input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(cfg.in_channels, ch, 3, padding=1))])
        chans, ds = [ch], 1
        for level, m in enumerate(mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [res(ch, int(m * mc))]
                ch = int(m * mc)
                if ds in attn_ds:
                    layers.append(attn(ch, cfg.num_heads))
                self.input_blocks.append(EmbedSequential(*layers))
                chans.append(ch)
            if level != len(mult) - 1:
                down = res(ch, ch, down=True) if cfg.resblock_updown else Downsample(ch, True, ch)
                self.input_blocks.append(EmbedSequential(down))
                chans.append(ch)
                ds *= 2
        self.middle_block = EmbedSequential(res(ch, ch), attn(ch, cfg.num_heads), res(ch, ch))
        self.output_blocks = nn.ModuleList()
        for level, m in list(enumerate(mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                layers = [res(ch + chans.pop(), int(mc * m))]
                ch = int(mc * m)
                if ds in attn_ds:
                    layers.append(attn(ch, heads_up))
                if level and i == cfg.num_res_blocks:
                    layers.append(res(ch, ch, up=True) if cfg.resblock_updown else Upsample(ch, True, ch))
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))
        self.out = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv2d(input_ch, cfg.out_channels, 3, padding=1))
        nn.init.zeros_(self.out[2].weight)
        nn.init.zeros_(self.out[2].bias)

    def forward(self, x: Tensor, t: Tensor | float, y: Tensor | None = None) -> Tensor:
        """Raw output (N, out_channels, H, W) for inputs x_t (H, W divisible by the size multiple)."""
        dtype = self.time_embed[0].weight.dtype
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(t.reshape(-1), self.model_channels).to(dtype))
        if self.num_classes is not None:
            if y is None:
                if self.class_label is None:
                    raise RestoraError("this ADM model is class-conditional: pass labels y or set "
                                       "net.class_label to an ImageNet class index")
                y = torch.full((x.shape[0],), self.class_label, device=x.device, dtype=torch.long)
            emb = emb + self.label_emb(y)
        elif y is not None:
            raise RestoraError("labels y given to an unconditional ADM model")
        h = x.to(dtype)
        hs = []
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h).to(x.dtype)


def adm_unet(config: ADMConfig | Mapping, device: torch.device | str | None = None) -> ADMUNet:
    """Build an :class:`ADMUNet`; ``device='meta'`` builds it without allocating memory."""
    if device is None:
        return ADMUNet(config)
    with torch.device(device):
        return ADMUNet(config)


def build_adm_prior(config: ADMConfig | Mapping, device: torch.device | str | None = None) -> VPEpsPrior:
    """An ADM net (randomly initialised, eval mode) wrapped as a denoiser with its VP schedule
    (linear 1e-4..0.02 over 1000 steps for the OpenAI checkpoints)."""
    cfg = ADMConfig.from_dict(config)
    net = adm_unet(cfg, device)
    prior = VPEpsPrior(net, cfg.schedule(), channels=cfg.in_channels, size_multiple=cfg.size_multiple,
                       native_size=cfg.image_size)
    return prior.eval()


def parse_config(config: Mapping | str) -> ADMConfig:
    """An :class:`ADMConfig` from a dict or a JSON string."""
    if isinstance(config, str):
        import json

        try:
            config = json.loads(config)
        except json.JSONDecodeError as exc:
            raise RestoraError(f"ADM config is not valid JSON: {exc}") from exc
    return ADMConfig.from_dict(config)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (works on meta-device modules)."""
    return sum(p.numel() for p in module.parameters())


__all__: Sequence[str] = [
    "ADMConfig", "ADMUNet", "AttentionBlock", "ResBlock", "adm_unet", "build_adm_prior",
    "count_parameters", "parse_config", "timestep_embedding",
]
