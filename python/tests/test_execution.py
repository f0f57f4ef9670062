"""latentlab.execution: the section's defaults and refusals, the mesh on this machine, the
bfloat16 compute policy, and the doctor's probes (Java's side runs them through the bridge)."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from latentlab import bridge, execution, tensors
from latentlab.models import VAE


def test_resolve_fills_defaults():
    assert execution.resolve(None) == {"devices": "all", "precision": "float32",
                                       "mesh": {"data": -1}, "processes": 1,
                                       "coordinator": None, "checkpoint_every": 100}
    assert execution.resolve({"devices": 2})["devices"] == 2


@pytest.mark.parametrize("section, message", [
    ({"device": 2}, "execution.device: unknown key; allowed: checkpoint_every, coordinator, "
                    "devices, mesh, precision, processes"),
    ({"checkpoint_every": 0}, "execution.checkpoint_every: expected a step count >= 1, got 0"),
    ({"processes": 0}, "execution.processes: expected a process count >= 1, got 0"),
    ({"coordinator": "node1"}, "execution.coordinator: expected 'host:port', got 'node1'"),
    ({"devices": 0}, "execution.devices: expected 'all' or a device count >= 1, got 0"),
    ({"devices": True}, "execution.devices: expected 'all'"),
    ({"precision": "float16"}, "execution.precision: unknown value 'float16'"),
    ({"mesh": {"model": 2}}, "execution.mesh.model: unknown mesh axis; allowed: data"),
    ({"mesh": {"data": 0}}, "execution.mesh.data: expected a size >= 1, or -1"),
])
def test_resolve_refuses_in_one_line(section, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        execution.resolve(section)


def test_more_devices_than_the_machine_has_is_refused():
    n = len(jax.local_devices())
    with pytest.raises(ValueError, match=f"execution.devices: {n + 1} requested, but this "
                                         f"machine has {n}"):
        execution.from_config({"devices": n + 1})
    with pytest.raises(ValueError, match="execution.mesh.data: 7 does not hold"):
        execution.from_config({"mesh": {"data": 7}})


def test_default_is_every_local_device_float32():
    ex = execution.from_config(None)
    assert ex.size == len(jax.local_devices()) and ex.compute_dtype == jnp.float32
    assert ex.describe()["mesh"] == {"data": ex.size}


def test_bfloat16_computes_convolutions_in_bfloat16_with_float32_masters_and_gradients():
    vae = VAE(channels=4, channel_mult=(1,), latent_channels=2)
    x = jnp.ones((2, 8, 8, 1))
    key = jax.random.PRNGKey(0)
    # Shapes suffice: nothing below runs the model (make_jaxpr and eval_shape only trace).
    params = jax.eval_shape(vae.init, key, x, key)["params"]
    apply = execution.compute_apply(vae.apply, jnp.bfloat16)
    jaxpr = str(jax.make_jaxpr(lambda p: apply({"params": p}, x, key))(params))
    assert "conv_general_dilated" in jaxpr
    convs = [line for line in jaxpr.splitlines() if "conv_general_dilated" in line]
    assert all("bf16" in line for line in convs), convs
    # Shapes and dtypes only (eval_shape traces, compiles nothing).
    logits, _ = jax.eval_shape(lambda p: apply({"params": p}, x, key), params)
    assert logits.dtype == jnp.float32
    grads = jax.eval_shape(jax.grad(lambda p: jnp.sum(apply({"params": p}, x, key)[0])), params)
    assert {leaf.dtype for leaf in jax.tree.leaves(grads)} == {jnp.dtype(jnp.float32)}
    # float32 is the function itself: float32 runs trace exactly as before.
    apply_fn = vae.apply
    assert execution.compute_apply(apply_fn, jnp.float32) is apply_fn


def test_doctor_reports_backend_and_devices():
    import json
    machine = json.loads(bridge.doctor())
    assert machine["backend"] == jax.default_backend()
    assert len(machine["devices"]) == len(jax.local_devices())


@pytest.mark.cpu_only  # on an accelerator the export is a device→host copy
def test_doctor_export_probe_is_zero_copy_on_cpu():
    from test_tensors import _structs
    array, schema, array_ptr, schema_ptr = _structs()
    device_address = bridge.probe_export(array_ptr, schema_ptr)
    x = tensors.import_tensor(array_ptr, schema_ptr)  # stands in for Java: reads the structs
    assert x.unsafe_buffer_pointer() == device_address
    address, platform, backend = bridge.probe_import(*_export(np.asarray(x)))
    assert (address, platform, backend) == (device_address, "cpu", "cpu")


def _export(host):
    from test_tensors import _structs
    import pyarrow as pa
    array, schema, array_ptr, schema_ptr = _structs()
    field = tensors.tensor_field("float32", host.shape[1:])
    values = pa.Array.from_buffers(pa.float32(), host.size, [None, pa.py_buffer(host)])
    pa.FixedSizeListArray.from_arrays(values, type=field.type)._export_to_c(array_ptr)
    field._export_to_c(schema_ptr)
    _export.keep = (array, schema)
    return array_ptr, schema_ptr


def test_a_coordinator_that_cannot_be_reached_fails_in_one_line_naming_it(tmp_path):
    """A process of a multi-process run whose coordinator never answers gives up after the
    spec's timeout with one line naming the address (latentlab.distributed)."""
    with socket.socket() as probe:  # a port nobody listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = tmp_path / "process-1.json"
    spec.write_text(json.dumps({
        "config": {}, "replicate": 0, "home": str(tmp_path), "out_dir": str(tmp_path),
        "checkpoint_dir": str(tmp_path / "checkpoint"), "coordinator": f"127.0.0.1:{port}",
        "num_processes": 2, "process_id": 1, "timeout_s": 3}))
    python = Path(execution.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "latentlab.distributed", str(spec)],
                          cwd=python, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(python),
                                           "JAX_PLATFORMS": "cpu"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"process 1: RuntimeError: cannot reach the run's coordinator at "
                           f"127.0.0.1:{port} within 3 s: Connection refused"), last
    assert len(last) < 400, last


# Two processes of one run: process 1 raises after joining, process 0 waits for it in a
# collective (as a training step would). argv: spec file.
_RAISES_IN_ONE = r"""
import sys
from latentlab import distributed

def run(spec):
    distributed.initialize(spec)
    import jax
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices("both joined")
    if jax.process_index() == 1:
        raise ValueError("a data file is missing")
    multihost_utils.sync_global_devices("process 1 never comes")

distributed.run = run
sys.exit(distributed.main([sys.argv[1]]))
"""


def test_a_process_that_raises_ends_at_once_instead_of_waiting_for_the_others(tmp_path):
    """A raised error (not a kill) must end its process, so that the launcher, srun or the
    runtime's heartbeat ends the run: the interpreter's normal exit would wait for the other
    processes at the runtime's shutdown barrier, and they wait for it in a collective."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    python = Path(execution.__file__).resolve().parents[1]
    procs = []
    for rank in (0, 1):
        spec = tmp_path / f"process-{rank}.json"
        spec.write_text(json.dumps({"coordinator": f"127.0.0.1:{port}", "num_processes": 2,
                                    "process_id": rank, "timeout_s": 60}))
        procs.append(subprocess.Popen(
            [sys.executable, "-c", _RAISES_IN_ONE, str(spec)], cwd=python,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(python), "JAX_PLATFORMS": "cpu"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    waiting, raising = procs
    try:
        _, err = raising.communicate(timeout=120)
        assert waiting.poll() is None, "process 1 ended only once process 0 had"
        assert raising.returncode == 1, err[-2000:]
        assert err.strip().splitlines()[-1] == "process 1: ValueError: a data file is missing"
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
