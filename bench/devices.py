"""Training and sampling speed by device count: the product's own data-parallel training loop
(latentlab.train.loops, state replicated, batch split over a Mesh) and fused sampling, on 1, 2,
4... local devices, beside a plain jitted training step on one device in the same process.

On a CPU-only machine the devices are simulated: the measuring process starts with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``, which splits one host into four XLA
devices sharing the same cores. That shows what the mesh costs (partitioning, the gradient
all-reduce, the per-device programs), not a speed-up: four simulated devices have no more
arithmetic than one. On a GPU or TPU machine the real local devices are used, and the report
gives the training step's FLOP utilisation against a matmul peak measured in the same process.

**Several processes**: the same training loop over 2 JAX processes × 2 simulated devices each
(CPU collectives over gloo, the processes joined through ``latentlab.distributed``), beside
1 process × 4 devices, with the cost of the gradients' all-reduce alone per step in each.

Usage (the launcher does this): python bench/devices.py OUT.md
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

SIMULATED = 4
UNET = dict(channels=48, channel_mult=(1, 2), attention_resolutions=(4,), num_classes=10)
LATENT = (8, 8, 4)          # experiments/mnist-ldm.yaml's U-Net and latent shape
TRAIN_BATCH = 128           # its U-Net batch
SAMPLE_BATCH = 256
SAMPLE_STEPS = 20
DATA = 1024                 # latents to draw training batches from (their values do not matter)


def measure() -> dict:
    """Runs in the child process (devices fixed at start): every measurement, as one dict."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from latentlab import checkpoint, execution, sampling
    from latentlab.diffusion import schedules
    from latentlab.models import UNet, VAE
    from latentlab.train import loops

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from sampling import matmul_peak, median_seconds  # bench/sampling.py

    local = jax.local_devices()
    counts = [n for n in (1, 2, 4, 8, 16) if n <= len(local)]
    unet = UNet(**UNET)
    schedule = schedules.make_schedule("linear", 1000)
    rng = np.random.default_rng(0)
    means = rng.normal(size=(DATA,) + LATENT).astype(np.float32)
    log_vars = np.full_like(means, -4.0)
    labels = np.arange(DATA) % 10
    report_every = loops.REPORT_EVERY
    timed_steps = 2 * report_every

    def train_steps_per_second(ex) -> float:
        """The loop's steps per second between its first loss report (compiled, warm) and its
        last: each report waits for the step, so the interval holds whole steps."""
        stamps = []
        loops.train_denoiser(unet, means, log_vars, labels, 1.0, schedule, jax.random.PRNGKey(0),
                             steps=report_every + timed_steps, batch_size=TRAIN_BATCH,
                             learning_rate=1e-3, ema_decay=0.999, label_dropout=0.1,
                             progress=lambda stage, step, steps, value: stamps.append(
                                 (step, time.perf_counter())),
                             execution=ex)
        (s0, t0), (s1, t1) = stamps[0], stamps[-1]
        return (s1 - s0) / (t1 - t0)

    def plain_step():
        """The reference: one jitted step of the same loss and optimiser, one device, no mesh,
        no sharding annotations, no donation. Returns (steps/s, FLOPs per step)."""
        params = unet.init(jax.random.PRNGKey(0), jnp.zeros((1,) + LATENT),
                           jnp.zeros((1,), jnp.int32), jnp.zeros((1,), jnp.int32))["params"]
        optimiser = optax.adamw(1e-3)
        opt_state = optimiser.init(params)
        z = jnp.asarray(means[:TRAIN_BATCH])
        y = jnp.asarray(labels[:TRAIN_BATCH], jnp.int32)

        @jax.jit
        def step(params, opt_state, key):
            loss, grads = jax.value_and_grad(lambda p: loops.denoising_loss(
                unet.apply, p, z, y, key, schedule, unet.prediction, 0.1, unet.null_label,
                "uniform", 5.0))(params)
            updates, opt_state = optimiser.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        key = jax.random.PRNGKey(1)
        cost = step.lower(params, opt_state, key).compile().cost_analysis()
        flops = (cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"]
        state = [params, opt_state]

        def run():
            state[0], state[1], loss = step(state[0], state[1], key)
            loss.block_until_ready()

        run()
        started = time.perf_counter()
        for _ in range(timed_steps):
            run()
        return timed_steps / (time.perf_counter() - started), flops

    def allreduce_ms(ex) -> float:
        """Milliseconds for one all-reduce of a gradient-shaped pytree over the mesh: each
        device holds its own copy of every parameter's shape (as after its share of the
        backward pass), summed into a replicated tree, as XLA does for the step's gradients."""
        params = unet.init(jax.random.PRNGKey(0), jnp.zeros((1,) + LATENT),
                           jnp.zeros((1,), jnp.int32), jnp.zeros((1,), jnp.int32))["params"]
        n = ex.size
        partial = jax.tree.map(lambda p: jnp.broadcast_to(p, (n,) + p.shape), params)
        partial = execution.put(ex, partial, ex.batch)
        reduce = jax.jit(lambda g: jax.tree.map(lambda x: x.sum(0), g),
                         out_shardings=ex.replicated)
        return 1000 * median_seconds(
            lambda: jax.block_until_ready(reduce(partial)), repeats=20)

    def images_per_second(ex) -> float:
        key = jax.random.PRNGKey(0)
        unet_params = unet.init(key, jnp.zeros((1,) + LATENT), jnp.zeros((1,), jnp.int32),
                                jnp.zeros((1,), jnp.int32))["params"]
        vae = VAE(channels=16)
        vae_params = vae.init(key, jnp.zeros((1, 32, 32, 1)), key)["params"]
        model = checkpoint.LatentDiffusionModel(
            vae, jax.device_put(vae_params, ex.replicated), unet,
            jax.device_put(unet_params, ex.replicated), schedule, 1.0, LATENT)
        seconds = median_seconds(lambda: sampling.sample(
            model, sampler="dpmpp_2m", steps=SAMPLE_STEPS, seed=0,
            labels=np.arange(SAMPLE_BATCH) % 10, guidance_scale=3.0,
            execution=ex).block_until_ready(), repeats=3)
        return SAMPLE_BATCH / seconds

    if jax.process_count() > 1:  # one of the processes of the multi-process rows
        ex = execution.from_config(None)
        return {"processes": jax.process_count(), "devices": ex.size,
                "train_steps_per_s": statistics.median(
                    train_steps_per_second(ex) for _ in range(2)),
                "allreduce_ms": allreduce_ms(ex)}
    load = os.getloadavg()[0]
    plain_rate, flops = plain_step()
    rows = []
    for n in counts:
        ex = execution.from_config({"devices": n})
        train = statistics.median(train_steps_per_second(ex) for _ in range(2))
        rows.append({"devices": n, "train_steps_per_s": train,
                     "train_images_per_s": train * TRAIN_BATCH,
                     "sample_images_per_s": images_per_second(ex),
                     "allreduce_ms": allreduce_ms(ex)})
    return {"load": load, "backend": jax.default_backend(), "device_kind": local[0].device_kind,
            "devices": len(local), "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "jax": jax.__version__, "matmul_peak_flops": matmul_peak(),
            "plain_steps_per_s": plain_rate, "train_step_flops": flops, "rows": rows}


def child_environment() -> dict:
    """The measuring process's environment: simulated CPU devices unless an accelerator is
    there (asked of a separate short process, since a process's devices are fixed at start)."""
    probe = subprocess.run([sys.executable, "-c", "import jax; print(jax.default_backend())"],
                           capture_output=True, text=True, check=True)
    env = dict(os.environ)
    if probe.stdout.strip() == "cpu":
        flag = f"--xla_force_host_platform_device_count={SIMULATED}"
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flag).strip()
    return env


def report(m: dict) -> str:
    simulated = m["backend"] == "cpu"
    peak = m["matmul_peak_flops"]
    one = m["rows"][0]
    lines = [
        "# Devices: data-parallel training and sampling by device count",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `./latentlab bench devices` "
        f"(bench/devices.py) on {platform.node()}: backend **{m['backend']}** "
        f"({m['device_kind']}), {m['devices']} local device(s), {os.cpu_count()} CPU cores, "
        f"JAX {m['jax']}" + (f", `XLA_FLAGS={m['xla_flags']}`" if m["xla_flags"] else "")
        + f"; load average {m['load']:.1f} when it started (other work on the machine slows "
        "every row alike; the ratios are what carries over).",
        "",
    ]
    if simulated:
        lines += [
            f"**The devices are simulated**: one host split into {m['devices']} XLA CPU devices "
            "that share the same cores. The rows show what the mesh costs (the batch split, "
            "the gradients' all-reduce, one program per device); they cannot show a speed-up, "
            "since more simulated devices bring no more arithmetic. On a GPU or TPU machine the "
            "same command measures the real devices.",
            "",
        ]
    lines += [
        f"Model: experiments/mnist-ldm.yaml's U-Net (channels 48, latents {LATENT}). Training: "
        f"`latentlab.train.loops.train_denoiser` (the product's loop: state replicated and "
        f"donated, the global batch of {TRAIN_BATCH} split over the mesh), steps per second "
        f"between loss reports (each waits for its step), median of two runs. Sampling: "
        f"fused DPM-Solver++(2M), {SAMPLE_STEPS} steps, guidance 3, {SAMPLE_BATCH} images "
        "split over the mesh, median of 3 after a warm-up.",
        "",
        "| devices | train steps/s | train images/s | vs 1 device | sampled images/s | vs 1 device |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in m["rows"]:
        lines.append(
            f"| {row['devices']} | {row['train_steps_per_s']:.2f} | "
            f"{row['train_images_per_s']:,.0f} | "
            f"{row['train_steps_per_s'] / one['train_steps_per_s']:.2f}× | "
            f"{row['sample_images_per_s']:,.0f} | "
            f"{row['sample_images_per_s'] / one['sample_images_per_s']:.2f}× |")
    if m.get("multi_process"):
        mp, four = m["multi_process"], m["rows"][-1]
        lines += [
            "",
            f"**Over several processes** (`execution.processes`): the same loop over "
            f"{mp['processes']} JAX processes of {mp['devices'] // mp['processes']} devices "
            f"each (joined through `latentlab.distributed`, CPU collectives over gloo, TCP on "
            f"this host), beside one process of {four['devices']}; the all-reduce column times "
            "a sum of every parameter's per-device copy into a replicated tree, what XLA does "
            "with the step's gradients, alone.",
            "",
            "| processes × devices | train steps/s | vs 1 process | all-reduce of the gradients, ms |",
            "|---|---:|---:|---:|",
            f"| 1 × {four['devices']} | {four['train_steps_per_s']:.2f} | 1.00× | "
            f"{four['allreduce_ms']:.1f} |",
            f"| {mp['processes']} × {mp['devices'] // mp['processes']} | "
            f"{mp['train_steps_per_s']:.2f} | "
            f"{mp['train_steps_per_s'] / four['train_steps_per_s']:.2f}× | "
            f"{mp['allreduce_ms']:.1f} |",
            "",
            "What these rows can predict: the fixed cost a step pays for crossing processes "
            "(gloo sends each gradient tensor as its own message, so a model of many small "
            "tensors pays per tensor, not per byte) and that the loop's results do not depend "
            "on it (MultiProcessRunTest). What they cannot: real multi-host speed. Here the "
            "processes share 2 cores and talk over loopback TCP; on GPU hosts the collectives "
            "go over NCCL and NVLink or InfiniBand, where the same all-reduce is a small "
            "fraction of a step, and each process brings its own arithmetic.",
        ]
    utilisation = m["train_step_flops"] * m["plain_steps_per_s"] / peak
    lines += [
        "",
        "Reference, same process: a plain `jax.jit` step of the same loss and AdamW on one "
        f"device (no mesh, no sharding annotations, no donation, a fixed batch): "
        f"**{m['plain_steps_per_s']:.2f} steps/s**; the product's loop on 1 device runs at "
        f"**{one['train_steps_per_s'] / m['plain_steps_per_s']:.2f}×** of it (it also draws "
        "each step's batch and latent noise, and keeps an EMA).",
        "",
        f"FLOP utilisation: the step is {m['train_step_flops'] / 1e9:,.1f} GFLOP (XLA's cost "
        f"analysis of the plain step); at its rate that is "
        f"{m['train_step_flops'] * m['plain_steps_per_s'] / 1e9:,.1f} GFLOP/s, "
        f"**{utilisation:.0%}** of a jitted float32 1024×1024 matmul measured here "
        f"({peak / 1e9:,.1f} GFLOP/s).",
        "",
    ]
    return "\n".join(lines)


def multi_process(processes: int = 2) -> dict:
    """The multi-process rows: ``processes`` children of SIMULATED / processes CPU devices
    each, joined on a free local port; process 0's measurements."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count="
                                     f"{SIMULATED // processes}")
    print(f"bench devices: {processes} processes x {SIMULATED // processes} devices",
          file=sys.stderr)
    children = [subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "-", "--measure-process", str(rank),
         str(processes), f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for rank in range(processes)]
    outputs = [child.communicate() for child in children]
    for child, (_, err) in zip(children, outputs):
        if child.returncode != 0:
            sys.exit(f"bench devices: a measuring process failed ({child.returncode}):\n"
                     f"{err[-3000:]}")
    return json.loads(outputs[0][0].strip().splitlines()[-1])


def main(out_path: str) -> None:
    if len(sys.argv) > 2 and sys.argv[2] == "--measure":
        print(json.dumps(measure()))
        return
    if len(sys.argv) > 2 and sys.argv[2] == "--measure-process":
        from latentlab import distributed
        rank, count, coordinator = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        distributed.initialize({"coordinator": coordinator, "num_processes": count,
                                "process_id": rank})
        print(json.dumps(measure()))
        return
    print(f"bench devices: measuring in a child process ({SIMULATED} simulated devices on CPU); "
          "5 to 10 minutes on 2 cores", file=sys.stderr)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), out_path, "--measure"],
                          env=child_environment(), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench devices: the measuring process failed ({done.returncode}):\n"
                 f"{done.stderr[-3000:]}")
    from latentlab.files import write_atomically
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    if measured["backend"] == "cpu":
        measured["multi_process"] = multi_process()
    text = report(measured)
    write_atomically(out_path, text.encode())
    print(text)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python bench/devices.py OUT.md")
    main(sys.argv[1])
