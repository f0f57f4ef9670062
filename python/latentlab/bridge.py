"""The only module Java calls. Plain arguments in (strings, numbers, C-struct addresses),
plain values out; tensors leave through the Arrow C Data Interface without a copy.

Each function parses its arguments and calls one library function.
"""

import ctypes
import functools
import json
import math
import os
import platform
import traceback

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa

from latentlab import config as config_lib

TENSOR_EXTENSION = "arrow.fixed_shape_tensor"

# The functions Java may call through :func:`call`.
PUBLIC = ("resolve_config", "environment", "sample_tensor", "train_and_sample",
          "echo_tensor", "sample_bad_tensor", "bad_tensor_released", "session_open", "session_step", "session_latents",
          "session_set_latents", "session_decode", "session_close", "session_info",
          "echo_print", "collect_garbage", "noop", "bench_hold", "bench_release",
          "bench_export_held", "bench_import", "bench_checkpoint", "bench_fused_sample",
          "evaluate_run", "trim_heap")

_last_error: list | None = None


def call(name: str, *args):
    """Runs one of the :data:`PUBLIC` functions; records a failure for :func:`last_error`.

    Java's Jep reports only ``<class 'T'>: message`` for an exception, so the full traceback,
    chained causes included, is kept here for the bridge to fetch.
    """
    global _last_error
    _last_error = None
    try:
        if name not in PUBLIC:
            raise AttributeError(f"latentlab.bridge has no public function {name!r}; "
                                 f"available: {', '.join(PUBLIC)}")
        return globals()[name](*args)
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


def resolve_config(config_json: str) -> str:
    """Checks the Python-owned parts of a config; returns the resolved config as JSON."""
    try:
        config = json.loads(config_json)
    except json.JSONDecodeError as e:
        raise ValueError("the config sent to Python is not valid JSON") from e
    return json.dumps(config_lib.resolve(config), sort_keys=True)


def environment() -> str:
    """Versions and backend of this Python, as JSON, for a run's provenance."""
    import flax
    import jaxlib
    import optax
    from importlib.metadata import version
    return json.dumps({
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "orbax_checkpoint": version("orbax-checkpoint"),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "jep": version("jep"),  # importable only inside Java
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }, sort_keys=True)


# Element types that cross the boundary, by NumPy name → Arrow value type. bfloat16 has no
# Arrow type: it travels as uint16 bit patterns under an extension name of LatentLab's own
# (the canonical tensor type cannot carry that distinction).
_ARROW_TYPES = {"float32": pa.float32(), "float16": pa.float16(), "bfloat16": pa.uint16(),
                "int32": pa.int32(), "uint8": pa.uint8()}
BFLOAT16_TENSOR_EXTENSION = "latentlab.bfloat16_tensor"


_NUMPY_BY_ARROW_ID = {t.id: name for name, t in _ARROW_TYPES.items() if name != "bfloat16"}


@functools.lru_cache(maxsize=256)
def _tensor_field(dtype_name: str, item_shape: tuple[int, ...]) -> pa.Field:
    """The schema of a tensor column (cached: a handoff's fixed cost is what matters)."""
    item = pa.field("item", _ARROW_TYPES[dtype_name], nullable=False)
    size = math.prod(item_shape)
    extension = BFLOAT16_TENSOR_EXTENSION if dtype_name == "bfloat16" else TENSOR_EXTENSION
    return pa.field("tensor", pa.list_(item, size), nullable=False, metadata={
        b"ARROW:extension:name": extension.encode(),
        b"ARROW:extension:metadata": json.dumps({"shape": list(item_shape)},
                                                separators=(",", ":")).encode()})


def export_tensor(x, array_address: int, schema_address: int) -> int:
    """Exports x [B, ...] (float32, float16, bfloat16, int32 or uint8) as a non-null fixed-size
    list array tagged ``arrow.fixed_shape_tensor`` (shape = x.shape[1:]) into the two C structs
    Java allocated.

    On CPU the exported buffer *is* the jax.Array's buffer: numpy views it, pyarrow wraps the
    view, and the release callback keeps it alive until Java closes the vector. Returns the
    data address exported, so callers can check it against Java's.
    """
    host = np.asarray(x)  # zero-copy, read-only view of a CPU jax.Array
    name = str(host.dtype)
    if name not in _ARROW_TYPES:
        raise TypeError(f"export_tensor: dtype {name} cannot cross; use one of "
                        f"{', '.join(_ARROW_TYPES)}")
    if not host.flags.c_contiguous:
        raise ValueError("export_tensor: array is not C-contiguous")
    if host.ndim < 2:
        raise ValueError(f"export_tensor: need [batch, ...], got shape {list(host.shape)}")
    field = _tensor_field(name, tuple(int(d) for d in host.shape[1:]))
    buffer = pa.py_buffer(host)
    values = pa.Array.from_buffers(field.type.value_type, host.size, [None, buffer])
    storage = pa.FixedSizeListArray.from_arrays(values, type=field.type)
    storage._export_to_c(array_address)
    field._export_to_c(schema_address)
    return buffer.address


def import_tensor(array_address: int, schema_address: int) -> jax.Array:
    """Takes a tensor that Java exported into the two C structs, without copying: the
    jax.Array aliases Java's buffer (``from_dlpack(copy=False)`` raises if it is not 64-byte
    aligned, where JAX would otherwise copy silently)."""
    field = pa.Field._import_from_c(schema_address)
    return import_tensor_from(pa.Array._import_from_c(array_address, field.type), field)


_LAYOUTS: dict = {}


def _layout(array: pa.Array, storage: pa.FixedSizeListArray, values: pa.Array,
            field: pa.Field) -> tuple:
    """(item shape, element dtype, bytes per element, is bfloat16) of a tensor column, or a
    TypeError naming what crosses. Cached under a key that is cheaper to build than hashing
    the Arrow type: a handoff's fixed cost is what matters."""
    tensor_type = array.type
    if isinstance(tensor_type, pa.FixedShapeTensorType):
        metadata = {}  # pyarrow took the extension's keys into the type
        permutation = tensor_type.permutation
        key = (tuple(tensor_type.shape), None if permutation is None else tuple(permutation),
               values.type.id)
    else:
        metadata = field.metadata or {}
        key = (metadata.get(b"ARROW:extension:name"), metadata.get(b"ARROW:extension:metadata"),
               values.type.id, storage.type.list_size)
    layout = _LAYOUTS.get(key)
    if layout is not None:
        return layout
    bfloat16 = metadata.get(b"ARROW:extension:name") == BFLOAT16_TENSOR_EXTENSION.encode()
    if isinstance(tensor_type, pa.FixedShapeTensorType):
        shape = key[0]
        if key[1] is not None and key[1] != tuple(range(len(shape))):
            raise ValueError(f"a permuted tensor {list(key[1])} cannot cross; "
                             "LatentLab takes row-major tensors only")
    elif bfloat16:
        shape = tuple(json.loads(metadata[b"ARROW:extension:metadata"])["shape"])
    else:
        raise TypeError(f"expected an {TENSOR_EXTENSION} array, got {tensor_type}")
    if math.prod(shape) != storage.type.list_size:
        raise ValueError(f"tensor shape {list(shape)} does not hold "
                         f"{storage.type.list_size} values per row")
    value_type = values.type
    if bfloat16 and value_type == pa.uint16():
        dtype = np.dtype(jnp.bfloat16)
    elif value_type.id in _NUMPY_BY_ARROW_ID:
        dtype = np.dtype(_NUMPY_BY_ARROW_ID[value_type.id])
    else:
        raise TypeError(f"tensor values of type {value_type} cannot cross; use one of "
                        f"{', '.join(_ARROW_TYPES)}")
    layout = (shape, dtype, value_type.bit_width // 8, bfloat16)
    if len(_LAYOUTS) < 1024:
        _LAYOUTS[key] = layout
    return layout


def import_tensor_from(array: pa.Array, field: pa.Field) -> jax.Array:
    """The jax.Array aliasing an imported tensor array whose field is ``field`` (see
    :func:`import_tensor`)."""
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    if not isinstance(storage, pa.FixedSizeListArray):
        raise TypeError(f"expected an {TENSOR_EXTENSION} array, got {array.type}")
    if storage.null_count:
        raise ValueError("a tensor must not contain nulls")
    values = storage.values
    if storage.offset or len(values) != len(storage) * storage.type.list_size:
        # a slice of a longer column: its own rows' values
        size = storage.type.list_size
        values = values.slice(storage.offset * size, len(storage) * size)
    if values.null_count:
        raise ValueError("a tensor must not contain nulls")
    shape, dtype, itemsize, bfloat16 = _layout(array, storage, values, field)
    buffer = values.buffers()[1]
    # pyarrow marks imported memory read-only, and this DLPack handshake cannot carry a
    # read-only flag, so the view is built over the address instead; it keeps the pyarrow
    # buffer (and so Java's export) alive. Neither JAX nor Java writes to it.
    cells = (ctypes.c_uint8 * (len(values) * itemsize)).from_address(
        buffer.address + values.offset * itemsize)
    cells._keepalive = buffer
    host = np.frombuffer(cells, dtype=dtype).reshape((len(array),) + shape)
    if bfloat16:
        # NumPy's DLPack export has no bfloat16; device_put aliases aligned host memory on CPU,
        # but keeps it in a reference cycle: Java's export is released at the next collection
        # (collect_garbage), not when the jax.Array goes.
        x = jax.device_put(host)
        if jax.default_backend() == "cpu" and x.unsafe_buffer_pointer() != host.ctypes.data:
            raise BufferError("bfloat16 tensor was copied; allocate it 64-byte aligned")
        return x
    return jax.dlpack.from_dlpack(host, copy=False)


def echo_tensor(in_array: int, in_schema: int, out_array: int, out_schema: int) -> list:
    """Takes a tensor from Java and hands the same jax.Array back; returns the addresses seen
    on the way: [pyarrow values buffer, numpy, jax.Array]. For tests and benchmarks of the
    handoff."""
    field = pa.Field._import_from_c(in_schema)
    array = pa.Array._import_from_c(in_array, field.type)
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    pyarrow_address = storage.values.buffers()[1].address
    x = import_tensor_from(array, field)
    numpy_address = np.asarray(x).ctypes.data
    export_tensor(x, out_array, out_schema)
    return [pyarrow_address, numpy_address, x.unsafe_buffer_pointer()]


def collect_garbage() -> int:
    """Runs Python's cycle collector; returns how many objects it freed. Memory Java exported
    as a bfloat16 tensor is held by such a cycle inside ``jax.device_put`` until it runs."""
    import gc
    return gc.collect()


def trim_heap() -> bool:
    """Hands the C heap's free memory back to the OS (glibc ``malloc_trim``), so that resident
    memory measures what is in use, not what malloc keeps for later (leak tests). False where
    the C library has no malloc_trim."""
    import ctypes
    try:
        return bool(ctypes.CDLL(None).malloc_trim(0))
    except (OSError, AttributeError):
        return False


def echo_print(text: str) -> None:
    """Prints ``text``: shows where Python's stdout goes (tests of the bridge's streams)."""
    print(text, flush=True)


def sample_tensor(rows: int, array_address: int, schema_address: int) -> int:
    """Exports a small jax.Array [rows, 2, 3] (values 0, 1, 2, …) for tests of the handoff;
    returns the jax.Array's own buffer address."""
    x = jnp.arange(rows * 6, dtype=jnp.float32).reshape(rows, 2, 3)
    export_tensor(x, array_address, schema_address)
    return x.unsafe_buffer_pointer()


_bad_tensor_source = None  # weak reference to the numpy memory sample_bad_tensor exported


def sample_bad_tensor(kind: str, array_address: int, schema_address: int) -> None:
    """Exports something that is not a tensor LatentLab takes, for tests of Java's refusals:
    ``plain`` (float32 values, no list), ``untagged`` (a fixed-size list without the tensor
    extension), ``null_rows``, ``null_values``, ``int64`` values, ``permuted`` dimensions.
    Its memory is numpy's, so :func:`bad_tensor_released` can tell when Java let go of it."""
    global _bad_tensor_source
    import weakref
    source = np.arange(12, dtype=np.int64 if kind == "int64" else np.float32)
    _bad_tensor_source = weakref.ref(source)
    mask = np.arange(12) == 1 if kind == "null_values" else None
    values = pa.array(source, mask=mask)  # no copy: the export holds `source`

    def tagged(storage, shape=(2, 3), extra=None):
        return pa.field("tensor", storage.type, nullable=False, metadata={
            b"ARROW:extension:name": TENSOR_EXTENSION.encode(),
            b"ARROW:extension:metadata": json.dumps({"shape": list(shape), **(extra or {})}).encode()})

    if kind == "plain":
        storage, field = values, pa.field("tensor", values.type)
    elif kind == "untagged":
        storage = pa.FixedSizeListArray.from_arrays(values, 6)
        field = pa.field("tensor", storage.type)
    elif kind == "null_rows":
        storage = pa.FixedSizeListArray.from_arrays(values, type=_tensor_field("float32", (2, 3)).type,
                                                    mask=pa.array([False, True]))
        field = tagged(storage)
    elif kind == "permuted":
        storage = pa.FixedSizeListArray.from_arrays(values, 6)
        field = tagged(storage, (3, 2), {"permutation": [1, 0]})
    elif kind in ("null_values", "int64"):
        storage = pa.FixedSizeListArray.from_arrays(values, 6)
        field = tagged(storage)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    storage._export_to_c(array_address)
    field._export_to_c(schema_address)


def bad_tensor_released() -> bool:
    """Whether the memory of the last :func:`sample_bad_tensor` export has been freed, i.e.
    its consumer called the release callback."""
    import gc
    gc.collect()
    return _bad_tensor_source is not None and _bad_tensor_source() is None


def train_and_sample(config_json: str, replicate: int, data_path: str, checkpoint_dir: str,
                     progress,
                     latents_array: int, latents_schema: int,
                     images_array: int, images_schema: int) -> str:
    """Runs :func:`latentlab.train.ldm.train_and_sample`; ``progress`` is a Java object with
    ``update(String stage, long step, long total, double loss)``. Saves the trained models to
    ``checkpoint_dir``; exports latents and images;
    returns the metrics (and the labels and latents' jax buffer address) as JSON."""
    from latentlab.train import ldm

    def report(stage, step, total, loss):
        progress.update(stage, step, total, loss)

    result = ldm.train_and_sample(json.loads(config_json), data_path, report, checkpoint_dir,
                                  int(replicate))
    export_tensor(result.latents, latents_array, latents_schema)
    export_tensor(result.images, images_array, images_schema)
    return json.dumps({"metrics": result.metrics,
                       "labels": result.labels.tolist(),
                       "latents_jax_address": result.latents.unsafe_buffer_pointer()},
                      sort_keys=True)


# Open sampling sessions by handle; Java holds the handle and closes it.
_sessions: dict = {}
_next_handle = iter(range(1, 1 << 62))
_models: dict = {}


def _model(checkpoint_dir: str):
    from latentlab import checkpoint
    if checkpoint_dir not in _models:  # jitted functions are cached per model object
        _models[checkpoint_dir] = checkpoint.load(checkpoint_dir)
    return _models[checkpoint_dir]


def session_open(checkpoint_dir: str, sampler: str, steps: int, seed: int, labels,
                 guidance_scale: float, eta, spacing: str, rho: float) -> int:
    """Starts a :class:`latentlab.sampling.SamplingSession` on a run's checkpoint; returns
    its handle. ``labels`` is a sequence of ints, one per sample; ``eta`` None (Java null) is
    the sampler's own default."""
    from latentlab.sampling import SamplingSession
    session = SamplingSession(_model(checkpoint_dir), sampler=sampler, steps=int(steps),
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


def session_info(handle: int) -> list:
    """[steps done, total steps, σ of the current latents]."""
    session = _session(handle)
    return [session.steps_done, session.total_steps, session.sigma]


def session_step(handle: int, x_array: int, x_schema: int, x0_array: int, x0_schema: int) -> int:
    """Takes one step; exports the new latents and the x0 prediction; returns steps done."""
    session = _session(handle)
    state = session.step()
    export_tensor(state.x, x_array, x_schema)
    export_tensor(state.x0, x0_array, x0_schema)
    return session.steps_done


def session_latents(handle: int, array: int, schema: int) -> None:
    """Exports the current latents."""
    export_tensor(_session(handle).state.x, array, schema)


def session_set_latents(handle: int, array: int, schema: int) -> int:
    """Replaces the current latents with a tensor from Java (zero-copy); returns the jax.Array's
    buffer address."""
    x = import_tensor(array, schema)
    _session(handle).set_latents(x)
    return x.unsafe_buffer_pointer()


def session_decode(handle: int, array: int, schema: int) -> None:
    """Decodes the current latents to images [B, H, W, C] in [0, 1] and exports them."""
    export_tensor(_session(handle).decode(), array, schema)


def session_close(handle: int) -> None:
    """Forgets a session (its arrays are freed once Java has closed what it holds)."""
    _sessions.pop(handle, None)


def noop() -> None:
    """Does nothing: the bridge's own cost, for benchmarks."""


def bench_hold(nbytes: int) -> int:
    """Keeps a float32 jax.Array of ``nbytes`` alive in Python; returns its handle."""
    from latentlab import bench
    return bench.hold(int(nbytes))


def bench_release(handle: int) -> None:
    from latentlab import bench
    bench.release(handle)


def bench_export_held(handle: int, array: int, schema: int) -> None:
    """Exports a held jax.Array to Java (the JAX → Java half of a handoff)."""
    from latentlab import bench
    export_tensor(bench.held(handle), array, schema)


def bench_import(array: int, schema: int) -> int:
    """Takes a Java tensor as a jax.Array and drops it (the Java → JAX half of a handoff)."""
    return import_tensor(array, schema).unsafe_buffer_pointer()


def bench_checkpoint(folder: str) -> None:
    """Writes a quickstart-shaped model with random weights."""
    from latentlab import bench
    bench.random_checkpoint(folder)


def bench_fused_sample(checkpoint_dir: str, steps: int, labels) -> None:
    """Fused DDIM sampling on a checkpoint, to completion."""
    from latentlab import bench
    bench.fused_sample(_model(checkpoint_dir), int(steps), [int(v) for v in labels])


def evaluate_run(checkpoint_dir: str, data_path: str, holdout: int, cache_dir: str,
                 request_json: str, progress) -> str:
    """Scores a run's model (see :mod:`latentlab.evaluate`). ``request_json`` holds the
    sampling options (``sampler``, ``steps``, ``guidance_scale``, ``num_samples``, ``seed``,
    ``spacing``, ``rho``, ``eta``) and, for the quality-vs-NFE table, ``nfes`` and
    ``table_samples``. Returns JSON: ``{"score": {...}, "table": [...], "markdown": "..."}``."""
    from latentlab import evaluate

    request = json.loads(request_json)

    def report(stage, step, total, value):
        progress.update(stage, step, total, value)

    evaluator = evaluate.Evaluator(_model(checkpoint_dir), data_path, int(holdout), cache_dir,
                                   report)
    options = {k: request[k] for k in ("sampler", "steps", "guidance_scale", "seed", "spacing",
                                       "rho", "eta")}
    score = evaluator.score(num_samples=int(request["num_samples"]), **options)
    out = {"score": score}
    if request.get("nfes"):
        table = evaluate.nfe_table(evaluator, nfes=tuple(request["nfes"]),
                                   guidance_scale=options["guidance_scale"],
                                   num_samples=int(request["table_samples"]), seed=options["seed"],
                                   spacing=options["spacing"], progress=report)
        out["table"] = table
        out["markdown"] = evaluate.markdown(score, table)
    return json.dumps(out, sort_keys=True)
