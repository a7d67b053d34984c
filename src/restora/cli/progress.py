"""Progress of a long run: bars on a terminal, periodic one-line reports in a log.

On a terminal (stderr is a TTY) two tqdm bars show images and the current batch's denoiser calls. In a
batch log (stderr is a file or a pipe) a line ``restora: progress 3/12 images, 0004.png NFE 14/25
(tile 3/16), 2.1 NFE/s, ETA 1m20s`` is printed at most every ``RESTORA_PROGRESS_SECONDS`` seconds
(default 10), and once at the end. ``--no-progress`` and ``-q`` turn both off; under torchrun only rank 0
reports.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from restora.cli.log import LOG, PROGRESS

DEFAULT_SECONDS = 10.0


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class RunProgress:
    """Images and denoiser calls (NFE) of a run; ``total_nfe`` is what the solver announced for all
    batches, so the rate and the ETA are in NFE."""

    def __init__(self, images: int, total_nfe: int, *, enabled: bool = True) -> None:
        self.images, self.total_nfe = images, max(1, total_nfe)
        self.done_images = self.done_nfe = 0
        self.batch_name, self.batch_nfe, self.batch_total, self.tiles = "", 0, 0, ""
        self.partial = 0.0  # the share of the current denoiser call done (tiled calls)
        self.enabled = enabled and LOG.isEnabledFor(PROGRESS)
        self.tty = self.enabled and sys.stderr.isatty()
        self.interval = report_interval()
        self.start = self.last = time.perf_counter()
        self.bar = self.step_bar = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=images, desc="images", unit="img", leave=False, file=sys.stderr,
                            dynamic_ncols=True)

    def batch(self, name: str, nfe: int) -> None:
        """A batch starts: ``name`` (its file, or 'N images'), ``nfe`` denoiser calls to come."""
        self.batch_name, self.batch_nfe, self.batch_total, self.tiles = name, 0, nfe, ""
        if self.tty:
            from tqdm import tqdm

            self.step_bar = tqdm(total=nfe, desc=name, unit="NFE", leave=False, file=sys.stderr,
                                 dynamic_ncols=True)

    def nfe(self) -> None:
        """One denoiser call done."""
        self.done_nfe += 1
        self.batch_nfe += 1
        self.tiles, self.partial = "", 0.0
        if self.step_bar is not None:
            self.step_bar.update(1)
        self._report()

    def tile(self, done: int, total: int) -> None:
        """Tiles of the current call done so far (large images through a tiled prior)."""
        self.tiles, self.partial = f" (tile {done}/{total})", done / max(1, total)
        if self.step_bar is not None:
            self.step_bar.set_postfix_str(f"tile {done}/{total}")
        self._report()

    def finished(self, images: int) -> None:
        """``images`` more images are done (restored, failed or skipped)."""
        self.done_images += images
        if self.step_bar is not None:
            self.step_bar.close()
            self.step_bar = None
        if self.bar is not None:
            self.bar.update(images)
        self._report(force=self.done_images >= self.images)

    def close(self) -> None:
        for bar in (self.step_bar, self.bar):
            if bar is not None:
                bar.close()

    def _report(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or self.tty or (not force and now - self.last < self.interval):
            return
        self.last = now
        done = self.done_nfe + self.partial  # a tiled call counts by its tiles, so the rate moves at once
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total_nfe - done) / rate if rate > 0 else float("inf")
        current = f", {self.batch_name} NFE {self.batch_nfe}/{self.batch_total}{self.tiles}" if (
            self.batch_total and self.batch_nfe < self.batch_total) else ""
        speed = f"{rate:.2f} NFE/s" if rate >= 1 or rate == 0 else f"{1 / rate:.1f} s/NFE"
        LOG.log(PROGRESS, f"{self.done_images}/{self.images} images{current}, {speed}, ETA "
                          f"{_duration(eta) if eta != float('inf') else '?'}")


def report_interval() -> float:
    """Seconds between progress lines in a log: $RESTORA_PROGRESS_SECONDS (a number >= 0; 0 reports every
    step), else the default (with a warning when the variable holds something else)."""
    text = os.environ.get("RESTORA_PROGRESS_SECONDS")
    if text is None:
        return DEFAULT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and value != float("inf")):
        LOG.warning(f"RESTORA_PROGRESS_SECONDS={text!r} is not a number of seconds >= 0: using "
                    f"{DEFAULT_SECONDS:g}")
        return DEFAULT_SECONDS
    return value


def enabled(no_progress: bool) -> bool:
    """Whether to report progress at all (``--no-progress`` and ``-q`` turn it off)."""
    return not no_progress and LOG.isEnabledFor(logging.INFO)
