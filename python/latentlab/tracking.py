"""A run's TensorBoard event files: ``<run>/tensorboard/``, written as the run trains.

Every training run started with a run directory writes them (process 0 alone, in a run over
several processes), through tensorboardX's writer (TensorBoard's event format without
TensorFlow; not a hand-written protobuf encoder):

- ``vae/loss``, ``unet/loss`` at each progress report (every ``loops.REPORT_EVERY`` steps);
- ``vae/learning_rate``, ``unet/learning_rate``: what the optimiser's schedule applies there;
- ``vae/steps_per_second``, ``unet/steps_per_second`` between two reports;
- ``vae/grad_norm``, ``unet/grad_norm``: the global norm of that step's gradients, before
  clipping (clipped at 1.0: a norm above it means the step was scaled down);
- ``previews``: with ``tracking.previews: N``, a grid of samples from the U-Net's EMA weights
  every N U-Net steps (the same noise and labels each time, so they show the model learning);
- ``samples``: the run's sample grid, once sampled;
- ``config`` (text): the resolved config;
- the trial's HParams session (the config's scalar keys, dotted) with its final metrics
  (``final/...``), so that a sweep's trials line up in TensorBoard's HParams view.

A resumed run appends a new event file; the reports it replays from its checkpoint (steps at
or before the resumed step) are already in the killed run's file and are not written again.
Event files hold wall-clock times, so they are not part of a run's reproducible bytes.
``./latentlab tensorboard`` serves them.
"""

import json
import math
import time
from pathlib import Path

import numpy as np

from latentlab.train import loops

FOLDER = "tensorboard"
STAGES = ("vae", "unet")


def flatten(tree: dict, prefix: str = "") -> dict:
    """The scalar leaves of a nested config, by dotted key (``train.unet.steps``); lists and
    nulls are left out (HParams take numbers, strings and booleans)."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
    return flat


class TensorBoardLog:
    """Writes one run's events. Use :meth:`wrap` around the run's progress function, then
    :meth:`finish` with its samples and metrics (or :meth:`close` if it failed)."""

    def __init__(self, folder: str | Path, cfg: dict, resumed: dict[str, int]):
        from tensorboardX import SummaryWriter
        self.cfg = cfg
        self.resumed = dict(resumed)
        self.writer = SummaryWriter(str(folder), flush_secs=10)
        self.rates = {stage: loops.learning_rate_at(stage, cfg["train"][stage]["learning_rate"],
                                                    cfg["train"][stage]["steps"])
                      for stage in STAGES}
        self.last: dict[str, tuple[int, float]] = {}
        self.writer.add_text("config", "```\n" + json.dumps(cfg, indent=2, sort_keys=True)
                             + "\n```", 0)

    def report(self, stage: str, step: int, loss: float) -> None:
        """One progress report: the loss, learning rate and speed of a stage at ``step``."""
        if stage not in self.rates or math.isnan(loss):
            return  # sampling, or "compiling" (step 0, no loss)
        if step <= self.resumed.get(stage, 0):
            return  # replayed from the checkpoint: the killed run wrote it
        now = time.perf_counter()
        self.writer.add_scalar(f"{stage}/loss", loss, step)
        # The step-th update used the schedule's value at index step - 1.
        self.writer.add_scalar(f"{stage}/learning_rate", float(self.rates[stage](step - 1)), step)
        previous = self.last.get(stage)
        if previous is not None and step > previous[0]:
            self.writer.add_scalar(f"{stage}/steps_per_second",
                                   (step - previous[0]) / (now - previous[1]), step)
        self.last[stage] = (step, now)

    def measure(self, stage: str, step: int, values: dict[str, float]) -> None:
        """A reported step's measurements (``grad_norm``), as ``<stage>/<name>``."""
        if step <= self.resumed.get(stage, 0):
            return
        for name, value in values.items():
            self.writer.add_scalar(f"{stage}/{name}", value, step)

    def preview(self, step: int, images) -> None:
        """A preview grid of samples [N, H, W, C] in [0, 1] at U-Net step ``step``."""
        grid = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
        self.writer.add_images("previews", grid, step, dataformats="NHWC")

    def wrap(self, progress):
        """``progress``, writing each report here too."""
        def both(stage, step, total, loss):
            progress(stage, step, total, loss)
            self.report(stage, int(step), float(loss))
        return both

    def finish(self, images, metrics: dict) -> None:
        """The sample grid, the trial's HParams with its final metrics; then closes."""
        grid = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
        self.writer.add_images("samples", grid, 0, dataformats="NHWC")
        final = {f"final/{name}": float(value) for name, value in metrics.items()
                 if isinstance(value, (int, float)) and not isinstance(value, bool)
                 and math.isfinite(float(value))}
        # The session's hyperparameters and its end, in this run's own events; no experiment
        # summary, so TensorBoard infers the experiment from all the runs it serves and marks
        # which hyperparameters differ between them (one written per run would hide that).
        from tensorboardX.summary import hparams
        _, start, end = hparams(flatten(self.cfg), final)
        self.writer.file_writer.add_summary(start)
        self.writer.file_writer.add_summary(end)
        for name, value in final.items():
            self.writer.add_scalar(name, value, 0)
        self.close()

    def close(self) -> None:
        self.writer.close()
