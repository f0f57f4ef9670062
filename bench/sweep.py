"""A sampling sweep against the same cells run as separate `latentlab evaluate` processes.

Both score each (sampler, steps, guidance) cell of bench/sweep-cells.yaml on the same trained
model (experiments/quickstart.yaml with 50 training steps each: sampling speed does not depend on
how well it was trained) with the same samples and seed; the sweep does it in one process,
which loads the checkpoint once, loads the scoring classifier once and compiles each
(sampler, steps) once. Both are timed the same way: wall clock around whole CLI processes, from
start to exit. Each cell's FID and conditional accuracy from the two are compared, to show they
measured the same thing.

XLA's on-disk compilation cache (python/latentlab/compilation_cache.py) lets a process load a
program another process compiled, which helps separate processes most. So both are measured
twice: with the cache off (every process compiles what it runs), and with a warm cache (a
private one under target/, filled by a first sweep whose time is reported too).

Usage (the launcher does this): python bench/sweep.py OUT.md [--sweeps-only]
(--sweeps-only: the three sweep measurements and their overhead share, not the 60 separate
processes.)
"""

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from itertools import product
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "target" / "bench-sweep-runs"
CACHE = ROOT / "target" / "bench-sweep-jax-cache"
# The quickstart model, briefly trained: a config outside experiments/ may not extend one there.
MODEL = ROOT / "experiments" / "quickstart.yaml"
MODEL_OVERRIDES = ("name=bench-sweep", "train.vae.steps=50", "train.unet.steps=50")
CELLS = ROOT / "bench" / "sweep-cells.yaml"
AXES = ("sample.sampler", "sample.steps", "sample.guidance_scale")


def cli(*args: str, cache: str) -> str:
    """Runs the LatentLab CLI as the launcher does, with the compilation cache ``cache`` (a
    folder, or "off"); returns its standard output."""
    java = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
    env = dict(os.environ, LATENTLAB_COMPILATION_CACHE=cache)
    done = subprocess.run([str(java), f"-Dlatentlab.home={ROOT}", "-jar",
                           str(ROOT / "target" / "latentlab.jar"), *args],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"latentlab {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def cells(spec: dict) -> list[tuple]:
    """The (sampler, steps, guidance) cells of the sweep file's grid."""
    grid = spec["grid"]
    if set(grid) != set(AXES) or spec.get("zip") or spec.get("random"):
        sys.exit(f"{CELLS}: expected a grid over exactly {', '.join(AXES)}")
    return list(product(*(grid[axis] for axis in AXES)))


def cell_of(request: dict) -> tuple:
    return request["sampler"], request["steps"], float(request["guidance_scale"])


def sweep(run: Path, cache: str) -> dict:
    """One `latentlab sweep` over the cells from nothing done: seconds, scores by cell, and
    the fused sampler's compilations in its process."""
    shutil.rmtree(run / "sampling", ignore_errors=True)
    shutil.rmtree(RUNS / "sweeps", ignore_errors=True)
    started = time.perf_counter()
    cli("sweep", str(CELLS), "--runs-dir", str(RUNS), cache=cache)
    seconds = time.perf_counter() - started
    results = [json.loads(p.read_text()) for p in (run / "sampling").glob("*.json")]
    return {"seconds": seconds,
            "scores": {cell_of(r["request"]): r["score"] for r in results},
            "compiles": max(r["compiles"] for r in results)}


def separate(run: Path, grid: list[tuple], samples: int, cache: str) -> dict:
    """One `latentlab evaluate` process per cell: seconds and scores by cell."""
    scores = {}
    started = time.perf_counter()
    for sampler, steps, guidance in grid:
        before = set(run.glob("evaluation-*.json"))
        cli("evaluate", str(run), "--sampler", sampler, "--steps", str(steps),
            "--guidance", str(guidance), "--samples", str(samples), "--runs-dir", str(RUNS),
            cache=cache)
        (record,) = set(run.glob("evaluation-*.json")) - before
        scores[(sampler, steps, float(guidance))] = json.loads(record.read_text())["score"]
    return {"seconds": time.perf_counter() - started, "scores": scores}


def largest_difference(a: dict, b: dict, metric: str) -> float:
    if set(a) != set(b):
        sys.exit(f"the two measured different cells: {sorted(set(a) ^ set(b))}")
    return max(abs(a[c][metric] - b[c][metric]) for c in a)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


LOADS: list[float] = []


def measured_load(_began) -> str:
    """The load averages sampled after each measurement so far: their range."""
    LOADS.append(os.getloadavg()[0])
    low, high = min(LOADS), max(LOADS)
    return f"{low:.1f}" if abs(high - low) < 0.05 else f"{low:.1f}–{high:.1f}"


def where_the_time_goes(sweep_run: dict, separate_run: dict, n: int, cache: str) -> str:
    """How much of each side's wall clock the cells' own sampling and scoring took (the
    ``seconds`` each result records, compilation included), and so the most any orchestration
    could gain over separate processes on these cells."""
    in_sweep = sum(score["seconds"] for score in sweep_run["scores"].values())
    in_separate = sum(score["seconds"] for score in separate_run["scores"].values())
    sweep_rest = sweep_run["seconds"] - in_sweep
    separate_rest = (separate_run["seconds"] - in_separate) / n
    return (f"- Where the time goes ({cache} cache): sampling and scoring the cells took "
            f"{in_sweep:.1f} s of the sweep's {sweep_run['seconds']:.1f} s and {in_separate:.1f} s "
            f"of the separate processes' {separate_run['seconds']:.1f} s. The rest is "
            f"{sweep_rest:.1f} s once in the sweep against {separate_rest:.1f} s in each separate "
            "process (starting the JVM and Python, loading the checkpoint, the classifier and its "
            "reference statistics). A sweep with no overhead at all would be "
            f"{separate_run['seconds'] / in_sweep:.1f}× faster than the separate processes: on "
            "these cells the sampling itself, which both do alike, bounds the ratio.")


def overhead_share(sweep_run: dict, key: str) -> str:
    """The sweep's own overhead (its wall clock less the cells' own work: sampling and scoring,
    the ``work_seconds`` each result records) as a share of the cells' work; the goal is at
    most 10 %."""
    work = sum(score["work_seconds"] for score in sweep_run["scores"].values())
    overhead = sweep_run["seconds"] - work
    return (f"- **Overhead of the {key} sweep: {overhead:.1f} s over {work:.1f} s of the cells' "
            f"own work (sampling and scoring), {100 * overhead / work:.0f} %** (goal ≤ 10 %): "
            "starting the JVM and Python, planning, loading the checkpoint and the classifier, "
            "writing each trial's state, result and preview, the report.")


def write_report(report: Path, spec: dict, began: datetime, measured: dict) -> None:
    """Writes what has been measured so far (the report is rewritten after each measurement,
    so a run cut short still says what it found)."""
    grid = cells(spec)
    n = len(grid)
    samples = spec["evaluate"]["samples"]
    pairs = len({(sampler, steps) for sampler, steps, _ in grid})
    axes = spec["grid"]

    def row(key: str, how: str, cache: str, compiles: str) -> str:
        if key not in measured:
            return f"| {how} | {cache} | not measured | | |"
        seconds = measured[key]["seconds"]
        return f"| {how} | {cache} | {seconds:.1f} s | {seconds / n:.2f} s | {compiles} |"

    def compiles(key: str) -> str:
        return str(measured[key]["compiles"]) if key in measured else "?"

    def ratio(separate_key: str, sweep_key: str) -> str | None:
        if separate_key in measured and sweep_key in measured:
            return f"{measured[separate_key]['seconds'] / measured[sweep_key]['seconds']:.1f}×"
        return None

    lines = [
        "# Sampling sweep against separate evaluate processes",
        "",
        f"Measured {began:%Y-%m-%d %H:%M} UTC on {cpu_name()}, {os.cpu_count()} CPUs "
        f"({platform.machine()}; 1-minute load average {measured_load(began)} while it ran"
        f"{'' if max(LOADS) < os.cpu_count() + 0.5 else ': the machine was shared with other work'}), "
        "by `./latentlab bench sweep` "
        "(bench/sweep.py). "
        f"{n} cells: samplers {', '.join(axes['sample.sampler'])} × steps "
        f"{', '.join(map(str, axes['sample.steps']))} × guidance "
        f"{', '.join(map(str, axes['sample.guidance_scale']))}, {samples} samples each "
        "(bench/sweep-cells.yaml), FID and conditional accuracy scored on the same model "
        "(experiments/quickstart.yaml, 50 training steps each) with the scoring classifier "
        "cached beforehand. Both ways are "
        "timed alike: wall clock around whole `latentlab` processes, start to exit.",
        "",
        "| how | XLA on-disk compilation cache | wall clock | per cell | fused-sampler compilations |",
        "|---|---|---|---|---|",
        row("sweep cold", "one `latentlab sweep`", "empty at start (it fills it)",
            f"{compiles('sweep cold')} in its process"),
        row("sweep warm", "one `latentlab sweep`", "warm",
            f"{compiles('sweep warm')} in its process (read from the cache)"),
        row("separate warm", f"{n} `latentlab evaluate` processes", "warm",
            "1 in each process (read from the cache)"),
        row("sweep off", "one `latentlab sweep`", "off", f"{compiles('sweep off')} in its process"),
        row("separate off", f"{n} `latentlab evaluate` processes", "off",
            f"1 in each process, {n} in all"),
        "",
    ]
    warm = ratio("separate warm", "sweep warm")
    if warm:
        lines.append(f"- **Warm cache on both sides: the sweep is {warm} faster** (goal ≥ 5×). "
                     "The warm cache spares each separate process its compilations but not its "
                     "JVM and Python start-up, the checkpoint load or the classifier's reference "
                     "statistics.")
    off = ratio("separate off", "sweep off")
    if off:
        lines.append(f"- **Cache off on both sides: the sweep is {off} faster** (goal ≥ 5×): "
                     "every separate process compiles what it runs.")
    some_sweep = next((measured[k] for k in ("sweep off", "sweep cold", "sweep warm")
                       if k in measured), None)
    if some_sweep:
        lines.append(f"- Compilations: {n} cells hold {pairs} distinct (sampler, steps) pairs, "
                     f"and the sweep compiled the fused sampler {some_sweep['compiles']} times "
                     "in its process: guidance is traced, so the second guidance scale of each "
                     "pair reused the compiled program.")
    for key in ("sweep cold", "sweep warm", "sweep off"):
        if key in measured:
            lines.append(overhead_share(measured[key], key))
    for sweep_key, separate_key in (("sweep warm", "separate warm"), ("sweep off", "separate off")):
        if sweep_key in measured and separate_key in measured:
            lines.append(where_the_time_goes(measured[sweep_key], measured[separate_key], n,
                                             sweep_key.split()[1]))
    scored = [m["scores"] for m in measured.values()]
    if len(scored) > 1:
        fid_gap = max(largest_difference(scored[0], s, "fid") for s in scored[1:])
        accuracy_gap = max(largest_difference(scored[0], s, "conditional_accuracy")
                           for s in scored[1:])
        lines.append(f"- Same measure: over the {len(scored)} measurements every cell's FID "
                     f"agrees to within {fid_gap:.2g} and its conditional accuracy to within "
                     f"{accuracy_gap:.2g} (same model, samples and seed; the cache changes no "
                     "result).")
    missing = [k for k in ("sweep cold", "sweep warm", "separate warm", "sweep off",
                           "separate off") if k not in measured]
    if missing:
        lines.append(f"- Not measured in this run: {', '.join(missing)}.")
    lines.append("")
    report.write_text("\n".join(lines))


def main(report: Path, sweeps_only: bool) -> None:
    spec = yaml.safe_load(CELLS.read_text())
    grid = cells(spec)
    samples = spec["evaluate"]["samples"]
    CACHE.mkdir(parents=True, exist_ok=True)
    cli("run", str(MODEL), *MODEL_OVERRIDES, "--runs-dir", str(RUNS), cache=str(CACHE))  # reused once trained
    run = next(p for p in (RUNS / "bench-sweep").iterdir() if (p / "result.json").is_file())
    # Train and cache the scoring classifier once, outside every timing.
    cli("evaluate", str(run), "--samples", str(samples), "--steps", "2", "--runs-dir", str(RUNS),
        cache=str(CACHE))

    began = datetime.now(timezone.utc)
    measured = {}
    # Warm-cache measurements first: they are the quicker ones.
    shutil.rmtree(CACHE)
    steps = [("sweep cold", lambda: sweep(run, str(CACHE))),
             ("sweep warm", lambda: sweep(run, str(CACHE))),
             ("separate warm", lambda: separate(run, grid, samples, str(CACHE))),
             ("sweep off", lambda: sweep(run, "off")),
             ("separate off", lambda: separate(run, grid, samples, "off"))]
    if sweeps_only:  # the sweep's own overhead only: the separate processes take most of the time
        steps = [step for step in steps if step[0].startswith("sweep")]
    for key, measure in steps:
        measured[key] = measure()
        print(f"{key}: {measured[key]['seconds']:.1f} s", flush=True)
        write_report(report, spec, began, measured)
    print(report.read_text())


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--sweeps-only" in sys.argv[2:])
