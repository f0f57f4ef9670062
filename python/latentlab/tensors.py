"""Tensors across the boundary: the Arrow C Data Interface codec between jax.Array and Java.

A tensor batch crosses as a non-null fixed-size list (one row per batch item, row-major)
tagged with the canonical extension ``arrow.fixed_shape_tensor``; on CPU both directions alias
the same memory. :mod:`latentlab.bridge` calls this; so do the test fixtures.
"""

import ctypes
import functools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa

TENSOR_EXTENSION = "arrow.fixed_shape_tensor"

# Element types that cross the boundary, by NumPy name → Arrow value type. bfloat16 has no
# Arrow type: it travels as uint16 bit patterns under an extension name of LatentLab's own
# (the canonical tensor type cannot carry that distinction).
ARROW_TYPES = {"float32": pa.float32(), "float16": pa.float16(), "bfloat16": pa.uint16(),
               "int32": pa.int32(), "uint8": pa.uint8()}
BFLOAT16_TENSOR_EXTENSION = "latentlab.bfloat16_tensor"
DTYPES = tuple(ARROW_TYPES)  # the element types that cross, by NumPy name
_NUMPY_BY_ARROW_ID = {t.id: name for name, t in ARROW_TYPES.items() if name != "bfloat16"}


@functools.lru_cache(maxsize=256)
def tensor_field(dtype_name: str, item_shape: tuple[int, ...]) -> pa.Field:
    """The schema of a tensor column (cached: a handoff's fixed cost is what matters)."""
    item = pa.field("item", ARROW_TYPES[dtype_name], nullable=False)
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
    if name not in ARROW_TYPES:
        raise TypeError(f"export_tensor: dtype {name} cannot cross; use one of "
                        f"{', '.join(ARROW_TYPES)}")
    if not host.flags.c_contiguous:
        raise ValueError("export_tensor: array is not C-contiguous")
    if host.ndim < 2:
        raise ValueError(f"export_tensor: need [batch, ...], got shape {list(host.shape)}")
    field = tensor_field(name, tuple(int(d) for d in host.shape[1:]))
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
                        f"{', '.join(ARROW_TYPES)}")
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

