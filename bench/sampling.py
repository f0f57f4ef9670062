"""Sampling speed on this machine: fused sampling against a plain Python loop over a jitted
U-Net call (the same sampler, the same model, in the same process), the U-Net forward pass's
FLOP utilisation against a measured matmul peak, and the compile count as seed, guidance and
labels change. Writes bench/reports/sampling.md.

Usage (the launcher does this): python bench/sampling.py OUT.md
"""

import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone

import jax
import jax.numpy as jnp
import numpy as np

from latentlab import checkpoint, sampling
from latentlab.files import write_atomically
from latentlab.diffusion import samplers, schedules
from latentlab.models import UNet, VAE

# The architecture of experiments/mnist-ldm.yaml; speed does not depend on the weights.
UNET = dict(channels=48, channel_mult=(1, 2), attention_resolutions=(4,), num_classes=10)
LATENT = (8, 8, 4)
STEPS = 20
REPEATS = 5


def median_seconds(fn, repeats=REPEATS):
    fn()  # compile and warm up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def make_model():
    vae, unet = VAE(channels=16), UNet(**UNET)
    key = jax.random.PRNGKey(0)
    vae_params = vae.init(key, jnp.zeros((1, 32, 32, 1)), key)["params"]
    one = jnp.zeros((1,), jnp.int32)
    unet_params = unet.init(key, jnp.zeros((1,) + LATENT), one, one)["params"]
    # Perturb every weight: the zero-initialised output layers would make every output zero
    # (the same work for XLA, but a sampler walking through zeros is not a fair stand-in).
    leaves, tree = jax.tree.flatten(unet_params)
    keys = jax.random.split(key, len(leaves))
    unet_params = jax.tree.unflatten(tree, [p + 0.02 * jax.random.normal(k, p.shape)
                                            for p, k in zip(leaves, keys)])
    return checkpoint.LatentDiffusionModel(vae, vae_params, unet, unet_params,
                                           schedules.make_schedule("linear", 1000), 1.0, LATENT)


def python_loop(model, labels, sigmas, x_T):
    """DPM-Solver++(2M) written the usual way: a Python for-loop, one jitted U-Net (with
    guidance) call per step, the update in eager jax.numpy."""
    denoise = jax.jit(lambda x, sigma: samplers.model_denoiser(
        lambda x_t, t, y: model.unet.apply({"params": model.unet_params}, x_t, t, y),
        model.unet.prediction, model.schedule, labels, model.unet.null_label, 3.0)(x, sigma))
    sigmas = [float(s) for s in np.asarray(sigmas)]

    def run():
        x, previous = x_T, None
        for i in range(len(sigmas) - 1):
            sigma, sigma_next = sigmas[i], sigmas[i + 1]
            x0 = denoise(x, jnp.float32(sigma))
            if sigma_next == 0:
                x = x0
                break
            h = np.log(sigma) - np.log(sigma_next)
            mixed = x0
            if previous is not None:
                r = (np.log(sigmas[i - 1]) - np.log(sigma)) / h
                mixed = (1 + 0.5 / r) * x0 - (0.5 / r) * previous
            x = (sigma_next / sigma) * x - np.expm1(-h) * mixed
            previous = x0
        return x.block_until_ready()

    return run


def matmul_peak(n=1024):
    a = jnp.ones((n, n), jnp.float32)
    b = jnp.ones((n, n), jnp.float32)
    matmul = jax.jit(jnp.dot)
    seconds = median_seconds(lambda: matmul(a, b).block_until_ready(), repeats=10)
    return 2.0 * n ** 3 / seconds


def unet_forward(model, batch):
    apply = jax.jit(lambda x, t, y: model.unet.apply({"params": model.unet_params}, x, t, y))
    x = jnp.ones((batch,) + LATENT)
    t = jnp.full((batch,), 500.0)
    y = jnp.zeros((batch,), jnp.int32)
    flops = apply.lower(x, t, y).compile().cost_analysis()
    flops = (flops[0] if isinstance(flops, (list, tuple)) else flops)["flops"]
    seconds = median_seconds(lambda: apply(x, t, y).block_until_ready(), repeats=10)
    return flops, seconds


def main(out_path):
    model = make_model()
    rows = []
    for batch in (16, 64, 256):
        labels = jnp.asarray(np.arange(batch) % 10, jnp.int32)
        sigmas = schedules.sigmas(model.schedule, STEPS, "karras")
        fused = median_seconds(lambda: sampling.sample(
            model, sampler="dpmpp_2m", steps=STEPS, seed=0, labels=labels,
            guidance_scale=3.0).block_until_ready())
        x_T = samplers.initial_noise(jax.random.PRNGKey(1), (batch,) + LATENT, sigmas)
        loop = median_seconds(python_loop(model, labels, jnp.asarray(sigmas), x_T))
        rows.append((batch, fused, loop))
        print(f"batch {batch}: fused {fused * 1e3:.1f} ms, loop {loop * 1e3:.1f} ms", flush=True)

    before = sampling.compile_count()
    for change in ({"seed": 7}, {"guidance_scale": 5.0}, {"labels": np.full(64, 4)},
                   {"eta": 0.5}):
        args = dict(sampler="dpmpp_2m", steps=STEPS, seed=0, labels=np.arange(64) % 10,
                    guidance_scale=3.0)
        sampling.sample(model, **{**args, **change}).block_until_ready()
    recompiles = sampling.compile_count() - before

    peak = matmul_peak()
    forward = [(b, *unet_forward(model, b)) for b in (32, 128, 512)]

    cpu = "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lines = [
        "# Sampling speed",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `./latentlab bench "
        f"sampling` on {cpu}, {os.cpu_count()} cores, {jax.default_backend()} backend, "
        f"JAX {jax.__version__}, Python {platform.python_version()}. Model: the U-Net of "
        f"experiments/mnist-ldm.yaml ({UNET['channels']} channels, latents "
        f"{'×'.join(map(str, LATENT))}), random weights; median of {REPEATS} runs after a "
        "warm-up.",
        "",
        f"## Fused sampling against a Python loop (dpmpp_2m, {STEPS} steps, guidance 3)",
        "",
        "The loop is the usual hand-written sampler: one jitted U-Net call per step, the update "
        "in eager jax.numpy. Goal: ratio ≥ 1.0 (fused at least as fast).",
        "",
        "| batch | fused (ms) | Python loop (ms) | loop / fused | images/s fused |",
        "|---:|---:|---:|---:|---:|",
    ]
    for batch, fused, loop in rows:
        lines.append(f"| {batch} | {fused * 1e3:,.1f} | {loop * 1e3:,.1f} | {loop / fused:.2f} | "
                     f"{batch / fused:,.0f} |")
    lines += [
        "",
        "## Compiles",
        "",
        f"Changing seed, guidance scale, labels and η on a warm sampler: **{recompiles}** new "
        "compilations (goal 0: they are traced inputs; the sampler compiled once).",
        "",
        "## U-Net forward FLOP utilisation",
        "",
        f"Peak: a jitted float32 1024×1024 matmul, **{peak / 1e9:,.1f} GFLOP/s**. FLOPs per "
        "forward from XLA's cost analysis of the compiled U-Net.",
        "",
        "| batch | GFLOP per forward | ms | GFLOP/s | share of matmul peak |",
        "|---:|---:|---:|---:|---:|",
    ]
    for batch, flops, seconds in forward:
        lines.append(f"| {batch} | {flops / 1e9:,.2f} | {seconds * 1e3:,.1f} | "
                     f"{flops / seconds / 1e9:,.1f} | {flops / seconds / peak:.0%} |")
    text = "\n".join(lines) + "\n"
    write_atomically(out_path, text.encode())
    print(text)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
