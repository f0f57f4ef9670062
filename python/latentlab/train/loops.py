"""Training loops for the VAE and the latent denoiser.

Both draw batches inside the jitted step from an epoch-wise permutation keyed by
``fold_in(data_key, epoch)``, so a run is a pure function of its keys and data.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from latentlab import execution as execution_lib
from latentlab.data.loader import Loader, array_fetch
from latentlab.diffusion.losses import denoising_loss
from latentlab.diffusion.schedules import NoiseSchedule
from latentlab.models.unet import UNet
from latentlab.models.vae import VAE
from latentlab.train.resume import StageCheckpoints
from latentlab.train.state import (ProgressFn, StepHook, TrainState, adamw, check_finite,
                                   learning_rate_schedule, no_progress)

REPORT_EVERY = 25


def batch_indices(data_key, step, num_examples: int, batch_size: int):
    """The example indices of ``step``: a slice of that epoch's permutation. [batch_size] int32"""
    steps_per_epoch = num_examples // batch_size
    epoch, offset = step // steps_per_epoch, step % steps_per_epoch
    order = jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples)
    return jax.lax.dynamic_slice_in_dim(order, offset * batch_size, batch_size)


def vae_loss(vae: VAE, params, images, key, kl_weight: float, compute_dtype=jnp.float32):
    """Per-image summed Bernoulli cross-entropy + kl_weight · KL, averaged over the batch.

    images: [B, H, W, C] float32 in [0, 1]. Returns (loss, (reconstruction, kl)). The model
    runs in ``compute_dtype`` (:func:`latentlab.execution.compute_apply`); the loss is float32.
    """
    apply = execution_lib.compute_apply(vae.apply, compute_dtype)
    logits, posterior = apply({"params": params}, images, key)
    recon = jnp.sum(optax.sigmoid_binary_cross_entropy(logits, images), axis=(1, 2, 3))
    kl = posterior.kl()
    return jnp.mean(recon + kl_weight * kl), (jnp.mean(recon), jnp.mean(kl))


# Warm-up steps of each stage's learning rate (at most the stage's length).
WARMUP_STEPS = {"vae": 100, "unet": 200}


def warmup(stage: str, steps: int) -> int:
    return min(WARMUP_STEPS[stage], steps)


def learning_rate_at(stage: str, learning_rate: float, steps: int):
    """Step → the learning rate a stage's optimiser applies at that step."""
    return learning_rate_schedule(learning_rate, steps, warmup(stage, steps))


def _run(stage: str, state: TrainState, step_fn, steps: int, progress: ProgressFn,
         checkpoints: StageCheckpoints | None = None, loader: Loader | None = None,
         ex: execution_lib.Execution | None = None, on_step: StepHook | None = None):
    """Runs jitted steps (``step_fn(state, *batch) -> (state, (loss, grad_norm))``) up to
    ``steps``, reporting the loss every REPORT_EVERY steps and at the end, and calling
    ``on_step`` after every step (with the gradient norm on the reported ones). With
    ``checkpoints``, starts from the stage's saved state (replaying its reports) and saves every
    ``checkpoints.every`` steps and at the end. Over several processes (``ex``), each loads its
    rows of every batch and the step gets the global batch."""
    history: list[tuple[int, float]] = []
    if checkpoints is not None:
        state, history = checkpoints.restore(stage, state)
        for step, value in history:
            progress(stage, step, steps, value)
    # The loader's position is a pure function of the step: a resumed stage starts its batches
    # at the restored step, and nothing else about the data is saved.
    start = int(state.step)
    batches = None
    if loader is not None:
        rows = slice(*ex.share(loader.batch_size)) if ex is not None else slice(None)
        batches = loader.iterate(start, steps, rows)
        if ex is not None and ex.multi_process:
            batches = (tuple(execution_lib.global_batch(ex, part, loader.batch_size)
                             for part in batch) for batch in batches)
    for step in range(start, steps):
        state, (loss, grad_norm) = (step_fn(state) if batches is None
                                    else step_fn(state, *next(batches)))
        values = {}
        if (step + 1) % REPORT_EVERY == 0 or step + 1 == steps:
            value = float(loss)
            check_finite(value, stage, step + 1)
            history.append((step + 1, value))
            progress(stage, step + 1, steps, value)
            values["grad_norm"] = float(grad_norm)
        if checkpoints is not None and ((step + 1) % checkpoints.every == 0 or step + 1 == steps):
            checkpoints.save(stage, state, history)
        if on_step is not None:
            on_step(stage, step + 1, state, values)
    return state, (history[-1][1] if history else float("nan"))


def _data_parallel_step(step_fn, ex: execution_lib.Execution, num_inputs: int,
                        batch_inputs: int):
    """``step_fn(state, *inputs) -> (state, (loss, grad_norm))`` jitted for the mesh: state,
    inputs and outputs replicated (each step's batch is split inside, see :func:`_split_batch`), the incoming
    state donated so its buffers hold the next one (no second copy of params, EMA and Adam
    moments per device). Over several processes the first ``batch_inputs`` inputs come split
    (each process holds its rows; the others are placed once with :func:`execution.put`)."""
    replicated = ex.replicated
    batch = ex.batch if ex.multi_process else replicated
    shardings = (replicated,) + (batch,) * batch_inputs \
        + (replicated,) * (num_inputs - batch_inputs)
    return jax.jit(step_fn, in_shardings=shardings, out_shardings=(replicated, replicated),
                   donate_argnums=(0,))


def _split_batch(batch, ex: execution_lib.Execution):
    """The batch split over the mesh's ``data`` axis: each device runs the model on its share
    and XLA all-reduces the gradients. [B, ...] → the same values, sharded."""
    return jax.lax.with_sharding_constraint(batch, ex.batch)


# XLA options of a program that runs once (initialisation): LLVM's optimisation level 2
# instead of the default 3. Its output is the same bytes on CPU (initial weights of the VAE and
# U-Net checked equal; level 0 is not), and it compiles 3-7 times faster: jitted VAE init took
# 22 s to compile on one core, mostly the threefry hashing of every initialiser, and 3 s so.
RUN_ONCE_COMPILER_OPTIONS = {"xla_backend_optimization_level": 2}


def run_once(fn, *args):
    """``jax.jit(fn)(*args)``, compiled for a program that runs once (see
    RUN_ONCE_COMPILER_OPTIONS); the on-disk compilation cache keeps it like any other."""
    return jax.jit(fn).lower(*args).compile(compiler_options=RUN_ONCE_COMPILER_OPTIONS)(*args)


def initialise(module, key, *inputs):
    """A module's initial parameters, computed by one jitted program. Flax's ``init`` run
    eagerly dispatches every initialiser and layer op on its own (hundreds of small
    compilations, or on-disk cache lookups: most of a small run's time); jitted it is one."""
    return run_once(module.init, key, *inputs)["params"]


def _create_state(params, tx) -> TrainState:
    """:meth:`TrainState.create` as one jitted program (the EMA copy and the optimiser's
    zeroed moments are one eager op per parameter otherwise)."""
    return run_once(lambda p: TrainState.create(p, tx), params)


def train_vae(vae: VAE, images, key, *, steps: int, batch_size: int,
              learning_rate: float, kl_weight: float, progress: ProgressFn = no_progress,
              checkpoints: StageCheckpoints | None = None,
              execution: execution_lib.Execution | None = None,
              on_step: StepHook | None = None):
    """Trains the VAE on images [N, H, W, C] in [0, 1] (an array, or ``make_loader(data_key)``
    returning a :class:`Loader` of (images,) batches), data-parallel over ``execution``'s mesh
    (default: every local device, float32). Each step's batch is gathered on the host by the
    loader and sent to the device. Returns (TrainState, final loss)."""
    ex = execution or execution_lib.from_config(None)
    ex.check_batch(batch_size, "train.vae.batch_size")
    init_key, data_key, noise_key = jax.random.split(key, 3)
    if callable(images):
        loader = images(data_key)
    else:
        loader = Loader(array_fetch(np.asarray(images)), len(images), data_key, batch_size)
    first = loader.batch(0)[0]
    params = initialise(vae, init_key, jnp.asarray(first[:1]), noise_key)
    state = execution_lib.put(
        ex, _create_state(params, adamw(learning_rate, steps, warmup_steps=warmup("vae", steps))))

    # The keys are arguments, not constants of the program: runs that differ only in their
    # seed share one compiled step (and one entry of the on-disk compilation cache).
    def step_fn(state, batch, noise_key):
        key = jax.random.fold_in(noise_key, state.step)
        grad_fn = jax.value_and_grad(partial(vae_loss, vae), has_aux=True)
        (loss, _), grads = grad_fn(state.params, _split_batch(batch, ex), key, kl_weight,
                                   ex.compute_dtype)
        return state.apply_gradients(grads, ema_decay=0.0), (loss, optax.tree.norm(grads))

    step = _data_parallel_step(step_fn, ex, 2, batch_inputs=1)
    noise_key = execution_lib.put(ex, noise_key)
    return _run("vae", state, lambda s, batch: step(s, batch, noise_key), steps, progress,
                checkpoints, loader, ex, on_step)


def encode_batches(vae: VAE, params, batches, pixels: bool = False):
    """Posterior (means, log-variances) of each image batch [b, H, W, C] in [0, 1], as NumPy
    arrays, one pair per batch (the latent cache writes them as they come). ``pixels``: through
    any VAE component's ``encode_pixels`` (an imported AutoencoderKL's too), which takes
    pixels in [-1, 1]."""
    # The weights are an argument: a constant would make every run's encoder its own program.
    if pixels:
        encode = jax.jit(lambda p, x: vae.apply({"params": p}, 2.0 * x - 1.0,
                                                method="encode_pixels"))
    else:
        encode = jax.jit(lambda p, x: vae.apply({"params": p}, x, method=VAE.encode))
    for images in batches:
        mean, log_var = encode(params, jnp.asarray(images))
        yield np.asarray(mean), np.asarray(log_var)


def encode_dataset(vae: VAE, params, images, batch_size: int = 500, pixels: bool = False):
    """Posterior means and log-variances of every image: two arrays [N, h, w, c]. ``images``
    an array (encoded ``batch_size`` at a time) or an iterable of batches; ``pixels`` as for
    :func:`encode_batches`."""
    if isinstance(images, (np.ndarray, jax.Array)):
        array = images
        images = (array[start:start + batch_size] for start in range(0, len(array), batch_size))
    means, log_vars = zip(*encode_batches(vae, params, images, pixels))
    return jnp.concatenate(means), jnp.concatenate(log_vars)


LATENT_SCALE_ROWS = 500


def latent_scale(means) -> float:
    """1 / std of the latents, so scaled latents have unit variance (the role of Stable
    Diffusion's 0.18215, measured on this data instead of fixed).

    ``means``: an array [N, h, w, c], or an iterable of row chunks of it (a latent cache's
    :meth:`~latentlab.data.latent_cache.Latents.mean_chunks`), so the latents never need to be in
    memory at once. An array is read in chunks of ``LATENT_SCALE_ROWS`` rows, the cache's chunk
    size: both give the same bits. Sums are float64, so one pass (E[z²] − E[z]²) loses nothing
    that matters at float32."""
    if isinstance(means, (np.ndarray, jax.Array)):
        array = means
        means = (np.asarray(array[start:start + LATENT_SCALE_ROWS])
                 for start in range(0, len(array), LATENT_SCALE_ROWS))
    count, total, squares = 0, 0.0, 0.0
    for chunk in means:
        chunk = np.asarray(chunk, np.float64)
        count += chunk.size
        total += float(chunk.sum())
        squares += float(np.square(chunk).sum())
    if count == 0:
        raise ValueError("latent_scale: no latents")
    mean = total / count
    return float(1.0 / np.sqrt(max(squares / count - mean * mean, 0.0)))


def train_denoiser(unet: UNet, latent_means, latent_log_vars, labels, scale: float,
                   schedule: NoiseSchedule, key, *, steps: int, batch_size: int,
                   learning_rate: float, ema_decay: float, label_dropout: float,
                   loss_weighting: str = "uniform", min_snr_gamma: float = 5.0,
                   progress: ProgressFn = no_progress, checkpoints: StageCheckpoints | None = None,
                   execution: execution_lib.Execution | None = None,
                   on_step: StepHook | None = None, init_params=None, frozen: tuple = ()):
    """Trains the U-Net on scale · z, z ~ q(z | x) drawn afresh each step, data-parallel over
    ``execution``'s mesh (default: every local device, float32).

    latent_means, latent_log_vars: [N, h, w, c]; labels: [N] int (or a text model's token
    ids [N, L], see :mod:`latentlab.train.text`) — or ``latent_means`` a
    ``make_loader(data_key)`` returning a :class:`Loader` of (means, log_vars, labels) batches
    (the latent cache) and the other two None. ``init_params``: start from these weights
    instead of the initialiser's (fine-tuning); ``frozen``: names of top-level parameter
    subtrees the optimiser leaves as they are. Returns (TrainState, loss).
    """
    ex = execution or execution_lib.from_config(None)
    ex.check_batch(batch_size, "train.unet.batch_size")
    init_key, data_key, noise_key = jax.random.split(key, 3)
    if callable(latent_means):
        loader = latent_means(data_key)
    else:
        loader = Loader(array_fetch(np.asarray(latent_means), np.asarray(latent_log_vars),
                                    np.asarray(labels, np.int32)),
                        len(latent_means), data_key, batch_size)
    first, _, first_labels = loader.batch(0)
    # (initial weights depend on the inputs' shapes only: a class label's or token ids')
    params = init_params if init_params is not None else initialise(
        unet, init_key, jnp.asarray(first[:1]), jnp.zeros((1,), jnp.int32),
        jnp.asarray(first_labels[:1]))
    tx = adamw(learning_rate, steps, warmup_steps=warmup("unet", steps))
    if frozen:
        tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()},
                                   {name: "frozen" if name in frozen else "train"
                                    for name in params})
    state = execution_lib.put(ex, _create_state(params, tx))
    apply = execution_lib.compute_apply(unet.apply, ex.compute_dtype)

    def step_fn(state, means, log_vars, batch_labels, noise_key, scale):
        latent_key, loss_key = jax.random.split(jax.random.fold_in(noise_key, state.step))
        z = means + jnp.exp(0.5 * log_vars) * jax.random.normal(latent_key, means.shape)
        z, batch_labels = _split_batch((z, batch_labels), ex)
        loss, grads = jax.value_and_grad(
            lambda p: denoising_loss(apply, p, scale * z, batch_labels, loss_key,
                                     schedule, unet.prediction, label_dropout,
                                     unet.null_label, loss_weighting,
                                     min_snr_gamma))(state.params)
        return state.apply_gradients(grads, ema_decay), (loss, optax.tree.norm(grads))

    # Keys and the latent scale (measured per run) are arguments, not constants: runs that
    # differ only in their seed share one compiled step.
    step = _data_parallel_step(step_fn, ex, 5, batch_inputs=3)
    noise_key, scale_arg = execution_lib.put(ex, (noise_key, jnp.float32(scale)))
    return _run("unet", state,
                lambda s, means, log_vars, batch_labels: step(s, means, log_vars, batch_labels,
                                                              noise_key, scale_arg),
                steps, progress, checkpoints, loader, ex, on_step)
