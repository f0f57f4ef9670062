"""The only module Java calls. Plain arguments in (strings, numbers, C-struct addresses),
plain values out; tensors leave through the Arrow C Data Interface without a copy.

Each function parses its arguments and calls one library function.
"""

import json
import os
import platform
import traceback

import jax
import numpy as np
import pyarrow as pa

from latentlab import config as config_lib

TENSOR_EXTENSION = "arrow.fixed_shape_tensor"

# The functions Java may call through :func:`call`.
PUBLIC = ("resolve_config", "environment", "sample_tensor", "train_and_sample")

_last_error: tuple[str, str, str] | None = None


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
        kind = type(e)
        qualified = kind.__qualname__ if kind.__module__ == "builtins" else (
            f"{kind.__module__}.{kind.__qualname__}")
        _last_error = (qualified, str(e), traceback.format_exc())
        raise


def last_error():
    """(type, message, traceback) of the last failed :func:`call`, or None."""
    return list(_last_error) if _last_error else None


def resolve_config(config_json: str) -> str:
    """Checks the Python-owned parts of a config; returns the resolved config as JSON."""
    return json.dumps(config_lib.resolve(json.loads(config_json)), sort_keys=True)


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
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "jep": version("jep"),  # importable only inside Java
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }, sort_keys=True)


def export_tensor(x, array_address: int, schema_address: int) -> int:
    """Exports x [B, ...] float32 as a non-null fixed-size-list array tagged
    ``arrow.fixed_shape_tensor`` (shape = x.shape[1:]) into the two C structs Java allocated.

    On CPU the exported buffer *is* the jax.Array's buffer: numpy views it, pyarrow wraps the
    view, and the release callback keeps it alive until Java closes the vector. Returns the
    data address exported, so callers can check it against Java's.
    """
    host = np.asarray(x)  # zero-copy, read-only view of a CPU jax.Array
    if host.dtype != np.float32:
        raise TypeError(f"export_tensor: expected float32, got {host.dtype}")
    if not host.flags.c_contiguous:
        raise ValueError("export_tensor: array is not C-contiguous")
    item_shape = list(host.shape[1:])
    buffer = pa.py_buffer(host)
    values = pa.Array.from_buffers(pa.float32(), host.size, [None, buffer])
    storage = pa.FixedSizeListArray.from_arrays(values, int(np.prod(item_shape)))
    tensor_type = pa.fixed_shape_tensor(pa.float32(), item_shape)
    pa.ExtensionArray.from_storage(tensor_type, storage)._export_to_c(
        array_address, schema_address)
    return buffer.address


def sample_tensor(rows: int, array_address: int, schema_address: int) -> int:
    """Exports a small jax.Array [rows, 2, 3] (values 0, 1, 2, …) for tests of the handoff;
    returns the jax.Array's own buffer address."""
    x = jax.numpy.arange(rows * 6, dtype=jax.numpy.float32).reshape(rows, 2, 3)
    export_tensor(x, array_address, schema_address)
    return x.unsafe_buffer_pointer()


def train_and_sample(config_json: str, data_path: str, progress,
                     latents_array: int, latents_schema: int,
                     images_array: int, images_schema: int) -> str:
    """Runs :func:`latentlab.train.ldm.train_and_sample`; ``progress`` is a Java object with
    ``update(String stage, long step, long total, double loss)``. Exports latents and images;
    returns the metrics (and the labels and latents' jax buffer address) as JSON."""
    from latentlab.train import ldm

    def report(stage, step, total, loss):
        progress.update(stage, step, total, loss)

    result = ldm.train_and_sample(json.loads(config_json), data_path, report)
    export_tensor(result.latents, latents_array, latents_schema)
    export_tensor(result.images, images_array, images_schema)
    return json.dumps({"metrics": result.metrics,
                       "labels": result.labels.tolist(),
                       "latents_jax_address": result.latents.unsafe_buffer_pointer()},
                      sort_keys=True)
