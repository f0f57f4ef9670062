"""The data path on this machine: how fast each source decodes, what the latent cache costs the
U-Net's steps, how much time the shared VAE stage and latent cache save a sweep, and how the
resident memory of a training grows with the data set.

1. Decoded images per second: the same generated pictures as an image folder of PNG and of
   JPEG files, one Parquet file of PNG bytes and two WebDataset tar shards, at 32, 64 and
   256 px; the time to open each, ``source[i]`` in a random order on one thread, and the
   product's ``Loader`` (Grain, host threads, prefetch).
2. U-Net steps per second with the latents as arrays in memory against the memory-mapped
   latent cache read by ``Loader(cache.take, ...)``; four runs of each, alternated.
3. A 4-trial sweep of experiments/quickstart.yaml (U-Net learning rate only) in one process
   and one throwaway home: each trial's VAE stage and encoding time, and what sharing saved.
4. Peak resident memory by phase of ``train_and_sample`` on 10,000 and 100,000 WebDataset
   samples, one child process per size reading its own /proc/self/status every 10 ms.

Every picture is generated here in a temporary folder, and VAE stages, shard indices and latent
caches go to a throwaway home, so the project's .cache is untouched (the bundled digits of
section 3 are read from it, not written).

Usage (the launcher does this, from python/): python bench/data.py OUT.md [--quick]
(--quick: every size about a tenth, a smoke test of the script, not a measurement.)
"""

import copy
import dataclasses
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import jax
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from PIL import Image

from latentlab import experiment
from latentlab.data import latent_cache, mnist, sources
from latentlab.data.loader import Loader, source_fetch, step_indices
from latentlab.diffusion import schedules
from latentlab.files import write_atomically
from latentlab.models import UNet
from latentlab.train import ldm, loops

from sampling import median_seconds  # bench/sampling.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "experiments" / "quickstart.yaml"
DIGITS = ROOT / mnist.CACHE_FILE
LOADER_BATCH = 50
PARQUET_ROW_GROUP = 100
DECODE_SHARDS = 2
MEMORY_SHARDS = 4
MEMORY_RESOLUTION = 64
MEMORY_SAMPLE_SECONDS = 0.01
MEMORY_SAMPLES, MEMORY_SAMPLE_STEPS = 16, 10
SWEEP_LEARNING_RATES = (2e-3, 1e-3, 5e-4, 3e-3)  # trial 1 is quickstart's own
# What Java's config records fill in where experiments/quickstart.yaml leaves a key out
# (io.latentlab.config: DiffusionConfig, TrainConfig.UnetTraining, SampleConfig); the CLI sends
# Python a config with these filled, so the bench does too.
JAVA_DEFAULTS = {
    "diffusion": {"beta_start": 1e-4, "beta_end": 0.02},
    "train": {"unet": {"loss_weighting": "uniform", "min_snr_gamma": 5.0}},
    "sample": {"spacing": schedules.DEFAULT_SPACING, "rho": schedules.DEFAULT_RHO},
}


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much each section measures; --quick divides each by about ten."""

    decode: tuple[tuple[int, int], ...]  # (px, images) per row group of the decode table
    unet_latents: int                    # latents 8×8×4 the U-Net trains on
    unet_timed_steps: int                # steps between the first and last loss report
    unet_runs: int                       # runs of each path, alternated
    sweep_digits: int | None             # digits the sweep trains on (None: all 10,000)
    sweep_holdout: int
    sweep_vae_steps: int
    sweep_unet_steps: int
    sweep_samples: int
    sweep_sample_steps: int
    memory_distinct: int                 # distinct pictures, cycled to each size
    memory_examples: tuple[int, ...]     # samples in the shards, one child process each
    memory_steps: int                    # VAE and U-Net steps of each child
    memory_holdout: int


FULL = Sizes(decode=((32, 800), (64, 800), (256, 200)), unet_latents=4096,
             unet_timed_steps=100, unet_runs=4, sweep_digits=None, sweep_holdout=1000,
             sweep_vae_steps=500, sweep_unet_steps=50, sweep_samples=16, sweep_sample_steps=10,
             memory_distinct=1000, memory_examples=(10_000, 100_000), memory_steps=20,
             memory_holdout=100)
# The loss is reported every loops.REPORT_EVERY (25) steps, so 25 timed steps is the least.
QUICK = Sizes(decode=((32, 100), (64, 100), (256, 50)), unet_latents=512,
              unet_timed_steps=loops.REPORT_EVERY, unet_runs=2, sweep_digits=1000,
              sweep_holdout=100, sweep_vae_steps=50, sweep_unet_steps=5, sweep_samples=16,
              sweep_sample_steps=2, memory_distinct=100, memory_examples=(1_000, 10_000),
              memory_steps=2, memory_holdout=100)


def say(text: str) -> None:
    print(f"bench data: {text}", file=sys.stderr, flush=True)


# --- data -------------------------------------------------------------------------------------

def picture(rng: np.random.Generator, px: int) -> np.ndarray:
    """A random-ish RGB picture: a coarse 4×4 colour field enlarged smoothly, with a little
    noise (so PNG and JPEG have something to compress, unlike pure noise). uint8 [px, px, 3]"""
    field = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    smooth = np.asarray(field.resize((px, px), Image.Resampling.BICUBIC), np.float32)
    return np.clip(smooth + rng.normal(0.0, 4.0, smooth.shape), 0, 255).astype(np.uint8)


def encoded(image: np.ndarray, kind: str) -> bytes:
    out = io.BytesIO()
    if kind == "jpeg":
        Image.fromarray(image).save(out, format="JPEG", quality=90)
    else:
        Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def write_shards(folder: Path, pngs: list[bytes], examples: int, shards: int) -> None:
    """``examples`` samples ``KEY.png`` (the pictures cycled, each sample its own key) split in
    order over ``shards`` uncompressed tar files."""
    folder.mkdir(parents=True)
    per_shard = -(-examples // shards)
    for shard in range(shards):
        with tarfile.open(folder / f"shard-{shard:04d}.tar", "w") as tar:
            for i in range(shard * per_shard, min((shard + 1) * per_shard, examples)):
                data = pngs[i % len(pngs)]
                member = tarfile.TarInfo(f"{i:07d}.png")
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))


def write_decode_sources(folder: Path, px: int, count: int) -> list[tuple[str, dict]]:
    """The same ``count`` pictures in each layout; returns (row name, data section) pairs."""
    rng = np.random.default_rng(px)
    images = [picture(rng, px) for _ in range(count)]
    pngs = [encoded(image, "png") for image in images]
    for kind, files in (("png", pngs), ("jpeg", [encoded(image, "jpeg") for image in images])):
        where = folder / f"folder-{kind}"
        where.mkdir(parents=True)
        for i, data in enumerate(files):
            (where / f"{i:05d}.{'jpg' if kind == 'jpeg' else 'png'}").write_bytes(data)
    pq.write_table(pa.table({"image": pa.array(pngs, pa.binary())}), folder / "images.parquet",
                   row_group_size=PARQUET_ROW_GROUP)
    write_shards(folder / "shards", pngs, count, DECODE_SHARDS)
    common = {"resolution": px, "channels": 3}
    return [
        ("image-folder PNG", {"dataset": sources.IMAGE_FOLDER, "path": str(folder / "folder-png"),
                              "labels": "none", **common}),
        ("image-folder JPEG", {"dataset": sources.IMAGE_FOLDER,
                               "path": str(folder / "folder-jpeg"), "labels": "none", **common}),
        ("parquet (PNG)", {"dataset": sources.PARQUET, "path": str(folder / "images.parquet"),
                           **common}),
        ("webdataset (PNG)", {"dataset": sources.WEBDATASET, "path": str(folder / "shards"),
                              **common}),
    ]


# --- 1. decoding ------------------------------------------------------------------------------

def measure_decoding(sizes: Sizes, work: Path) -> list[dict]:
    rows = []
    home = work / "home"
    for px, count in sizes.decode:
        for name, section in write_decode_sources(work / f"decode-{px}", px, count):
            started = time.perf_counter()
            source = sources.open_source(section, home)
            opened = time.perf_counter() - started
            assert len(source) == count and source.shape == (px, px, 3), (name, source.shape)

            order = np.random.default_rng(0).permutation(count)
            started = time.perf_counter()
            for i in order:
                source[int(i)]
            direct = count / (time.perf_counter() - started)

            key = jax.random.PRNGKey(0)
            step_indices(key, 0, count, LOADER_BATCH)  # compiles the index program first
            loader = Loader(source_fetch(source, np.arange(count)), count, key, LOADER_BATCH)
            steps = count // LOADER_BATCH
            started = time.perf_counter()
            for (batch,) in loader.iterate(0, steps):
                assert batch.dtype == np.float32
            loaded = steps * LOADER_BATCH / (time.perf_counter() - started)
            rows.append({"source": name, "px": px, "images": count, "open_s": opened,
                         "direct": direct, "loader": loaded})
            say(f"decode {name} {px} px: open {opened:.2f} s, direct {direct:,.0f}/s, "
                f"loader {loaded:,.0f}/s")
    return rows


# --- 2. the latent cache against arrays in memory -------------------------------------------

def quickstart() -> dict:
    """experiments/quickstart.yaml with the keys Java fills in filled (see JAVA_DEFAULTS)."""
    config = yaml.safe_load(QUICKSTART.read_text())

    def merge(into: dict, defaults: dict) -> None:
        for key, value in defaults.items():
            if isinstance(value, dict):
                merge(into.setdefault(key, {}), value)
            else:
                into.setdefault(key, value)

    merge(config, JAVA_DEFAULTS)
    return config


def measure_latent_cache(sizes: Sizes, work: Path) -> dict:
    config = quickstart()
    resolved = experiment.resolve(config)
    unet = UNet(**resolved["model"]["unet"])
    train = config["train"]["unet"]
    diffusion = config["diffusion"]
    schedule = schedules.make_schedule(diffusion["beta_schedule"], diffusion["num_timesteps"],
                                       diffusion["beta_start"], diffusion["beta_end"])
    rng = np.random.default_rng(0)
    n = sizes.unet_latents
    means = rng.normal(size=(n, 8, 8, 4)).astype(np.float32)          # [N, 8, 8, 4] float32
    log_vars = np.full_like(means, -4.0)                              # [N, 8, 8, 4] float32
    labels = (np.arange(n) % unet.num_classes).astype(np.int32)       # [N] int32
    path = work / "latents.arrow"
    latent_cache.write(path, ((means[i:i + 500], log_vars[i:i + 500], labels[i:i + 500])
                              for i in range(0, n, 500)), {})
    cache = latent_cache.Latents(path)
    scale = loops.latent_scale(means)
    batch = train["batch_size"]

    def run(from_cache: bool) -> tuple[float, float]:
        """(steps per second between the first and last loss report, final loss)"""
        stamps = []
        data = ((lambda data_key: Loader(cache.take, len(cache), data_key, batch), None, None)
                if from_cache else (means, log_vars, labels))
        _, loss = loops.train_denoiser(
            unet, *data, scale, schedule, jax.random.PRNGKey(0),
            steps=loops.REPORT_EVERY + sizes.unet_timed_steps, batch_size=batch,
            learning_rate=train["learning_rate"], ema_decay=train["ema_decay"],
            label_dropout=train["label_dropout"],
            progress=lambda stage, step, steps, value: stamps.append((step, time.perf_counter())))
        (s0, t0), (s1, t1) = stamps[0], stamps[-1]
        return (s1 - s0) / (t1 - t0), loss

    runs = {"arrays": [], "cache": []}
    losses = {}
    for number in range(sizes.unet_runs):
        for path_name in ("arrays", "cache"):  # alternated, so drifting load hits both alike
            rate, losses[path_name] = run(path_name == "cache")
            runs[path_name].append(rate)
            say(f"U-Net run {number + 1}, {path_name}: {rate:.2f} steps/s")

    positions = [rng.permutation(n)[:batch] for _ in range(200)]
    drawn = iter(positions * 2)
    take = median_seconds(lambda: cache.take(next(drawn)), repeats=len(positions))
    return {"runs": runs, "take_s": take, "losses": losses, "latents": n,
            "batch": batch, "timed_steps": sizes.unet_timed_steps}


# --- 3. a sweep sharing the VAE stage and the latent cache ----------------------------------

def sweep_data(sizes: Sizes):
    """The bundled digits (their .npz path, as the CLI's runs read them), or the first
    ``sweep_digits`` of them as a Source."""
    if not DIGITS.is_file():
        sys.exit(f"bench data: no bundled digits at {DIGITS}; run ./latentlab setup")
    if sizes.sweep_digits is None:
        return str(DIGITS)
    digits = mnist.load(DIGITS)
    first = mnist.Digits(digits.images[:sizes.sweep_digits], digits.labels[:sizes.sweep_digits])
    return ldm.digit_source(first, f"{mnist.sha256_of(DIGITS)}-first-{sizes.sweep_digits}")


def measure_sweep(sizes: Sizes, work: Path) -> dict:
    base = quickstart()
    base["data"]["holdout"] = sizes.sweep_holdout
    base["train"]["vae"]["steps"] = sizes.sweep_vae_steps
    base["train"]["unet"]["steps"] = sizes.sweep_unet_steps
    base["sample"].update(num_samples=sizes.sweep_samples, steps=sizes.sweep_sample_steps)
    data = sweep_data(sizes)
    home = work / "sweep-home"
    trials = []
    for number, learning_rate in enumerate(SWEEP_LEARNING_RATES, 1):
        config = copy.deepcopy(base)
        config["train"]["unet"]["learning_rate"] = learning_rate
        marks = {}

        def progress(stage, step, total, loss, marks=marks):
            if stage == "vae" and step == total:
                marks["vae_done"] = time.perf_counter()
            elif stage == "unet" and step == 0:
                marks["unet_start"] = time.perf_counter()

        started = time.perf_counter()
        result = ldm.train_and_sample(config, data, progress, home=home)
        finished = time.perf_counter()
        trial = {"trial": number, "learning_rate": learning_rate,
                 "vae_s": marks["vae_done"] - started,
                 "encode_s": marks["unet_start"] - marks["vae_done"],
                 "total_s": finished - started,
                 "vae_reused": result.stages["vae_stage"]["reused"],
                 "encoded": result.stages["latent_cache"]["encoded"]}
        trials.append(trial)
        say(f"sweep trial {number}: VAE stage {trial['vae_s']:.1f} s, encode "
            f"{trial['encode_s']:.1f} s, total {trial['total_s']:.1f} s")
    return {"trials": trials, "digits": sizes.sweep_digits, "vae_steps": sizes.sweep_vae_steps,
            "unet_steps": sizes.sweep_unet_steps, "samples": sizes.sweep_samples,
            "sample_steps": sizes.sweep_sample_steps}


# --- 4. resident memory by data-set size ----------------------------------------------------

STATUS_FIELDS = ("VmRSS", "RssAnon", "RssFile")


def read_status() -> dict[str, int]:
    """This process's /proc/self/status memory fields, in KiB."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in STATUS_FIELDS or name == "VmHWM":
                values[name] = int(rest.split()[0])
    return values


def memory_config(sizes: Sizes, shards: str) -> dict:
    config = quickstart()
    config["data"] = {"dataset": sources.WEBDATASET, "path": shards,
                      "resolution": MEMORY_RESOLUTION, "channels": 3,
                      "holdout": sizes.memory_holdout}
    config["model"]["vae"]["channels"] = 8
    config["model"]["unet"]["num_classes"] = 0  # the shards carry no labels
    config["train"]["vae"]["steps"] = sizes.memory_steps
    config["train"]["unet"]["steps"] = sizes.memory_steps
    config["sample"].update(num_samples=MEMORY_SAMPLES, steps=MEMORY_SAMPLE_STEPS)
    return config


def memory_child(config_json: str, home: str) -> dict:
    """Runs in the child process: one train_and_sample, its memory sampled by phase."""
    phases = ["open data + VAE", "encode + latent scale", "U-Net", "sampling"]
    peaks = {phase: dict.fromkeys(STATUS_FIELDS, 0) for phase in phases}
    current = [phases[0]]
    stop = threading.Event()

    def sample():
        while True:
            values, phase = read_status(), current[0]
            for field in STATUS_FIELDS:
                peaks[phase][field] = max(peaks[phase][field], values[field])
            if stop.wait(MEMORY_SAMPLE_SECONDS):
                return

    def progress(stage, step, total, loss):
        if stage == "vae" and step == total:
            current[0] = phases[1]
        elif stage == "unet" and step == 0:
            current[0] = phases[2]
        elif stage == "sample" and step == 0:
            current[0] = phases[3]

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = ldm.train_and_sample(json.loads(config_json), None, progress, home=home)
    stop.set()
    sampler.join()
    cache = Path(result.stages["latent_cache"]["path"])
    return {"phases": [{"phase": p, **peaks[p]} for p in phases],
            "hwm_kib": read_status()["VmHWM"], "cache_bytes": cache.stat().st_size}


def measure_memory(sizes: Sizes, work: Path, out_path: str) -> list[dict]:
    rng = np.random.default_rng(64)
    pngs = [encoded(picture(rng, MEMORY_RESOLUTION), "png")
            for _ in range(sizes.memory_distinct)]
    rows = []
    for examples in sizes.memory_examples:
        shards = work / f"memory-{examples}"
        write_shards(shards, pngs, examples, MEMORY_SHARDS)
        home = work / f"memory-home-{examples}"
        config = json.dumps(memory_config(sizes, str(shards)))
        say(f"memory: {examples:,} samples in a child process")
        done = subprocess.run([sys.executable, os.path.abspath(__file__), out_path,
                               "--memory-child", config, str(home)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench data: the memory child ({examples:,} samples) failed "
                     f"({done.returncode}):\n{done.stderr[-3000:]}")
        rows.append({"examples": examples, **json.loads(done.stdout.strip().splitlines()[-1])})
        for entry in shards.iterdir():  # the 100,000-sample shards are about a gigabyte
            entry.unlink()
    return rows


# --- the report -------------------------------------------------------------------------------

def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f}"


def report(m: dict, sizes: Sizes, quick: bool) -> list[str]:
    cores = os.cpu_count()
    lines = [
        "# Data: decoding, the latent cache, shared stages and memory",
        "",
        f"Measured {m['date']:%Y-%m-%d %H:%M} UTC by `./latentlab bench data` (bench/data.py) "
        f"on {platform.node()}: {cores} CPU cores, backend **{jax.default_backend()}**, "
        f"JAX {jax.__version__}, Python {platform.python_version()}; load average "
        f"{m['load']:.1f} when it started, {m['minutes']:.1f} minutes in all."
        + (f" **Measured under contention (load average above the {cores} cores)**: absolute "
           "rates are lower than on an idle machine, and what carries over is the ratios "
           "within this run (rows measured alternately or back to back)."
           if m["load"] > cores else ""),
        "",
    ]
    if quick:
        lines += ["**`--quick`**: every size about a tenth of the full bench's. A smoke test of "
                  "the script, not a measurement; run `./latentlab bench data` for the figures.",
                  ""]
    lines += [
        "All data is generated by the bench in a temporary folder (random-ish pictures: a "
        "coarse colour field, smoothly enlarged, with a little noise), and the VAE stages and "
        "latent caches go to a throwaway home, so the project's `.cache` is untouched.",
        "",
        "## Decoded images per second, by source and size",
        "",
        "The same pictures as an image folder of PNG files, an image folder of JPEG files "
        f"(quality 90), one Parquet file of PNG bytes (row groups of {PARQUET_ROW_GROUP}) and "
        f"{DECODE_SHARDS} WebDataset tar shards of PNG files; opened with "
        "`latentlab.data.sources.open_source` at their own size (3 channels, no resize). "
        "*Direct*: `source[i]` in a random order, one thread. *Loader*: "
        f"`latentlab.data.loader.Loader` batches of {LOADER_BATCH} in the training order "
        "(Grain, 2 host threads, prefetch 4), decode to float32 included. *Open*: listing and "
        "the check of every image made before training (and, for shards, building the index).",
        "",
        "| source | px | images | open (s) | direct images/s | loader images/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in m["decoding"]:
        lines.append(f"| {row['source']} | {row['px']} | {row['images']:,} | "
                     f"{row['open_s']:.2f} | {row['direct']:,.0f} | {row['loader']:,.0f} |")

    u = m["unet"]
    arrays, cached = (statistics.median(u["runs"][k]) for k in ("arrays", "cache"))
    ratio = cached / arrays
    same = u["losses"]["arrays"] == u["losses"]["cache"]
    lines += [
        "",
        "## U-Net steps per second: the latent cache against arrays in memory",
        "",
        f"experiments/quickstart.yaml's U-Net (random weights), batch {u['batch']}, "
        f"{u['latents']:,} latents 8×8×4, `loops.train_denoiser`: once with the latents as "
        "arrays in memory (the path without a home), once with `Loader(cache.take, ...)` over "
        "the memory-mapped Arrow IPC file (`latentlab.data.latent_cache`, the path "
        "`train_and_sample` takes with a home). Steps per second between the first and last "
        f"loss report ({u['timed_steps']} steps, compiled and warm), {len(u['runs']['arrays'])} "
        "runs of each, alternated.",
        "",
        "| latents from | runs (steps/s) | median steps/s |",
        "|---|---|---:|",
        f"| arrays in memory | {', '.join(f'{r:.2f}' for r in u['runs']['arrays'])} | "
        f"{arrays:.2f} |",
        f"| latent cache (memory-mapped) | {', '.join(f'{r:.2f}' for r in u['runs']['cache'])} "
        f"| {cached:.2f} |",
        "",
        f"Cache ÷ arrays: **{ratio:.3f}** (goal within 5 %: "
        f"**{'met' if ratio >= 0.95 else 'not met'}**). One batch's `cache.take` "
        f"({u['batch']} random rows) takes {u['take_s'] * 1e3:.2f} ms, read on the loader's "
        "threads ahead of the step. "
        + ("Final losses of the two paths equal (the same batches, the same bits)." if same else
           f"**Final losses differ**: {u['losses']['arrays']!r} (arrays) against "
           f"{u['losses']['cache']!r} (cache); the two paths should give the same bits."),
    ]

    s = m["sweep"]
    trials = s["trials"]
    first = trials[0]
    digits = "10,000 digits" if s["digits"] is None else f"the first {s['digits']:,} digits"
    saved_vae = sum(first["vae_s"] - t["vae_s"] for t in trials[1:])
    saved_encode = sum(first["encode_s"] - t["encode_s"] for t in trials[1:])
    unshared = len(trials) * (first["vae_s"] + first["encode_s"])
    lines += [
        "",
        f"## Time the shared VAE stage and latent cache save: a {len(trials)}-trial sweep",
        "",
        f"experiments/quickstart.yaml ({digits}, VAE {s['vae_steps']} steps), U-Net cut to "
        f"{s['unet_steps']} steps and sampling to {s['samples']} images × {s['sample_steps']} "
        f"steps so the sweep is short, {len(trials)} trials differing only in the U-Net's "
        "learning rate, one process, one throwaway home. *VAE stage*: from the start to the "
        "VAE's last report (opening the data, then training, or reading a shared stage back). "
        "*Encode*: from there to the U-Net's start (the held-out PSNR, encoding the training "
        "set into the cache and writing it, or opening the cache; the latent scale).",
        "",
        "| trial | U-Net lr | VAE stage (s) | shared VAE | encode (s) | latents encoded | "
        "total (s) |",
        "|---:|---:|---:|---|---:|---|---:|",
    ]
    for t in trials:
        lines.append(f"| {t['trial']} | {t['learning_rate']:g} | {t['vae_s']:.1f} | "
                     f"{'read back' if t['vae_reused'] else 'trained'} | {t['encode_s']:.1f} | "
                     f"{'no (cache)' if not t['encoded'] else 'yes'} | {t['total_s']:.1f} |")
    lines += [
        "",
        f"Saved by trials 2–{len(trials)}: **{saved_vae:.0f} s of VAE stage and "
        f"{saved_encode:.0f} s of encoding, {saved_vae + saved_encode:.0f} s in all** "
        f"({(saved_vae + saved_encode) / unshared:.0%} of the {unshared:.0f} s the "
        f"{len(trials)} VAE stages and encodes would take unshared). Trial 1's figures include "
        "compiling the VAE step and encoder; an unshared trial would pay that too in its own "
        "process (the on-disk compilation cache shortens it).",
    ]

    memory = m["memory"]
    lines += [
        "",
        "## Resident memory by data-set size",
        "",
        "A small latent diffusion model trained through `train_and_sample` with a home (the "
        "streamed loader for the VAE, the latent cache for the U-Net) on "
        f"{MEMORY_RESOLUTION}×{MEMORY_RESOLUTION} RGB images in {MEMORY_SHARDS} WebDataset "
        f"shards: {sizes.memory_distinct:,} distinct generated PNG pictures cycled to "
        + " and ".join(f"{r['examples']:,}" for r in memory) + " samples (each its own key). "
        f"VAE 8 channels (latents {MEMORY_RESOLUTION // 4}×{MEMORY_RESOLUTION // 4}×4), "
        f"{sizes.memory_steps} VAE and {sizes.memory_steps} U-Net steps, {MEMORY_SAMPLES} "
        f"samples × {MEMORY_SAMPLE_STEPS} steps, one child process per size; peak of "
        "/proc/self/status sampled every "
        f"{MEMORY_SAMPLE_SECONDS * 1000:.0f} ms per phase. *Anonymous* is the process's own "
        "memory; *file* is pages of memory-mapped files (the cache) it has touched, which the "
        "kernel can drop; VmHWM is the peak of their sum.",
        "",
        "| images | cache file (MiB) | phase | peak RSS (MiB) | peak anonymous (MiB) | "
        "peak file-backed (MiB) |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for row in memory:
        cache = f"{row['cache_bytes'] / 2 ** 20:,.0f}"
        for phase in row["phases"]:
            lines.append(f"| {row['examples']:,} | {cache} | {phase['phase']} | "
                         f"{mib(phase['VmRSS'])} | {mib(phase['RssAnon'])} | "
                         f"{mib(phase['RssFile'])} |")
        lines.append(f"| {row['examples']:,} | | **whole run (VmHWM)** | "
                     f"**{mib(row['hwm_kib'])}** | | |")
    small, large = memory[0], memory[-1]
    lines += [
        "",
        f"Peak RSS {mib(small['hwm_kib'])} MiB at {small['examples']:,} images and "
        f"{mib(large['hwm_kib'])} MiB at {large['examples']:,} "
        f"({large['hwm_kib'] / small['hwm_kib']:.2f}×, for "
        f"{large['examples'] / small['examples']:.0f}× the data).",
        "",
    ]
    return lines


def main(out_path: str, quick: bool) -> None:
    sizes = QUICK if quick else FULL
    say(f"{'quick run' if quick else 'about 10 minutes on 2 cores'}; writing {out_path}")
    measured = {"date": datetime.now(timezone.utc), "load": os.getloadavg()[0]}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-data-") as folder:
        work = Path(folder)
        measured["decoding"] = measure_decoding(sizes, work)
        measured["unet"] = measure_latent_cache(sizes, work)
        measured["sweep"] = measure_sweep(sizes, work)
        measured["memory"] = measure_memory(sizes, work, out_path)
    measured["minutes"] = (time.perf_counter() - started) / 60
    text = "\n".join(report(measured, sizes, quick))
    write_atomically(out_path, text.encode())
    print(text)


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 4 and args[1] == "--memory-child":
        print(json.dumps(memory_child(args[2], args[3])))
    elif args and not args[0].startswith("--") and args[1:] in ([], ["--quick"]):
        main(args[0], quick=args[1:] == ["--quick"])
    else:
        sys.exit("usage: python bench/data.py OUT.md [--quick]")
