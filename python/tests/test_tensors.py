"""latentlab.tensors: tensors cross the Arrow C Data Interface as the jax.Array's own memory."""

import ctypes

import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pytest

from latentlab import tensors

# sizeof(struct ArrowArray) and sizeof(struct ArrowSchema) on 64-bit platforms (Arrow C ABI).
_ARRAY_BYTES, _SCHEMA_BYTES = 80, 72


def _structs():
    """Zeroed C structs, as Java's ArrowArray.allocateNew gives them."""
    array = ctypes.create_string_buffer(_ARRAY_BYTES)
    schema = ctypes.create_string_buffer(_SCHEMA_BYTES)
    return array, schema, ctypes.addressof(array), ctypes.addressof(schema)


@pytest.mark.cpu_only
def test_export_tensor_is_zero_copy_and_tagged():
    x = jnp.arange(24, dtype=jnp.float32).reshape(2, 3, 4)
    array, schema, array_ptr, schema_ptr = _structs()
    exported = tensors.export_tensor(x, array_ptr, schema_ptr)
    received = pa.Array._import_from_c(array_ptr, schema_ptr)
    assert exported == x.unsafe_buffer_pointer()
    assert isinstance(received.type, pa.FixedShapeTensorType)
    assert received.type.shape == [3, 4]
    values = received.to_numpy_ndarray()
    assert values.ctypes.data == x.unsafe_buffer_pointer()
    np.testing.assert_array_equal(values, np.asarray(x))


def test_export_tensor_refuses_other_dtypes():
    _, _, array_ptr, schema_ptr = _structs()
    with pytest.raises(TypeError, match="dtype complex64 cannot cross; use one of float32, "):
        tensors.export_tensor(jnp.zeros((2, 2), jnp.complex64), array_ptr, schema_ptr)


@pytest.mark.cpu_only
@pytest.mark.parametrize("dtype", tensors.DTYPES)
def test_every_dtype_round_trips_through_c_without_a_copy(dtype):
    x = (jnp.arange(2 * 3 * 4) % 7).astype(dtype).reshape(2, 3, 4)
    array, schema, array_ptr, schema_ptr = _structs()
    tensors.export_tensor(x, array_ptr, schema_ptr)
    back = tensors.import_tensor(array_ptr, schema_ptr)
    assert back.dtype == x.dtype and back.shape == x.shape
    assert back.unsafe_buffer_pointer() == x.unsafe_buffer_pointer()
    assert jnp.array_equal(back, x)


def test_import_takes_each_tensors_own_shape():
    # Same number of values per row, different shapes: the cached layout must not mix them up.
    for shape in [(2, 2, 3), (2, 3, 2), (2, 6), (2, 2, 3)]:
        x = jnp.arange(12, dtype=jnp.float32).reshape(shape)
        array, schema, array_ptr, schema_ptr = _structs()
        tensors.export_tensor(x, array_ptr, schema_ptr)
        assert tensors.import_tensor(array_ptr, schema_ptr).shape == shape


@pytest.mark.cpu_only  # aliasing the caller's memory needs host memory
def test_import_of_a_sliced_tensor_column_takes_its_own_rows():
    raw = np.zeros(4 * 16 * 4 + 64, np.uint8)  # 64-byte aligned, as JAX takes it without a copy
    start = -raw.ctypes.data % 64
    data = raw[start:start + 4 * 16 * 4].view(np.float32).reshape(4, 16)
    data[:] = np.arange(4 * 16, dtype=np.float32).reshape(4, 16)
    column = pa.FixedShapeTensorArray.from_numpy_ndarray(data).slice(2, 2)  # rows 2, 3
    field = pa.field("tensor", column.type, nullable=False)
    x = tensors.import_tensor_from(column, field)
    np.testing.assert_array_equal(np.asarray(x), np.arange(32, 64, dtype=np.float32).reshape(2, 16))


def test_import_refuses_a_permuted_tensor():
    tensor_type = pa.fixed_shape_tensor(pa.float32(), [2, 3], permutation=[1, 0])
    storage = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(12, np.float32)), 6)
    column = pa.ExtensionArray.from_storage(tensor_type, storage)
    with pytest.raises(ValueError, match="a permuted tensor \\[1, 0\\] cannot cross"):
        tensors.import_tensor_from(column, pa.field("tensor", tensor_type))
