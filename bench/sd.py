"""Stable Diffusion 1.5 at full size with random weights (``model.preset`` sd15: nothing is
downloaded), on this machine: one U-Net evaluation at 512×512 (batch 1, and batch 2 as
classifier-free guidance runs it) in seconds and as a share of the machine's float32 matmul
rate measured in the same process; the text encoder and the VAE decoder; and a diffusers folder
of the random weights (about 4.3 GB of float32 safetensors) written here, then imported by
``./latentlab import``'s code and loaded back as a sample command loads it, each in a process
of its own whose peak resident memory is read from the kernel. Then the bridge's share of a
whole text-to-image sample: JShell's ``lab.model(...).sample(...)`` (Java → Jep → Python, the
sample command's path) of the imported model at 256×256 with 25 DDIM steps, timed in Java,
against the seconds Python spent inside (its ``result.json``: load, sample, write); twice, the
second time with the model loaded and the programs compiled.

Usage (the launcher does this): python bench/sd.py OUT.md
"""

import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

PRESET = "sd15"
REPEATS = 3        # timed calls after the compiling one
MATMUL = 4096      # the matmul whose rate is the machine's reference
SIZE = 512
SHARE_SIZE, SHARE_STEPS = 256, 25  # the bridge's share: one sample of this size and steps
ROOT = Path(__file__).resolve().parents[1]


def timed(fn, *args, repeats=REPEATS):
    """(seconds of the first call, which compiles; median of the next ``repeats``)."""
    import jax
    started = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - started)
    return first, statistics.median(times)


def matmul_rate() -> float:
    """FLOP/s of a float32 [4096, 4096] @ [4096, 4096] on the default device."""
    import jax
    import jax.numpy as jnp
    a = jax.random.normal(jax.random.PRNGKey(0), (MATMUL, MATMUL), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (MATMUL, MATMUL), jnp.float32)
    _, seconds = timed(jax.jit(jnp.dot), a, b, repeats=7)
    return 2 * MATMUL ** 3 / seconds


def flops_of(compiled) -> float:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan")))


def say(text: str) -> None:
    print(f"bench sd: {text}", file=sys.stderr, flush=True)


def diffusers_name(path: tuple, leaf: str) -> str:
    """The diffusers/transformers key of a Flax parameter: each ``_<n>`` suffix back to ``.<n>``
    (the importer's ``flax_path`` joins either spelling the same way)."""
    parts = [re.sub(r"_(\d+)$", r".\1", part) for part in path]
    return ".".join(parts + ["bias" if leaf == "bias" else "weight"])


def torch_layout(array, leaf: str):
    """A Flax array as PyTorch stores it (the inverse of the importer's conversion)."""
    import numpy as np
    array = np.asarray(array, np.float32)
    if leaf == "kernel" and array.ndim == 4:
        return np.ascontiguousarray(np.transpose(array, (3, 2, 0, 1)))  # HWIO → OIHW
    if leaf == "kernel" and array.ndim == 2:
        return np.ascontiguousarray(array.T)
    return array


def write_diffusers_folder(folder: Path, components: dict) -> int:
    """A diffusers folder of the random weights; returns the safetensors' bytes."""
    from flax import traverse_util
    from safetensors.numpy import save_file
    from latentlab.models.sd import presets
    folder.mkdir(parents=True)
    index = {"_class_name": "StableDiffusionPipeline"}
    total = 0
    for name, (cls, values, params) in components.items():
        sub = folder / name
        sub.mkdir()
        key = "architectures" if cls.startswith("CLIP") else "_class_name"
        config = {**values, key: [cls] if key == "architectures" else cls}
        (sub / "config.json").write_text(json.dumps(config, indent=2))
        tensors = {diffusers_name(path[:-1], path[-1]): torch_layout(value, path[-1])
                   for path, value in traverse_util.flatten_dict(params).items()}
        file = sub / ("model.safetensors" if cls.startswith("CLIP")
                      else "diffusion_pytorch_model.safetensors")
        save_file(tensors, str(file))
        total += file.stat().st_size
        index[name] = ["transformers" if cls.startswith("CLIP") else "diffusers", cls]
    # SD 1.5's own vocabulary is not here (nothing is downloaded): the tiny test model's BPE
    # stands in. The text encoder reads 77 ids whatever they are, so the compute is the same.
    shutil.copytree(ROOT / "python/tests/fixtures/sd-tiny/diffusers/tokenizer", folder / "tokenizer")
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(presets.PRESETS[PRESET]["scheduler"]))
    (folder / "model_index.json").write_text(json.dumps(index))
    return total


# Run in a fresh process each, so that the peak resident memory is the step's own: the
# kernel's high-water mark of the process's memory (VmHWM, which starts afresh at exec;
# getrusage's ru_maxrss does not: it kept this process's 10 GB).
_PEAK = """
def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""
_IMPORT = _PEAK + """
import json, sys, time
from latentlab.models.sd import importer
started = time.perf_counter()
importer.import_model(sys.argv[1], sys.argv[2], "sd15-random")
print(json.dumps({"seconds": time.perf_counter() - started, "peak_kib": peak_kib()}))
"""
_LOAD = _PEAK + """
import json, sys, time
import jax
from latentlab.models.sd import importer
started = time.perf_counter()
loaded = importer.load_imported(sys.argv[1])
jax.block_until_ready([value[1] for key, value in loaded.items() if key != "meta"])
print(json.dumps({"seconds": time.perf_counter() - started, "peak_kib": peak_kib()}))
"""
_BASELINE = _PEAK + """
import json
import jax, jax.numpy as jnp
from latentlab.models.sd import importer
jnp.zeros(1).block_until_ready()
print(json.dumps({"peak_kib": peak_kib()}))
"""


def child(program: str, *args) -> dict:
    done = subprocess.run([sys.executable, "-c", program, *map(str, args)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                           f"exit {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bridge_share(model: Path) -> list[dict]:
    """Two samples of ``model`` (a folder inside the project) through JShell's facade, each
    {java_s, python_s: {load, sample, write}}; the samples' folders are removed after."""
    script = model.parent / "share.jsh"
    relative = model.relative_to(ROOT)
    lines = [f'var m = lab.model("{relative}").size({SHARE_SIZE}).steps({SHARE_STEPS});']
    for seed in (0, 1):
        lines += ["var t0 = System.nanoTime();",
                  f'var s{seed} = m.seed({seed}).sample("a watercolour fox in the snow");',
                  "var t1 = System.nanoTime();",
                  f'System.out.println("SHARE " + (t1 - t0) / 1e9 + " " + s{seed}.json().get("seconds"));']
    lines += ["/exit"]
    script.write_text("\n".join(lines) + "\n")
    done = subprocess.run([str(ROOT / "latentlab"), "shell", str(script)], capture_output=True,
                          text=True, check=False, cwd=ROOT)
    rows = []
    for line in done.stdout.splitlines():
        if line.startswith("SHARE "):
            _, java_s, python_json = line.split(" ", 2)
            rows.append({"java_s": float(java_s), "python_s": json.loads(python_json)})
    if len(rows) != 2:
        raise RuntimeError(f"the JShell sample did not report: {done.stdout[-2000:]}"
                           f"{done.stderr[-2000:]}")
    samples = ROOT / "runs" / "samples" / model.name
    shutil.rmtree(samples, ignore_errors=True)
    return rows


def main(out_path: str) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from latentlab.models.sd import presets

    load = os.getloadavg()[0]
    rate = matmul_rate()
    say(f"matmul {rate / 1e9:.1f} GFLOP/s")
    configs = presets.configs(PRESET)
    key = jax.random.PRNGKey(0)
    rows = []
    components = {}

    cls, cfg = configs["text_encoder"]
    started = time.perf_counter()
    text, text_params = presets.random_component(cls, cfg, key)
    init_text = time.perf_counter() - started
    ids = jax.random.randint(key, (2, cfg.max_position_embeddings), 0, cfg.vocab_size)
    encode = jax.jit(lambda p, i: text.apply({"params": p}, i)[0])
    first, seconds = timed(encode, text_params, ids)
    flops = flops_of(encode.lower(text_params, ids).compile())
    rows.append(("text encoder, 2 prompts × 77 tokens", first, seconds, flops))
    components["text_encoder"] = (cls, presets.PRESETS[PRESET]["text_encoder"]["config"], text_params)
    say(f"text encoder {seconds:.3f} s")

    cls, cfg = configs["unet"]
    started = time.perf_counter()
    unet, unet_params = presets.random_component(cls, cfg, key)
    init_unet = time.perf_counter() - started
    say(f"U-Net initialised in {init_unet:.0f} s")
    side = SIZE // 8
    step = jax.jit(lambda p, x, t, c: unet.apply({"params": p}, x, t, c, None))
    for batch in (1, 2):
        x = jax.random.normal(key, (batch, side, side, cfg.in_channels))
        t = jnp.full((batch,), 500.0)
        c = jax.random.normal(key, (batch, 77, cfg.cross_attention_dim))
        first, seconds = timed(step, unet_params, x, t, c, repeats=2)
        flops = flops_of(step.lower(unet_params, x, t, c).compile())
        label = "U-Net, one evaluation at 512×512" + (
            " (batch 2: one guided step)" if batch == 2 else " (batch 1)")
        rows.append((label, first, seconds, flops))
        say(f"U-Net batch {batch}: {seconds:.2f} s")
    components["unet"] = (cls, presets.PRESETS[PRESET]["unet"]["config"], unet_params)

    cls, cfg = configs["vae"]
    vae, vae_params = presets.random_component(cls, cfg, key)
    z = jax.random.normal(key, (1, side, side, cfg.latent_channels))
    decode = jax.jit(lambda p, z: vae.apply({"params": p}, z, method="decode"))
    first, seconds = timed(decode, vae_params, z, repeats=2)
    flops = flops_of(decode.lower(vae_params, z).compile())
    rows.append(("VAE decoder, one 512×512 image", first, seconds, flops))
    components["vae"] = (cls, presets.PRESETS[PRESET]["vae"]["config"], vae_params)
    say(f"VAE decode {seconds:.2f} s")

    counts = {name: presets.parameter_count(cls, configs[name][1])
              for name, (cls, _) in configs.items()}
    # inside the project (target/), where JShell's lab.model finds an imported model's folder
    (ROOT / "target").mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-sd-", dir=ROOT / "target"))
    try:
        started = time.perf_counter()
        weights_bytes = write_diffusers_folder(scratch / "sd15-random",
                                               {k: components[k] for k in ("unet", "vae",
                                                                           "text_encoder")})
        written = time.perf_counter() - started
        del components, unet_params, vae_params, text_params
        say(f"wrote {weights_bytes / 1e9:.2f} GB in {written:.0f} s")
        baseline = child(_BASELINE)
        imported = child(_IMPORT, scratch / "sd15-random", scratch / "models")
        say(f"imported in {imported['seconds']:.0f} s")
        loaded = child(_LOAD, scratch / "models" / "sd15-random")
        say(f"loaded in {loaded['seconds']:.0f} s")
        shares = bridge_share(scratch / "models" / "sd15-random")
        say(f"bridge share: {shares}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    gib = lambda kib: kib * 1024 / 1e9  # noqa: E731 (VmHWM is in KiB)
    lines = [
        "# Stable Diffusion 1.5 at full size on this machine",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `./latentlab bench sd` "
        f"(bench/sd.py) on {platform.node()}: backend {jax.default_backend()}, "
        f"{os.cpu_count()} CPU cores, JAX {jax.__version__}, float32; load average {load:.1f} "
        "at start.",
        "",
        f"Random weights of the `{PRESET}` preset (`latentlab.models.sd.presets`): U-Net "
        f"{counts['unet']:,}, VAE {counts['vae']:,}, text encoder {counts['text_encoder']:,} "
        "parameters, what diffusers and transformers count for SD 1.5's configs. Speed does "
        "not depend on the values. The reference rate is a float32 "
        f"{MATMUL}×{MATMUL} matmul in the same process: **{rate / 1e9:.1f} GFLOP/s**. "
        "FLOPs are XLA's own count of each compiled program (`cost_analysis`).",
        "",
        "| program | first call (compiles) s | median s | GFLOP | GFLOP/s | share of the matmul rate |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, first, seconds, flops in rows:
        lines.append(f"| {label} | {first:.1f} | {seconds:.3f} | {flops / 1e9:.1f} | "
                     f"{flops / seconds / 1e9:.1f} | {flops / seconds / rate:.0%} |")
    lines += [
        "",
        f"Initialising the random U-Net took {init_unet:.0f} s, the text encoder "
        f"{init_text:.0f} s (one jitted program each).",
        "",
        f"**Weights on disk.** The three components written as a diffusers folder of float32 "
        f"safetensors: {weights_bytes / 1e9:.2f} GB in {written:.0f} s. Each step below runs in "
        "a process of its own; peak resident memory is the kernel's high-water mark (`VmHWM`), "
        "beside a "
        f"process that only imports JAX and the importer ({gib(baseline['peak_kib']):.2f} GB):",
        "",
        "| step | seconds | peak resident GB | peak over the weights' size |",
        "|---|---:|---:|---:|",
        f"| `./latentlab import` of the folder (map every tensor, hash, write Orbax) | "
        f"{imported['seconds']:.1f} | {gib(imported['peak_kib']):.2f} | "
        f"{gib(imported['peak_kib']) * 1e9 / weights_bytes:.2f}× |",
        f"| loading the imported model (what `./latentlab sample` does first) | "
        f"{loaded['seconds']:.1f} | {gib(loaded['peak_kib']):.2f} | "
        f"{gib(loaded['peak_kib']) * 1e9 / weights_bytes:.2f}× |",
        "",
        f"**The bridge's share of a whole sample.** JShell's `lab.model(...).sample(...)` of the "
        f"imported model at {SHARE_SIZE}×{SHARE_SIZE}, {SHARE_STEPS} DDIM steps, one prompt with "
        "guidance (the sample command's path: Java → Jep → Python), timed in Java around the "
        "call, against the seconds Python spent inside it (its `result.json`); the rest is the "
        "bridge: the calls through Jep, the request's check, JSON both ways. The first call "
        "also starts Python in the JVM, loads the model and compiles; the second reuses all "
        "three. (The prompt is tokenized with "
        "the tiny test model's vocabulary, SD 1.5's not being here; the text encoder reads 77 "
        "ids either way.)",
        "",
        "| call | Java s | Python s (load + sample + write) | bridge s | bridge's share |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, share in zip(("first (starts Python in the JVM, loads, compiles)", "second"), shares):
        inside = sum(share["python_s"].values())
        lines.append(f"| {label} | {share['java_s']:.2f} | {inside:.2f} | "
                     f"{share['java_s'] - inside:.3f} | "
                     f"{(share['java_s'] - inside) / share['java_s']:.2%} |")
    lines += [
        "",
        "Not measured here yet: the same bench in bfloat16 on a GPU (no GPU was lent to this "
        "task).",
        "",
    ]
    Path(out_path).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    main(sys.argv[1])
