"""What writing TensorBoard events costs a training run (latentlab.tracking): the product's
U-Net training loop (experiments/quickstart.yaml's U-Net and batch, on this machine's default
device) with and without the event writer, in the same process, alternated; and the writer's
own time per progress report, measured directly, against the loop's time between two reports.

Usage (the launcher does this): python bench/tracking.py OUT.md
"""

import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone

PAIRS = 5           # alternated runs with and without the writer
STEPS = 100         # per run: 4 progress reports
REPORTS = 2000      # direct timing of the writer's report()
UNET = dict(channels=32, channel_mult=(1, 2), attention_resolutions=(4,), num_classes=10)
LATENT = (8, 8, 4)  # experiments/quickstart.yaml's U-Net and latents
BATCH = 64


def main(out_path: str) -> None:
    import jax
    import numpy as np

    from latentlab import tracking
    from latentlab.diffusion import schedules
    from latentlab.files import write_atomically
    from latentlab.models import UNet
    from latentlab.train import loops
    from latentlab.train.state import no_progress

    # What the writer records as text and HParams: a config of the quickstart's shape.
    cfg = {"name": "bench", "seed": 0, "model": {"unet": UNET},
           "train": {"vae": {"steps": STEPS, "learning_rate": 2e-3},
                     "unet": {"steps": STEPS, "batch_size": BATCH, "learning_rate": 2e-3}}}
    unet, batch = UNet(**UNET), BATCH
    rng = np.random.default_rng(0)
    means = rng.normal(size=(1024,) + LATENT).astype(np.float32)
    log_vars = np.full_like(means, -4.0)
    labels = np.arange(1024) % 10
    schedule = schedules.make_schedule("linear", 1000)

    def _gradient_norms(board):
        """The step hook a run gives the writer: each reported step's gradient norm."""
        return lambda stage, step, state, values: (board.measure(stage, step, values)
                                                   if values else None)

    def train(progress, on_step=None) -> float:
        started = time.perf_counter()
        loops.train_denoiser(unet, means, log_vars, labels, 1.0, schedule, jax.random.PRNGKey(0),
                             steps=STEPS, batch_size=batch, learning_rate=2e-3, ema_decay=0.999,
                             label_dropout=0.1, progress=progress, on_step=on_step)
        return time.perf_counter() - started

    load = os.getloadavg()[0]
    train(no_progress)  # compile
    without, with_writer = [], []
    with tempfile.TemporaryDirectory() as folder:
        for pair in range(PAIRS):
            without.append(train(no_progress))
            board = tracking.TensorBoardLog(os.path.join(folder, str(pair)), cfg, {})
            with_writer.append(train(board.wrap(no_progress), _gradient_norms(board)))
            board.close()
        board = tracking.TensorBoardLog(os.path.join(folder, "direct"), cfg, {})
        started = time.perf_counter()
        for i in range(REPORTS):
            board.report("unet", (i + 1) * loops.REPORT_EVERY, 0.5)
            board.measure("unet", (i + 1) * loops.REPORT_EVERY, {"grad_norm": 0.7})
        per_report = (time.perf_counter() - started) / REPORTS
        started = time.perf_counter()
        board.finish(np.zeros((64, 28, 28, 1), np.float32), {"unet_final_loss": 0.5})
        finish = time.perf_counter() - started
    a, b = statistics.median(without), statistics.median(with_writer)
    between_reports = a / STEPS * loops.REPORT_EVERY
    text = "\n".join([
        "# Tracking: what TensorBoard's event files cost a training run",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `./latentlab bench "
        f"tracking` (bench/tracking.py) on {platform.node()}: backend {jax.default_backend()}, "
        f"{os.cpu_count()} CPU cores, JAX {jax.__version__}; load average {load:.1f} at start.",
        "",
        f"The product's U-Net loop (`loops.train_denoiser`, quickstart's U-Net, batch {batch}), "
        f"{STEPS} steps ({STEPS // loops.REPORT_EVERY} progress reports), median of {PAIRS} "
        "runs alternated with and without `latentlab.tracking.TensorBoardLog` (the writer every "
        "run uses, with its step hook writing each report's gradient norm), after a compiling "
        "run. Both rows compute the gradient norm inside the jitted step, which every run "
        "does:",
        "",
        "| | seconds per run (median) | fastest – slowest | steps/s | relative |",
        "|---|---:|---:|---:|---:|",
        f"| without the writer | {a:.3f} | {min(without):.3f} – {max(without):.3f} | "
        f"{STEPS / a:.1f} | 1.000 |",
        f"| with the writer | {b:.3f} | {min(with_writer):.3f} – {max(with_writer):.3f} | "
        f"{STEPS / b:.1f} | {a / b:.3f} |",
        "",
        f"Directly: one progress report (loss, learning rate, steps/s, gradient norm: four "
        f"scalars) takes the "
        f"writer **{per_report * 1e6:.0f} µs** (mean of {REPORTS:,}), against "
        f"{between_reports * 1e3:.0f} ms of training between two reports: "
        f"**{per_report / between_reports:.4%}** of the loop's time. The end of a run (the "
        f"sample grid of 64 images, the HParams with the final metrics, closing the file) "
        f"takes {finish * 1e3:.0f} ms once. Compare the A/B rows' difference with the spread of "
        "each row's runs: on a shared 2-core machine runs of the same work differ by a few "
        "per cent, which the direct figure does not.",
        "",
    ])
    write_atomically(out_path, text.encode())
    print(text)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/tracking.py OUT.md")
    main(sys.argv[1])
