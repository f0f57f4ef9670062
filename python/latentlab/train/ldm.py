"""The whole latent-diffusion job: train the VAE, then the latent U-Net, then sample.

:func:`train_and_sample` is what ``latentlab run`` executes; it takes the resolved config
as a plain dict (see :mod:`latentlab.experiment`) and returns arrays and scalar metrics.
"""

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from latentlab import checkpoint, mlflow_log, sampling, tracking
from latentlab import experiment
from latentlab import execution as execution_lib
from latentlab.data import latent_cache, mnist
from latentlab.data import source as source_lib
from latentlab.data.loader import Loader, array_fetch, read_all, source_fetch
from latentlab.files import write_atomically
from latentlab.diffusion import schedules
from latentlab.metrics import psnr
from latentlab.models import VAE, UNet
from latentlab.models.vae import reconstruct
from latentlab.train import loops, text
from latentlab.train.resume import StageCheckpoints
from latentlab.train.state import ProgressFn, no_progress

# Keys by purpose, each fold_in'ed into the root key of the config's seed (sampling's is
# latentlab.sampling.KEY_SAMPLE).
KEY_VAE, KEY_UNET, KEY_FLIP = 1, 2, 4
# Trained VAE stages shared by runs whose VAE stage is equal, under the home (see
# _stage_hash).
VAE_STAGES = Path(".cache") / "vae-stages"


class LdmResult(NamedTuple):
    latents: jax.Array  # [S, h, w, c] float32, sampled latents in the VAE's latent space, on
                        # one device (gathered from the mesh: Java takes one buffer)
    images: jax.Array   # [S, H, W, C] float32 in [0, 1], the decoded samples
    labels: np.ndarray  # [S] int32, the class each sample was conditioned on
    metrics: dict[str, Any]
    execution: dict[str, Any]  # where it ran: backend, devices, mesh, precision
    # With a home: {"vae_stage": {hash, reused}, "latent_cache": {name, path, vae,
    # fingerprint, encoded}}, the shared stages this run used (empty without a home)
    stages: dict[str, Any] = {}


def sample_labels(num_samples: int, num_classes: int) -> np.ndarray:
    """Cycles through the classes so a grid shows every digit. [S] int32"""
    return (np.arange(num_samples) % max(num_classes, 1)).astype(np.int32)


def _labels(num_samples: int, num_classes: int, classes) -> np.ndarray:
    """The labels a run samples: every class in turn, or only the ``data.classes`` it trained
    on. [S] int32"""
    labels = sample_labels(num_samples, num_classes)
    if classes is not None:
        labels = np.asarray(classes, np.int32)[np.arange(len(labels)) % len(classes)]
    return labels


def _preview_sampler(cfg, vae, vae_params, unet, schedule, scale, latent_shape, ex, replicate):
    """EMA weights → a preview grid [PREVIEW_SAMPLES, H, W, C]: the run's own sampling
    settings, seed and first labels, so each preview starts from the same noise."""
    sample_cfg = cfg["sample"]
    labels = _labels(min(PREVIEW_SAMPLES, sample_cfg["num_samples"]), unet.num_classes,
                     cfg["data"].get("classes"))

    def sampler(ema_params):
        model = checkpoint.LatentDiffusionModel(vae, vae_params, unet, ema_params, schedule,
                                                scale, latent_shape)
        scaled = sampling.sample(model, sampler=sample_cfg["sampler"], steps=sample_cfg["steps"],
                                 seed=cfg["seed"], labels=labels,
                                 guidance_scale=sample_cfg["guidance_scale"],
                                 eta=sample_cfg["eta"], spacing=sample_cfg["spacing"],
                                 rho=sample_cfg["rho"], replicate=replicate, execution=ex)
        return np.asarray(execution_lib.gather(sampling.decode(model, scaled)))
    return sampler


def digit_source(digits: mnist.Digits, fingerprint: str) -> source_lib.ArraySource:
    """Digits as a Source: uint8 [N, 32, 32, 1], zero-padded as the models see them."""
    border = (mnist.MODEL_INPUT_SIZE - mnist.IMAGE_SIZE) // 2
    padded = np.pad(digits.images, ((0, 0), (border, border), (border, border)))[..., None]
    return source_lib.ArraySource(padded, digits.labels,
                                  [str(d) for d in range(mnist.NUM_CLASSES)], fingerprint)


def open_data(section: dict, data, home) -> source_lib.Source:
    """The Source a run trains on: ``data`` itself if it is one, the digits of a digit .npz
    file's path (fingerprint: its SHA-256), else the config's data section opened in
    ``home``."""
    if data is not None and not isinstance(data, (str, os.PathLike)):
        return data
    if data is not None:
        return digit_source(mnist.load(data), mnist.sha256_of(data))
    if section.get("dataset", mnist.BUNDLED) in mnist.DATASETS:
        found = mnist.source(section, home)
        fingerprint = hashlib.sha256(json.dumps(found.files, sort_keys=True).encode()).hexdigest()
        digits = (mnist.load(found.location) if section.get("dataset", mnist.BUNDLED)
                  == mnist.BUNDLED else mnist.load_idx_folder(found.location))
        return digit_source(digits, fingerprint)
    from latentlab.data import sources  # helper SOURCES' module: every other data set
    return sources.open_source(section, home)


def _stage_hash(cfg: dict, fingerprint: str, replicate: int) -> str:
    """What a VAE stage's result depends on: its model and training sections, the data
    (fingerprint and preprocessing, flips included), the seed, the replicate and the
    execution (precision and mesh)."""
    key = {"model": cfg["model"]["vae"], "train": cfg["train"]["vae"],
           "data": {**latent_cache.preprocessing(cfg["data"]), "flip": cfg["data"].get("flip"),
                    "fingerprint": fingerprint},
           "seed": cfg["seed"], "replicate": replicate, "execution": cfg.get("execution")}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


PREVIEW_SAMPLES = 16  # two rows of eight in TensorBoard


class _Watch:
    """The run's step hook (:data:`~latentlab.train.state.StepHook`): each reported step's
    gradient norm to TensorBoard and MLflow, and with ``tracking.previews: N`` a grid of samples
    from the U-Net's EMA weights every N U-Net steps (``sampler`` set once the U-Net's inputs
    are known)."""

    def __init__(self, board, live, previews):
        self.board, self.live, self.previews = board, live, previews
        self.sampler = None

    def __call__(self, stage, step, state, values):
        if values:
            self.board.measure(stage, step, values)
            self.live.measure(stage, step, values)
        if (stage == "unet" and self.previews and step % self.previews == 0
                and self.sampler is not None and step > self.board.resumed.get(stage, 0)):
            self.board.preview(step, self.sampler(state.ema_params))


def previews_every(cfg: dict) -> int:
    """``tracking.previews``: U-Net steps between two preview grids, 0 for none."""
    every = (cfg.get("tracking") or {}).get("previews")
    if every is None:
        return 0
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"tracking.previews: must be a whole number of U-Net steps >= 1, "
                         f"got {every!r}")
    return every


def _train_vae_stage(vae, cfg, source, train_idx, root, progress, checkpoints, ex, home,
                     replicate, metrics, stages, on_step=None):
    """The VAE's parameters: trained here, or read back from ``<home>/.cache/vae-stages/``
    where a run with an equal VAE stage left them (then no step is trained)."""
    train_cfg = cfg["train"]["vae"]
    stage_dir = None
    if home is not None:
        stage_hash = _stage_hash(cfg, source.fingerprint, replicate)
        stage_dir = Path(home) / VAE_STAGES / stage_hash
        stages["vae_stage"] = {"hash": stage_hash, "reused": False}
        info_file = stage_dir / "stage.json"
        # Over several processes (a shared disk), process 0's look decides for all of them.
        if execution_lib.first_process_decides(info_file.is_file()):
            info = json.loads(info_file.read_text())
            shape = (1,) + tuple(source.shape)
            key = jax.random.PRNGKey(0)
            template = jax.eval_shape(lambda: vae.init(key, jnp.zeros(shape), key)["params"])
            params, _ = checkpoint.restore_tree(stage_dir / "weights", template,
                                                ex.replicated)
            metrics["vae_final_loss"] = info["vae_final_loss"]
            metrics["vae_train_seconds"] = 0.0
            stages["vae_stage"]["reused"] = True
            progress("vae", train_cfg["steps"], train_cfg["steps"], info["vae_final_loss"])
            return params
    flip_key = (jax.random.fold_in(root, KEY_FLIP)
                if cfg["data"].get("flip") == "horizontal" else None)

    def make_loader(data_key):
        return Loader(source_fetch(source, train_idx, flip_key), len(train_idx), data_key,
                      train_cfg["batch_size"])

    progress("vae", 0, train_cfg["steps"], float("nan"))
    started = time.perf_counter()
    vae_state, metrics["vae_final_loss"] = loops.train_vae(
        vae, make_loader, jax.random.fold_in(root, KEY_VAE), steps=train_cfg["steps"],
        batch_size=train_cfg["batch_size"], learning_rate=train_cfg["learning_rate"],
        kl_weight=train_cfg["kl_weight"], progress=progress, checkpoints=checkpoints,
        execution=ex, on_step=on_step)
    metrics["vae_train_seconds"] = time.perf_counter() - started
    if stage_dir is not None:  # Orbax renames its folder into place; stage.json comes last
        checkpoint.save_tree(stage_dir / "weights", vae_state.params, {"stage": "vae"})
        if jax.process_index() == 0:  # every process saved its part; the first says it is done
            write_atomically(stage_dir / "stage.json", json.dumps(
                {"vae_final_loss": metrics["vae_final_loss"]}).encode())
    return vae_state.params


def train_and_sample(config: dict, data=None, progress: ProgressFn = no_progress,
                     checkpoint_dir: str | None = None, replicate: int = 0,
                     home: str | os.PathLike | None = None) -> LdmResult:
    """Trains a VAE and a latent U-Net, saves them to ``checkpoint_dir`` (if given) and
    samples from them with the config's seed. With ``checkpoint_dir``, training state is saved
    as it goes (``training/``) and a run started again resumes from it. ``replicate`` > 0 draws
    every key from another root (see :func:`sampling.root_key`).

    ``data``: an opened :class:`~latentlab.data.source.Source`, a digit .npz file's path, or
    None to open the config's data section in ``home``. With ``home``, the VAE stage is shared
    through ``<home>/.cache/vae-stages/`` and the U-Net reads the latents from the latent cache
    (``<home>/.cache/latents/``, recorded as metrics ``latent_cache``); without it, the
    latents stay in memory (the same bits)."""
    cfg = experiment.resolve(config)
    init = text.init_of(cfg)  # fine-tuning an imported text model: its VAE, frozen
    text_run = init is not None or text.is_text_model(cfg)
    vae = None if init is not None else VAE(**cfg["model"]["vae"])
    unet = None if text_run else UNet(**cfg["model"]["unet"])
    ex = execution_lib.from_config(cfg.get("execution"))
    root = sampling.root_key(cfg["seed"], replicate)
    train_cfg, sample_cfg, diff_cfg = cfg["train"], cfg["sample"], cfg["diffusion"]
    metrics: dict[str, Any] = {}
    stages: dict[str, Any] = {}

    checkpoints = None if checkpoint_dir is None else StageCheckpoints(
        os.path.join(checkpoint_dir, "training"),
        execution_lib.resolve(cfg.get("execution"))["checkpoint_every"])
    source = open_data(cfg["data"], data, home)
    if init is None:
        experiment.check_data_shapes(cfg, source.shape, len(source.classes))
    # data.classes trains on some classes only (anomaly detection), data.limit on the first
    # examples; the held-out split stays the same whatever they are.
    classes = cfg["data"].get("classes")
    train_idx = source_lib.training_indices(source, cfg["data"]["holdout"], classes,
                                         cfg["data"].get("limit"))
    _, held_idx = source_lib.split_indices(len(source), cfg["data"]["holdout"])
    if classes is not None:
        held_idx = held_idx[np.isin(source_lib.labels_of(source, held_idx), classes)]
    experiment.check_training_examples(cfg, len(train_idx))
    train_labels = source_lib.labels_of(source, train_idx)
    # a text model's tokenizer is made here before it goes into the model's folder
    scratch = tempfile.TemporaryDirectory(prefix="latentlab-text-") if text_run else None
    text_model = None
    if init is not None:
        folder = text.init_folder(init, home)
        text_model = text.TextModel.from_model(folder, text.captions_of(source, train_idx),
                                               "train.unet.init")
        vae, _ = text_model.source["vae"]
        text.check_image_size(text_model, source.shape, "train.unet.init")
        stages["init"] = {"model": init, "path": str(folder),
                          "weights_sha256": text_model.source["meta"]["weights_sha256"]}
        if checkpoint_dir is not None:  # a resumed run must start from the same weights
            text.pin_init(Path(checkpoint_dir) / "training", stages["init"])
    elif text_run:  # the tokenizer's vocabulary comes from the training captions
        text_model = text.TextModel.from_config(cfg, text.captions_of(source, train_idx),
                                                Path(scratch.name) / text.TOKENIZER)
    if text_model is not None:
        unet = text_model.denoiser
        metrics["captions_truncated"] = text_model.captions_cut

    for stage in ("vae", "unet"):  # > 0 when this run resumed a killed one
        metrics[f"{stage}_resumed_from_step"] = checkpoints.saved_step(stage) if checkpoints else 0
    # TensorBoard events beside the run (process 0 only): see latentlab.tracking.
    board = watch = None
    previews = previews_every(cfg)
    if checkpoint_dir is not None and jax.process_index() == 0:
        board = tracking.TensorBoardLog(
            Path(checkpoint_dir).parent / tracking.FOLDER, cfg,
            {stage: metrics[f"{stage}_resumed_from_step"] for stage in ("vae", "unet")})
        progress = board.wrap(progress)
        # The losses to MLflow as they come, if Java opened an MLflow run for this run.
        live = mlflow_log.LiveLog(
            Path(checkpoint_dir).parent, (cfg.get("tracking") or {}).get("mlflow"),
            {stage: metrics[f"{stage}_resumed_from_step"] for stage in ("vae", "unet")})
        if live.active:
            progress = live.wrap(progress)
        # Previews sample on this process alone, so not in a run over several processes.
        watch = _Watch(board, live, previews if jax.process_count() == 1 else 0)
    try:
        # Each stage first reports (stage, 0, total, NaN): its first jitted call compiles, which
        # takes a while before step 1 arrives (a progress bar shows "compiling").
        if init is None:
            vae_params = _train_vae_stage(vae, cfg, source, train_idx, root, progress,
                                          checkpoints, ex, home, replicate, metrics, stages,
                                          watch)
        else:
            vae_params = execution_lib.put(ex, text_model.source["vae"][1])

        # Encoding and scoring run in each process on its own copy of the (replicated) weights.
        local_vae_params = execution_lib.local_copy(vae_params)
        if init is None:
            held = jnp.asarray(np.concatenate(list(read_all(source, held_idx))))
            metrics["vae_heldout_psnr_db"] = float(
                psnr(held, reconstruct(vae, local_vae_params, held)))

        unet_batch = train_cfg["unet"]["batch_size"]
        claim = contextlib.nullcontext()
        if init is not None:  # the imported VAE's latents, in memory, at its own scale
            means, log_vars = (np.asarray(a) for a in loops.encode_dataset(
                vae, local_vae_params, read_all(source, train_idx), pixels=True))
            scale = float(text_model.source["configs"]["vae"].scaling_factor)
            latent_shape = tuple(means.shape[1:])

            def unet_data(data_key):
                return Loader(array_fetch(means, log_vars, text_model.ids), len(train_idx),
                              data_key, unet_batch)
        elif home is None:  # the latents in memory
            means, log_vars = loops.encode_dataset(vae, local_vae_params,
                                                   read_all(source, train_idx))
            scale = loops.latent_scale(means)
            latent_shape = tuple(means.shape[1:])

            conditions = train_labels if text_model is None else text_model.ids

            def unet_data(data_key):
                return Loader(array_fetch(np.asarray(means), np.asarray(log_vars), conditions),
                              len(train_idx), data_key, unet_batch)
        else:  # the latent cache: encoded once per (VAE weights, data, preprocessing)
            vae_hash = checkpoint.weights_digest(local_vae_params)
            path = latent_cache.folder(home) / latent_cache.name(vae_hash, source.fingerprint,
                                                                 cfg["data"])
            # Over several processes, process 0 encodes and writes the file while the others
            # wait for it; then every process reads its rows of each batch from it.
            encoded = execution_lib.first_process_decides(not path.is_file())
            if encoded and jax.process_index() == 0:
                latents = loops.encode_batches(vae, local_vae_params,
                                               read_all(source, train_idx))
                batches = ((m, v, train_labels[i * 500:i * 500 + len(m)])
                           for i, (m, v) in enumerate(latents))
                latent_cache.write(path, batches, {"vae": vae_hash,
                                                   "fingerprint": source.fingerprint,
                                                   "examples": len(train_idx),
                                                   "preprocessing":
                                                       latent_cache.preprocessing(cfg["data"])})
            if encoded:
                execution_lib.barrier(f"latent-cache-{path.name}")
            claim = latent_cache.Claim(path)
            cache = latent_cache.Latents(path)
            stages["latent_cache"] = {"name": path.name, "path": str(path), "vae": vae_hash,
                                      "fingerprint": source.fingerprint, "encoded": encoded}
            scale = loops.latent_scale(cache.mean_chunks(loops.LATENT_SCALE_ROWS))
            latent_shape = cache.latent_shape

            fetch = cache.take if text_model is None else text.text_fetch(cache.take,
                                                                             text_model.ids)

            def unet_data(data_key):
                return Loader(fetch, len(cache), data_key, unet_batch)
        metrics["latent_scale"] = scale

        diffusion = diff_cfg if init is None else text_model.source["meta"]["diffusion"]
        schedule = schedules.make_schedule(diffusion["beta_schedule"],
                                           diffusion["num_timesteps"], diffusion["beta_start"],
                                           diffusion["beta_end"])
        if watch is not None and watch.previews:
            watch.sampler = _preview_sampler(cfg, vae, vae_params, unet, schedule, scale,
                                             latent_shape, ex, replicate)
        progress("unet", 0, train_cfg["unet"]["steps"], float("nan"))
        started = time.perf_counter()
        with claim:
            unet_state, metrics["unet_final_loss"] = loops.train_denoiser(
                unet, unet_data, None, None, scale, schedule,
                jax.random.fold_in(root, KEY_UNET), steps=train_cfg["unet"]["steps"],
                batch_size=unet_batch,
                learning_rate=train_cfg["unet"]["learning_rate"],
                ema_decay=train_cfg["unet"]["ema_decay"],
                label_dropout=train_cfg["unet"]["label_dropout"],
                loss_weighting=train_cfg["unet"]["loss_weighting"],
                min_snr_gamma=train_cfg["unet"]["min_snr_gamma"], progress=progress,
                checkpoints=checkpoints, execution=ex, on_step=watch,
                init_params=None if text_model is None else text_model.init_params,
                frozen=() if text_model is None else text_model.frozen)
        metrics["unet_train_seconds"] = time.perf_counter() - started
        if text_model is not None:
            if init is None:
                vae_component = text.own_vae(cfg, execution_lib.local_copy(vae_params), scale)
                diffusion = text.diffusion_of(cfg, text_model.prediction)
            else:
                source_meta = text_model.source["meta"]
                vae_component = (source_meta["components"]["vae"]["class"],
                                 text_model.source["configs"]["vae"], local_vae_params)
            result = _save_and_sample_text(cfg, text_model, unet_state, vae_component,
                                           diffusion, checkpoint_dir, scratch.name, progress,
                                           metrics, stages, ex)
            if board is not None:
                board.finish(result.images, metrics)
                board = None
            return result

        model = checkpoint.LatentDiffusionModel(vae, vae_params, unet, unet_state.ema_params,
                                                schedule, scale, latent_shape)
        if checkpoint_dir is not None:
            checkpoint.save(checkpoint_dir, model, cfg)

        labels = _labels(sample_cfg["num_samples"], unet.num_classes, classes)
        progress("sample", 0, sample_cfg["steps"], float("nan"))
        started = time.perf_counter()
        scaled = sampling.sample(model, sampler=sample_cfg["sampler"], steps=sample_cfg["steps"],
                                 seed=cfg["seed"], labels=labels,
                                 guidance_scale=sample_cfg["guidance_scale"], eta=sample_cfg["eta"],
                                 spacing=sample_cfg["spacing"], rho=sample_cfg["rho"],
                                 replicate=replicate, execution=ex)
        images_out = sampling.decode(model, scaled)
        images_out.block_until_ready()
        metrics["sample_seconds"] = time.perf_counter() - started
        progress("sample", sample_cfg["steps"], sample_cfg["steps"], float("nan"))
        where = ex.describe()
        # Split over the mesh, the latents are gathered onto one device before they cross (a
        # device-to-device copy); replicated or on one device, they are not.
        where["latents_gathered_from_devices"] = (
            1 if scaled.sharding.is_fully_replicated else len(scaled.sharding.device_set))
        latents = execution_lib.gather(scaled / scale)
        result = LdmResult(latents, execution_lib.gather(images_out), labels, metrics, where,
                           stages)
        if board is not None:
            board.finish(result.images, metrics)
            board = None
        return result
    finally:
        if board is not None:  # the run failed: what was written stays readable
            board.close()
        if scratch is not None:
            scratch.cleanup()


def _save_and_sample_text(cfg, text_model, state, vae_component, diffusion,
                          checkpoint_dir, scratch, progress, metrics, stages, ex) -> LdmResult:
    """A text run's end: its model written as a model folder (``<checkpoint_dir>/model``, or
    a scratch folder without one) and ``sample.prompts`` sampled from it as ``./latentlab
    sample`` would (:mod:`latentlab.models.sd.request`)."""
    from latentlab.models.sd import request as text_request
    from latentlab.models.sd.pipeline import TextToImage
    folder = Path(checkpoint_dir if checkpoint_dir is not None else scratch) / text.MODEL_FOLDER
    if jax.process_index() == 0:
        # its samples are filed under this name (runs/samples/<name>/): experiment and trial
        name = cfg.get("name") or "text"
        if checkpoint_dir is not None:
            name = f"{name}-{Path(checkpoint_dir).parent.name}"
        text_model.save(folder, name, execution_lib.local_copy(state.ema_params), vae_component,
                        diffusion, trained=execution_lib.local_copy(state.params))
    execution_lib.barrier(f"text-model-{folder}")
    request = text_request.check_request(
        folder, text.sample_request(cfg, experiment.data_resolution(cfg["data"])[0]))
    sample_cfg = cfg["sample"]
    progress("sample", 0, sample_cfg["steps"], float("nan"))
    started = time.perf_counter()
    model = TextToImage(folder)
    pixels, _, _, latents = text_request.generate(model, request)
    metrics["sample_seconds"] = time.perf_counter() - started
    progress("sample", sample_cfg["steps"], sample_cfg["steps"], float("nan"))
    labels = np.repeat(np.arange(len(request["prompts"]), dtype=np.int32), request["num_images"])
    stages["text_model"] = {"weights_sha256": model.meta["weights_sha256"],
                            "prompts": request["prompts"], "request": request}
    if checkpoint_dir is not None:  # (without one, the folder is scratch, gone after the run)
        stages["text_model"]["path"] = str(folder)
    where = ex.describe()
    where["latents_gathered_from_devices"] = 1  # sampled on one device
    return LdmResult(jnp.asarray(latents) / model.scaling_factor,
                     jnp.asarray(pixels, jnp.float32) / 255.0, labels, metrics, where, stages)
