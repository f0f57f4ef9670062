"""Test and benchmark fixtures callable from Java: handoffs of known tensors, refusals, the
bridge's own cost, held arrays and random-weight checkpoints.

The product never imports this module. Java's test and benchmark JVMs (system property
``latentlab.testing=true``) run ``import latentlab.testing; latentlab.testing.register()``
at bridge start, which adds these functions to :mod:`latentlab.bridge`'s dispatch under
their own names.
"""

import ctypes
import gc
import json
import weakref

import jax.numpy as jnp
import numpy as np
import pyarrow as pa

from latentlab import bench, bridge, tensors


def register() -> None:
    """Makes every fixture callable through :func:`latentlab.bridge.call` (idempotent)."""
    for function in FIXTURES:
        bridge.register(function)


def echo_tensor(in_array: int, in_schema: int, out_array: int, out_schema: int) -> list:
    """Takes a tensor from Java and hands the same jax.Array back; returns the addresses seen
    on the way: [pyarrow values buffer, numpy, jax.Array]. For tests and benchmarks of the
    handoff."""
    field = pa.Field._import_from_c(in_schema)
    array = pa.Array._import_from_c(in_array, field.type)
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    pyarrow_address = storage.values.buffers()[1].address
    x = tensors.import_tensor_from(array, field)
    numpy_address = np.asarray(x).ctypes.data
    tensors.export_tensor(x, out_array, out_schema)
    return [pyarrow_address, numpy_address, x.unsafe_buffer_pointer()]


def trim_heap() -> bool:
    """Hands the C heap's free memory back to the OS (glibc ``malloc_trim``), so that resident
    memory measures what is in use, not what malloc keeps for later (leak tests). False where
    the C library has no malloc_trim."""
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
    tensors.export_tensor(x, array_address, schema_address)
    return x.unsafe_buffer_pointer()


_bad_tensor_source = None  # weak reference to the numpy memory sample_bad_tensor exported


def sample_bad_tensor(kind: str, array_address: int, schema_address: int) -> None:
    """Exports something that is not a tensor LatentLab takes, for tests of Java's refusals:
    ``plain`` (float32 values, no list), ``untagged`` (a fixed-size list without the tensor
    extension), ``null_rows``, ``null_values``, ``int64`` values, ``permuted`` dimensions.
    Its memory is numpy's, so :func:`bad_tensor_released` can tell when Java let go of it."""
    global _bad_tensor_source
    source = np.arange(12, dtype=np.int64 if kind == "int64" else np.float32)
    _bad_tensor_source = weakref.ref(source)
    mask = np.arange(12) == 1 if kind == "null_values" else None
    values = pa.array(source, mask=mask)  # no copy: the export holds `source`

    def tagged(storage, shape=(2, 3), extra=None):
        return pa.field("tensor", storage.type, nullable=False, metadata={
            b"ARROW:extension:name": tensors.TENSOR_EXTENSION.encode(),
            b"ARROW:extension:metadata": json.dumps({"shape": list(shape), **(extra or {})}).encode()})

    if kind == "plain":
        storage, field = values, pa.field("tensor", values.type)
    elif kind == "untagged":
        storage = pa.FixedSizeListArray.from_arrays(values, 6)
        field = pa.field("tensor", storage.type)
    elif kind == "null_rows":
        storage = pa.FixedSizeListArray.from_arrays(values, type=tensors.tensor_field("float32", (2, 3)).type,
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
    gc.collect()
    return _bad_tensor_source is not None and _bad_tensor_source() is None


def noop() -> None:
    """Does nothing: the bridge's own cost, for benchmarks."""


def report_progress(progress, steps: int, seconds_per_step: float) -> int:
    """Stands in for a training loop: reports each of ``steps`` steps to a Java
    ProgressListener, sleeping between them; returns the steps done (tests of interrupts)."""
    import time
    for step in range(1, int(steps) + 1):
        time.sleep(float(seconds_per_step))
        progress.update("test", step, int(steps), float("nan"))
    return int(steps)


def bench_hold(nbytes: int) -> int:
    """Keeps a float32 jax.Array of ``nbytes`` alive in Python; returns its handle."""
    return bench.hold(int(nbytes))


def bench_release(handle: int) -> None:
    bench.release(handle)


def bench_export_held(handle: int, array: int, schema: int) -> None:
    """Exports a held jax.Array to Java (the JAX → Java half of a handoff)."""
    tensors.export_tensor(bench.held(handle), array, schema)


def bench_import(array: int, schema: int) -> int:
    """Takes a Java tensor as a jax.Array and drops it (the Java → JAX half of a handoff)."""
    return tensors.import_tensor(array, schema).unsafe_buffer_pointer()


def bench_checkpoint(folder: str) -> None:
    """Writes a quickstart-shaped model with random weights."""
    bench.random_checkpoint(folder)


def bench_fused_sample(checkpoint_dir: str, steps: int, labels) -> None:
    """Fused DDIM sampling on a checkpoint, to completion."""
    bench.fused_sample(bridge.MODELS.get(checkpoint_dir), int(steps), [int(v) for v in labels])


FIXTURES = (echo_tensor, sample_tensor, sample_bad_tensor, bad_tensor_released, echo_print,
            trim_heap, noop, report_progress, bench_hold, bench_release, bench_export_held,
            bench_import, bench_checkpoint, bench_fused_sample)
