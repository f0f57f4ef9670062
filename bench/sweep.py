"""A sampling sweep against the same cells run as separate `latentlab evaluate` processes.

Both score each (sampler, steps, guidance) cell on the same trained model with the same
number of samples; the sweep does it in one process, which loads the checkpoint once, trains
(or loads) the scoring classifier once and compiles each (sampler, steps) once. Writes the
ratio of wall-clock times and the sweep's compile count to the report.

Usage (the launcher does this): python bench/sweep.py OUT.md
"""

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "target" / "bench-sweep-runs"
MODEL = ROOT / "bench" / "sweep-model.yaml"
CELLS = ROOT / "bench" / "sweep-cells.yaml"
SAMPLERS = ("ddim", "euler", "heun", "dpmpp_2m", "unipc")
STEPS = (5, 10, 20)
GUIDANCE = (1.5, 3.0)
SAMPLES = 100


def cli(*args: str) -> str:
    """Runs the LatentLab CLI as the launcher does; returns its standard output."""
    java = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
    done = subprocess.run([str(java), f"-Dlatentlab.home={ROOT}", "-jar",
                           str(ROOT / "target" / "latentlab.jar"), *args],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"latentlab {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def main(report: Path) -> None:
    cli("run", str(MODEL), "--runs-dir", str(RUNS))  # reused once trained
    run = next(p for p in (RUNS / "bench-sweep").iterdir() if (p / "result.json").is_file())
    # Train and cache the scoring classifier once, outside both timings.
    cli("evaluate", str(run), "--samples", str(SAMPLES), "--steps", "2", "--runs-dir", str(RUNS))

    shutil.rmtree(run / "sampling", ignore_errors=True)
    shutil.rmtree(RUNS / "sweeps", ignore_errors=True)
    started = time.perf_counter()
    cli("sweep", str(CELLS), "--runs-dir", str(RUNS))
    sweep_seconds = time.perf_counter() - started
    results = [json.loads(p.read_text()) for p in (run / "sampling").glob("*.json")]
    compiles = max(r["compiles"] for r in results) - min(r["compiles"] for r in results) + 1

    started = time.perf_counter()
    for sampler in SAMPLERS:
        for steps in STEPS:
            for guidance in GUIDANCE:
                cli("evaluate", str(run), "--sampler", sampler, "--steps", str(steps),
                    "--guidance", str(guidance), "--samples", str(SAMPLES),
                    "--runs-dir", str(RUNS))
    separate_seconds = time.perf_counter() - started

    cells = len(SAMPLERS) * len(STEPS) * len(GUIDANCE)
    lines = [
        "# Sampling sweep against separate evaluate processes",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs (`./latentlab bench sweep`, bench/sweep.py). "
        f"{cells} cells: samplers {', '.join(SAMPLERS)} × steps {', '.join(map(str, STEPS))} × "
        f"guidance {', '.join(map(str, GUIDANCE))}, {SAMPLES} samples each, FID and conditional "
        "accuracy scored on the same model (bench/sweep-model.yaml) with the classifier cached.",
        "",
        "| how | wall clock | per cell |",
        "|---|---|---|",
        f"| one `latentlab sweep` ({len(results)} trials) | {sweep_seconds:.1f} s | "
        f"{sweep_seconds / cells:.2f} s |",
        f"| {cells} `latentlab evaluate` processes | {separate_seconds:.1f} s | "
        f"{separate_seconds / cells:.2f} s |",
        "",
        f"**The sweep is {separate_seconds / sweep_seconds:.1f}× faster** (goal ≥ 5×). "
        f"It compiled the fused sampler {compiles} times for "
        f"{len(SAMPLERS) * len(STEPS)} distinct (sampler, steps) pairs: guidance is traced, so "
        "the second guidance scale of each pair reused the compiled code. Each separate process "
        "pays JVM and Python start-up, the model and classifier loads and one compilation.",
        "",
    ]
    report.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
