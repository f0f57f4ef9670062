"""The only module Java calls. Plain arguments in (strings, numbers, C-struct addresses),
plain values out; tensors leave through the Arrow C Data Interface without a copy
(:mod:`latentlab.tensors`).

Java calls :func:`call` with the name of a registered function. The product's entry points
below are registered here; test and benchmark fixtures live in :mod:`latentlab.testing` and
are registered only by test JVMs. Each entry point is an adapter: it parses its plain
arguments (JSON strings, ints, Arrow C-data addresses), calls one library or application
function (:mod:`latentlab.apps`, :mod:`latentlab.sampling`, :mod:`latentlab.config`, ...) and
encodes the result; the work itself lives there, where Python callers and tests reach it too.
"""

import json
import traceback
from typing import Callable

import jax
import numpy as np

from latentlab import checkpoint
from latentlab import compilation_cache
from latentlab import config as config_lib
from latentlab import tensors

# The functions Java may call through :func:`call`, by name.
_registry: dict[str, Callable] = {}


def register(function: Callable) -> Callable:
    """Makes ``function`` callable through :func:`call` under its own name (a decorator too).
    Registering the same function twice is harmless; another function under a taken name is
    refused."""
    name = function.__name__
    if _registry.get(name, function) is not function:
        raise ValueError(f"a different function is already registered as {name!r}")
    _registry[name] = function
    return function


def start(home: str) -> None:
    """What Java runs once when it starts the bridge for the project at ``home``: XLA's
    on-disk compilation cache (:mod:`latentlab.compilation_cache`)."""
    compilation_cache.enable(home)


def available() -> tuple[str, ...]:
    """The names :func:`call` accepts now, sorted."""
    return tuple(sorted(_registry))


_last_error: list | None = None


def call(name: str, *args):
    """Runs a registered function; records a failure for :func:`last_error`.

    Java's Jep reports only ``<class 'T'>: message`` for an exception, so the full traceback,
    chained causes included, is kept here for the bridge to fetch.
    """
    global _last_error
    _last_error = None
    try:
        function = _registry.get(name)
        if function is None:
            raise AttributeError(f"latentlab.bridge has no public function {name!r}; "
                                 f"available: {', '.join(available())}")
        return function(*args)
    except BaseException as e:
        causes, seen, cause = [], {id(e)}, _cause_of(e)
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            causes.append([_type_name(cause), str(cause)])
            cause = _cause_of(cause)
        _last_error = [_type_name(e), str(e), traceback.format_exc(), causes]
        raise


def _type_name(e: BaseException) -> str:
    kind = type(e)
    return kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")


def _cause_of(e: BaseException):
    """The exception ``e`` was raised from, or during the handling of (as tracebacks show)."""
    if e.__cause__ is not None:
        return e.__cause__
    return None if e.__suppress_context__ else e.__context__


def last_error():
    """[type, message, traceback, [[cause type, cause message], ...]] of the last failed
    :func:`call`, or None."""
    return _last_error


# Loaded checkpoints, by path and content identity: a checkpoint rewritten in place is loaded
# again. A few models cover a sweep's sessions and evaluations without keeping every model
# of a long JVM session alive.
MODELS = checkpoint.ModelCache(capacity=4)


@register
def resolve_config(config_json: str) -> str:
    """Checks the Python-owned parts of a config; returns the resolved config as JSON."""
    return json.dumps(config_lib.resolve(_parse(config_json, "the config")), sort_keys=True)


def _parse(text: str, what: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} sent to Python is not valid JSON") from e


@register
def resolve_sampling(recorded_json: str, overrides_json: str) -> str:
    """A sampling request derived from a run: its recorded ``sample`` section with the
    request's overrides (null or absent: the run's), resolved by
    :func:`latentlab.sampling.resolve_sampling`; returns the full section as JSON."""
    from latentlab import sampling
    recorded = _parse(recorded_json, "the recorded sample section")
    overrides = _parse(overrides_json, "the sampling overrides")
    return json.dumps(sampling.resolve_sampling(recorded, overrides), sort_keys=True)


@register
def constants() -> str:
    """The names and defaults Java must agree with, as JSON with sorted keys (see
    :func:`latentlab.config.constants`)."""
    return json.dumps(config_lib.constants(), sort_keys=True)


@register
def data_source(config_json: str, home: str) -> str:
    """What the config's data is, as JSON: ``location`` (absolute path), ``files`` (the
    bundled sets' files relative to home → SHA-256 hex), ``examples``, ``fingerprint``,
    ``classes`` (names), ``counts`` (per class name), ``shape`` [H, W, C] and ``skipped`` (how
    many files or rows data.on_error: skip left out) (see :func:`latentlab.config.data_source`)."""
    return json.dumps(config_lib.data_source(_parse(config_json, "the config"), home)._asdict(),
                      sort_keys=True)


@register
def data_summary(config_json: str, home: str, out_dir: str) -> str:
    """:func:`data_source`'s JSON plus ``grids``: paths of PNG grids of preprocessed training
    images, one per class (one for unlabelled data), written in ``out_dir``."""
    return json.dumps(config_lib.data_summary(_parse(config_json, "the config"), home, out_dir),
                      sort_keys=True)


@register
def import_model(path: str, out_dir: str, name: str, options_json: str = "{}") -> str:
    """Imports Stable Diffusion weights (a diffusers folder, an LDM single-file
    ``.safetensors`` with ``{"config": diffusers folder}`` in ``options_json``, or one component
    folder) into ``out_dir/name``; returns the JSON summary of
    :func:`latentlab.models.sd.importer.import_model` (components, parameter counts,
    ``weights_sha256``, diffusion settings, licence)."""
    from latentlab.models.sd import importer
    options = _parse(options_json, "the import options")
    return json.dumps(importer.import_model(path, out_dir, name, config=options.get("config")),
                      sort_keys=True)


def _text_to_image(folder):
    from latentlab.models.sd.pipeline import TextToImage
    return TextToImage(folder)


def _sd_identity(folder):
    from latentlab.models.sd import importer
    return importer.identity(folder)


# Imported Stable Diffusion models, loaded (a TextToImage with its compiled programs), by folder
# and weights hash: a JShell session samples again without loading again. Two: each may be GBs.
TEXT_TO_IMAGE = checkpoint.ModelCache(capacity=2, loader=_text_to_image, identify=_sd_identity)


@register
def check_sample_request(model_dir: str, request_json: str) -> str:
    """A text-to-image request for the imported model in ``model_dir`` with the model's and
    sampler's values filled (see :func:`latentlab.apps.text_to_image.check_request`), as JSON
    ``{"request": {...}, "model": name, "weights_sha256": ...}``; raises ValueError (one line)
    for a bad option or a model that cannot sample, before anything loads."""
    from latentlab.apps import text_to_image
    from latentlab.models.sd import importer
    request = text_to_image.check_request(model_dir, _parse(request_json, "the sample request"))
    meta = importer.read_meta(model_dir)
    return json.dumps({"request": request, "model": meta["name"],
                       "weights_sha256": meta["weights_sha256"]}, sort_keys=True)


@register
def sample_text_to_image(model_dir: str, request_json: str, out_dir: str, progress) -> str:
    """Samples a text-to-image request with the imported model in ``model_dir`` and writes the
    images, their grid and ``result.json`` into ``out_dir`` (see
    :func:`latentlab.apps.text_to_image.sample`); returns the result as JSON. ``progress`` is
    a Java object with ``update(String stage, long step, long total, double value)``."""
    from latentlab.apps import text_to_image

    def report(stage, step, total, value):
        progress.update(stage, step, total, value)

    return json.dumps(text_to_image.sample(model_dir, _parse(request_json, "the sample request"),
                                           out_dir, TEXT_TO_IMAGE.get, report), sort_keys=True)


@register
def mlflow_start(run_dir: str, config_json: str, trial: str, configured, parent, sweep) -> str:
    """Opens a run's MLflow run when a server is asked for (:func:`latentlab.mlflow_log.start`);
    its record as JSON ({} without a server). Never raises for the server's sake."""
    from latentlab import mlflow_log
    return json.dumps(mlflow_log.start(run_dir, config_json, trial, configured, parent, sweep))


@register
def mlflow_finish(run_dir: str, configured, status: str) -> str:
    """Ends a run's MLflow run, sending what the server lacks (:func:`latentlab.mlflow_log.finish`)."""
    from latentlab import mlflow_log
    return json.dumps(mlflow_log.finish(run_dir, configured, status))


@register
def mlflow_sync(run_dir: str, config_json: str, trial: str, configured, parent, sweep) -> str:
    """``track sync`` of one run (:func:`latentlab.mlflow_log.sync`); raises when it cannot."""
    from latentlab import mlflow_log
    return json.dumps(mlflow_log.sync(run_dir, config_json, trial, configured, parent, sweep))


@register
def mlflow_start_sweep(sweep_dir: str, experiment: str, sweep: str, configured) -> str:
    """A sweep's parent run (:func:`latentlab.mlflow_log.start_sweep`)."""
    from latentlab import mlflow_log
    return json.dumps(mlflow_log.start_sweep(sweep_dir, experiment, sweep, configured))


@register
def mlflow_finish_sweep(sweep_dir: str, configured, failed: bool) -> str:
    """Ends a sweep's parent run (:func:`latentlab.mlflow_log.finish_sweep`)."""
    from latentlab import mlflow_log
    return json.dumps(mlflow_log.finish_sweep(sweep_dir, configured, bool(failed)))


@register
def latent_cache_list(home: str) -> str:
    """The latent cache's files under ``home`` as a JSON list of {name, path, bytes, vae,
    fingerprint, examples, in_use} (see :mod:`latentlab.data.latent_cache`)."""
    from latentlab.data import latent_cache
    return json.dumps(latent_cache.entries(home), sort_keys=True)


@register
def latent_cache_remove(home: str, name: str) -> str:
    """Removes one latent cache file by name and returns its entry as JSON; refuses
    (ValueError, one line) a name that is not there or a file a running training reads."""
    from latentlab.data import latent_cache
    return json.dumps(latent_cache.remove(home, name), sort_keys=True)


@register
def environment() -> str:
    """Versions and backend of this Python, as JSON, for a run's provenance (see
    :func:`latentlab.execution.environment`)."""
    from latentlab import execution
    return json.dumps(execution.environment(), sort_keys=True)


@register
def doctor() -> str:
    """The backend, its local devices and their memory, as JSON (see
    :func:`latentlab.execution.machine`)."""
    from latentlab import execution
    return json.dumps(execution.machine(), sort_keys=True)


@register
def probe_export(array_address: int, schema_address: int) -> int:
    """Exports a small jax.Array made on the default device; returns its own buffer address,
    which Java compares with the address it received: equal only if no copy was made."""
    x = jax.numpy.arange(64 * 16, dtype=jax.numpy.float32).reshape(64, 16) + 1
    tensors.export_tensor(x, array_address, schema_address)
    return x.unsafe_buffer_pointer()


@register
def probe_import(array_address: int, schema_address: int) -> list:
    """Takes a tensor from Java; returns [the jax.Array's buffer address, its device's
    platform, the default backend]: zero-copy for a computation only if the address is Java's
    and the platform is the default backend's (on an accelerator, host memory must still be
    copied to the device)."""
    x = tensors.import_tensor(array_address, schema_address)
    device = next(iter(x.devices()))
    return [x.unsafe_buffer_pointer(), device.platform, jax.default_backend()]


@register
def collect_garbage() -> int:
    """Runs Python's cycle collector; returns how many objects it freed. Memory Java exported
    as a bfloat16 tensor is held by such a cycle inside ``jax.device_put`` until it runs."""
    import gc
    return gc.collect()


@register
def train_and_sample(config_json: str, replicate: int, home: str, checkpoint_dir: str,
                     progress,
                     latents_array: int, latents_schema: int,
                     images_array: int, images_schema: int) -> str:
    """Runs :func:`latentlab.train.ldm.train_and_sample`; ``progress`` is a Java object with
    ``update(String stage, long step, long total, double loss)``. Opens the config's data in
    the project ``home`` (whose .cache/ shares VAE stages and latents between runs); saves the
    trained models to ``checkpoint_dir``; exports latents and images; returns the metrics (and
    the labels, the shared stages it used as ``latent_cache`` and ``vae_stage``, and the
    latents' jax buffer address) as JSON."""
    from latentlab.train import ldm

    def report(stage, step, total, loss):
        progress.update(stage, step, total, loss)

    result = ldm.train_and_sample(json.loads(config_json), None, report, checkpoint_dir,
                                  int(replicate), home=home)
    tensors.export_tensor(result.latents, latents_array, latents_schema)
    tensors.export_tensor(result.images, images_array, images_schema)
    return json.dumps({"metrics": result.metrics,
                       "labels": result.labels.tolist(),
                       "execution": result.execution,
                       **result.stages,
                       # Java compares it with the address it holds: equal on CPU (zero-copy),
                       # not on an accelerator, where np.asarray made one device→host copy
                       "latents_jax_address": result.latents.unsafe_buffer_pointer()},
                      sort_keys=True)


# Open sampling sessions by handle; Java holds the handle and closes it.
_sessions: dict = {}
_next_handle = iter(range(1, 1 << 62))


@register
def session_open(checkpoint_dir: str, sampler: str, steps: int, seed: int, labels,
                 guidance_scale: float, eta, spacing: str, rho: float) -> int:
    """Starts a :class:`latentlab.sampling.SamplingSession` on a run's checkpoint; returns
    its handle. ``labels`` is a sequence of ints, one per sample; ``eta`` None (Java null) is
    the sampler's own default."""
    from latentlab.sampling import SamplingSession
    session = SamplingSession(MODELS.get(checkpoint_dir), sampler=sampler, steps=int(steps),
                              seed=int(seed), labels=[int(v) for v in labels],
                              guidance_scale=float(guidance_scale),
                              eta=None if eta is None else float(eta), spacing=str(spacing),
                              rho=float(rho))
    handle = next(_next_handle)
    _sessions[handle] = session
    return handle


def _session(handle: int):
    try:
        return _sessions[handle]
    except KeyError:
        raise ValueError(f"no open sampling session {handle}; it was closed or never opened") \
            from None


@register
def session_info(handle: int) -> list:
    """[steps done, total steps, σ of the current latents]."""
    session = _session(handle)
    return [session.steps_done, session.total_steps, session.sigma]


@register
def session_step(handle: int, x_array: int, x_schema: int, x0_array: int, x0_schema: int) -> int:
    """Takes one step; exports the new latents and the x0 prediction; returns steps done."""
    session = _session(handle)
    state = session.step()
    tensors.export_tensor(state.x, x_array, x_schema)
    tensors.export_tensor(state.x0, x0_array, x0_schema)
    return session.steps_done


@register
def session_latents(handle: int, array: int, schema: int) -> None:
    """Exports the current latents."""
    tensors.export_tensor(_session(handle).state.x, array, schema)


@register
def session_set_latents(handle: int, array: int, schema: int) -> int:
    """Replaces the current latents with a tensor from Java (zero-copy); returns the jax.Array's
    buffer address."""
    x = tensors.import_tensor(array, schema)
    _session(handle).set_latents(x)
    return x.unsafe_buffer_pointer()


@register
def session_rewind(handle: int, array: int, schema: int) -> None:
    """Goes back to before the last step with latents from Java (zero-copy) at that step's σ:
    RePaint's resampling."""
    _session(handle).rewind(tensors.import_tensor(array, schema))


@register
def session_decode(handle: int, array: int, schema: int) -> None:
    """Decodes the current latents to images [B, H, W, C] in [0, 1] and exports them."""
    tensors.export_tensor(_session(handle).decode(), array, schema)


@register
def session_decode_latents(handle: int, in_array: int, in_schema: int, array: int,
                           schema: int) -> None:
    """Decodes latents from Java [B, h, w, c] (zero-copy; e.g. a step's x0 prediction) with the
    session's VAE and exports the images [B, H, W, C] in [0, 1]."""
    tensors.export_tensor(_session(handle).decode(tensors.import_tensor(in_array, in_schema)),
                          array, schema)


@register
def session_close(handle: int) -> None:
    """Forgets a session (its arrays are freed once Java has closed what it holds)."""
    _sessions.pop(handle, None)


@register
def evaluate_run(checkpoint_dir: str, data_json: str, home: str, cache_dir: str,
                 request_json: str, progress) -> str:
    """Scores a run's model (see :func:`latentlab.apps.evaluate.evaluate`) on the run's data
    section ``data_json``, opened in the project ``home``. ``request_json`` holds
    the sampling options (``sampler``, ``steps``, ``guidance_scale``, ``num_samples``,
    ``seed``, ``spacing``, ``rho``, ``eta``) and, for the quality-vs-NFE table, ``nfes`` and
    ``table_samples``. Returns JSON: ``{"score": {...}, "table": [...], "markdown": "..."}``."""
    from latentlab.apps import evaluate

    def report(stage, step, total, value):
        progress.update(stage, step, total, value)

    return json.dumps(evaluate.evaluate(checkpoint_dir, _parse(data_json, "the data section"),
                                        home, cache_dir,
                                        _parse(request_json, "the evaluation request"), report,
                                        MODELS.get), sort_keys=True)


_EVALUATORS = None  # created on first use: importing evaluate pulls in the metrics


@register
def sample_and_score(checkpoint_dir: str, data_json: str, home: str, cache_dir: str,
                     request_json: str, progress, preview_array: int, preview_schema: int) -> str:
    """One sampling trial of a sweep (see :func:`latentlab.apps.evaluate.sweep_trial`) on the
    run's data section ``data_json`` in the project ``home``: scores the
    samples, exports the preview images [P, H, W, C] in [0, 1], and returns JSON
    ``{"score": {...}, "compiles": fused-sampler compilations in this process so far}``. The
    model, the classifier and the compiled samplers stay cached for the sweep's next trial."""
    from latentlab import sampling
    from latentlab.apps import evaluate
    global _EVALUATORS
    if _EVALUATORS is None:
        _EVALUATORS = evaluate.EvaluatorCache()

    def report(stage, step, total, value):
        progress.update(stage, step, total, value)

    score, preview = evaluate.sweep_trial(
        _EVALUATORS, checkpoint_dir, _parse(data_json, "the data section"), home, cache_dir,
        _parse(request_json, "the sampling request"), report, MODELS.get)
    tensors.export_tensor(preview, preview_array, preview_schema)
    return json.dumps({"score": score, "compiles": sampling.compile_count()}, sort_keys=True)


# The namespace of the user's own Python in a JShell session (lab.python), kept between calls.
_repl_namespace: dict | None = None


@register
def repl_evaluate(source: str) -> str:
    """Runs the user's own Python from JShell (``lab.python("...")``) and returns the ``repr`` of
    its value: an expression is evaluated, anything else (``x = 1``, ``import math``) executed,
    returning ``''``. Names persist between calls in one namespace, which starts with ``jax``,
    ``jnp`` and ``np``.

    This is the one place where text from Java runs as code, on purpose: it is what the user
    typed into their own REPL. Configs and files are never evaluated (docs/architecture.md; the design notes' Safety rules).
    """
    global _repl_namespace
    if _repl_namespace is None:
        import jax.numpy as jnp
        _repl_namespace = {"__name__": "__lab__", "jax": jax, "jnp": jnp, "np": np}
    try:
        code = compile(source, "<lab.python>", "eval")
    except SyntaxError:
        exec(compile(source, "<lab.python>", "exec"), _repl_namespace)  # noqa: S102
        return ""
    return repr(eval(code, _repl_namespace))  # noqa: S307


@register
def denoise_run(checkpoint_dir: str, data_json: str, home: str, request_json: str, progress,
                picture_array: int, picture_schema: int) -> str:
    """Denoises images with a run's model beside classical denoisers (see
    :func:`latentlab.apps.denoise.denoise_run`); ``data_json`` is the run's data section,
    opened in the project ``home``. Exports
    the picture [P, H, W, C] (rows of noisy | baselines | ours | clean) and returns the result
    as JSON."""
    from latentlab.apps import denoise

    def report(stage, step, total, value):
        progress.update(stage, step, total, value)

    result, picture = denoise.denoise_run(
        MODELS.get(checkpoint_dir), _parse(data_json, "the data section"), home,
        _parse(request_json, "the denoising request"), report)
    tensors.export_tensor(jax.numpy.asarray(picture), picture_array, picture_schema)
    return json.dumps(result, sort_keys=True)


@register
def check_denoise_request(request_json: str) -> str:
    """The denoising request with defaults filled, as JSON; raises ValueError (one line) for a
    bad option, before any work."""
    from latentlab.apps import denoise
    return json.dumps(denoise.check_request(_parse(request_json, "the denoising request")),
                      sort_keys=True)


@register
def anomaly_run(checkpoint_dir: str, data_json: str, home: str, request_json: str,
                progress) -> str:
    """Scores a run's held-out images (its data section ``data_json`` in the project ``home``)
    as normal or anomalous (see
    :func:`latentlab.apps.anomaly.detect_run`); returns the AUROCs and ROC curves as JSON."""
    from latentlab.apps import anomaly

    def report(stage, step, total, value):
        progress.update(stage, step, total, value)

    return json.dumps(anomaly.detect_run(
        MODELS.get(checkpoint_dir), _parse(data_json, "the data section"), home,
        _parse(request_json, "the anomaly request"), report), sort_keys=True)


@register
def check_anomaly_request(request_json: str) -> str:
    """The anomaly request with defaults filled, as JSON; raises ValueError (one line) for a
    bad option, before any work."""
    from latentlab.apps import anomaly
    return json.dumps(anomaly.check_request(_parse(request_json, "the anomaly request")),
                      sort_keys=True)


# Open inpainting jobs by handle (see latentlab.apps.inpaint); Java closes them with
# inpaint_finish.
_inpaintings: dict = {}


@register
def inpaint_prepare(checkpoint_dir: str, data_json: str, home: str, mask: str, count: int,
                    known_array: int, known_schema: int, cells_array: int,
                    cells_schema: int) -> str:
    """Starts inpainting the first ``count`` held-out images of a run (its data section
    ``data_json`` in the project ``home``) under ``mask`` (see
    :func:`latentlab.apps.inpaint.prepare`). Exports the known latents [N, h, w, c] and the
    known-cell mask [1, h, w, c] (1 = known); returns JSON
    ``{"handle", "null_label", "count"}``."""
    from latentlab.apps import inpaint
    job = inpaint.prepare(MODELS.get(checkpoint_dir), _parse(data_json, "the data section"),
                          home, mask, int(count))
    handle = next(_next_handle)
    _inpaintings[handle] = job
    tensors.export_tensor(jax.numpy.asarray(job.known_latents), known_array, known_schema)
    tensors.export_tensor(jax.numpy.asarray(job.latent_known[None]), cells_array, cells_schema)
    return json.dumps({"handle": handle, "null_label": job.model.unet.null_label,
                       "count": len(job.labels)})


@register
def inpaint_finish(handle: int, cache_dir: str, images_array: int, images_schema: int,
                   picture_array: int, picture_schema: int) -> str:
    """Scores the completed images from Java [N, H, W, C] (see
    :func:`latentlab.apps.inpaint.finish`); exports the picture (rows of original | masked |
    completed) and returns the scores as JSON. Ends the job."""
    from latentlab.apps import inpaint
    job = _inpaintings.pop(handle)
    result, picture = inpaint.finish(
        job, np.asarray(tensors.import_tensor(images_array, images_schema)), cache_dir)
    tensors.export_tensor(jax.numpy.asarray(picture), picture_array, picture_schema)
    return json.dumps(result, sort_keys=True)


# The product's entry points (fixtures registered later are not among them).
PUBLIC = available()
