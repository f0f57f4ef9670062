"""Where a run computes and in what precision: the ``execution`` config section.

A run is data-parallel over a one-axis :class:`jax.sharding.Mesh` of local devices (axis
``data``): each training step's batch is split across the devices and the training state
(parameters, EMA, optimiser moments) is **replicated** on every one of them. Replicated, not
sharded: LatentLab's models are a few MB, so a copy per device costs nothing, the step needs
only one all-reduce of the gradients (which XLA inserts from the shardings), and a checkpoint
holds one copy whatever the mesh, so it restores onto any other. Sharding the state (an
``fsdp`` axis) pays off once the optimiser state no longer fits a device; it is not here.

The section, as Java validates and fills it::

    execution:
      devices: all        # or N: the first N local devices
      precision: float32  # or bfloat16: compute in bfloat16, master weights in float32
      mesh: {data: -1}    # the mesh's shape; -1: every selected device
      processes: 1        # JAX processes (one per host, or several on one host): see below
      coordinator: null   # "host:port" of process 0's coordinator; null: chosen by the launcher
      checkpoint_every: 100  # steps between a stage's training checkpoints

``devices``, ``mesh``, ``processes``, ``coordinator`` and ``checkpoint_every`` do not enter
the trial id. With the same global batch, a run on 4 devices equals a run on 1 within float32
rounding (the gradient's sum is taken in another order; tests state the measured tolerance),
and 2 processes of 2 devices equal 1 of 4 the same way; a resumed run ends on the bytes of an
uninterrupted one whatever the checkpoint interval. ``precision`` changes results, so it does.

**Several processes** (``latentlab.distributed``): each process joins JAX's distributed
runtime, ``devices`` counts its own devices, and the mesh spans every process's selected
devices, process by process. Each process loads only its rows of each step's batch (the rows
its devices hold: :meth:`Execution.share`), and :func:`global_batch` assembles the global
array from them.

:func:`machine` and :func:`environment` describe what this process runs on (``latentlab
doctor``, a run's provenance).
"""

import dataclasses
import os
import platform
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax.sharding import Mesh, NamedSharding, PartitionSpec

PRECISIONS = ("float32", "bfloat16")
DEFAULT_PRECISION = "float32"
MESH_AXES = ("data",)
DEFAULTS = {"devices": "all", "precision": DEFAULT_PRECISION, "mesh": {"data": -1},
            "processes": 1, "coordinator": None, "checkpoint_every": 100}


def resolve(section: dict | None) -> dict:
    """The section with its defaults filled and its names checked (not the machine: a config
    must resolve the same everywhere; :func:`from_config` checks the devices).

    Raises:
      ValueError: one line naming the key.
    """
    section = dict(section or {})
    unknown = sorted(set(section) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"execution.{unknown[0]}: unknown key; allowed: "
                         f"{', '.join(sorted(DEFAULTS))}")
    resolved = {**DEFAULTS, **section}
    devices = resolved["devices"]
    if devices != "all" and not (isinstance(devices, int) and not isinstance(devices, bool)
                                 and devices >= 1):
        raise ValueError(f"execution.devices: expected 'all' or a device count >= 1, "
                         f"got {devices!r}")
    if resolved["precision"] not in PRECISIONS:
        raise ValueError(f"execution.precision: unknown value {resolved['precision']!r}; "
                         f"allowed: {', '.join(PRECISIONS)}")
    mesh = {**DEFAULTS["mesh"], **(resolved["mesh"] or {})}
    unknown = sorted(set(mesh) - set(MESH_AXES))
    if unknown:
        raise ValueError(f"execution.mesh.{unknown[0]}: unknown mesh axis; allowed: "
                         f"{', '.join(MESH_AXES)} (the state is replicated, the batch split)")
    for axis, size in mesh.items():
        if not isinstance(size, int) or isinstance(size, bool) or (size < 1 and size != -1):
            raise ValueError(f"execution.mesh.{axis}: expected a size >= 1, or -1 for every "
                             f"selected device; got {size!r}")
    resolved["mesh"] = mesh
    processes = resolved["processes"]
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise ValueError(f"execution.processes: expected a process count >= 1, got "
                         f"{processes!r}")
    coordinator = resolved["coordinator"]
    if coordinator is not None and not (isinstance(coordinator, str)
                                        and coordinator.rpartition(":")[2].isdigit()):
        raise ValueError(f"execution.coordinator: expected 'host:port', got {coordinator!r}")
    every = resolved["checkpoint_every"]
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"execution.checkpoint_every: expected a step count >= 1, got {every!r}")
    return resolved


@dataclasses.dataclass(frozen=True)
class Execution:
    """A run's mesh and compute precision. Build it with :func:`from_config`."""

    mesh: Mesh
    precision: str

    @property
    def devices(self) -> tuple:
        return tuple(self.mesh.devices.flat)

    @property
    def size(self) -> int:
        """How many devices the batch is split over."""
        return self.mesh.devices.size

    @property
    def replicated(self) -> NamedSharding:
        """A copy on every device of the mesh (the training state, the data set, weights)."""
        return NamedSharding(self.mesh, PartitionSpec())

    @property
    def batch(self) -> NamedSharding:
        """Split along the leading (batch) dimension over the ``data`` axis."""
        return NamedSharding(self.mesh, PartitionSpec("data"))

    @property
    def compute_dtype(self):
        return jnp.bfloat16 if self.precision == "bfloat16" else jnp.float32

    @property
    def multi_process(self) -> bool:
        """Whether the mesh spans devices of other processes."""
        return jax.process_count() > 1

    def share(self, batch_size: int) -> tuple[int, int]:
        """(first, stop): the rows of a global batch that this process's devices hold, so the
        rows it loads. The whole batch in a single process."""
        if not self.multi_process:
            return 0, batch_size
        mine = [i for i, d in enumerate(self.devices) if d.process_index == jax.process_index()]
        per_device = batch_size // self.size
        return mine[0] * per_device, (mine[-1] + 1) * per_device

    def check_batch(self, batch_size: int, key: str) -> None:
        """Raises ValueError (one line) unless ``batch_size`` splits evenly over the mesh."""
        if batch_size % self.size:
            where = (f"{self.size} devices of {jax.process_count()} processes"
                     if self.multi_process else f"{self.size} devices of execution.mesh.data")
            raise ValueError(f"{key}: {batch_size} does not split over the {where}; use a "
                             f"multiple of {self.size} or set execution.devices")

    def batch_sharding_for(self, batch_size: int):
        """The batch sharding where ``batch_size`` splits evenly, else replicated (sampling
        takes any number of samples; an uneven batch runs whole on every device)."""
        return self.batch if batch_size % self.size == 0 else self.replicated

    def describe(self) -> dict:
        """What a run records: backend, the mesh's devices and shape, precision."""
        described = {"backend": self.devices[0].platform,
                     "devices": [str(d) for d in self.devices],
                     "mesh": dict(zip(self.mesh.axis_names, self.mesh.devices.shape)),
                     "precision": self.precision}
        if self.multi_process:
            described["processes"] = jax.process_count()
        return described


def from_config(section: dict | None) -> Execution:
    """The :class:`Execution` of a resolved (or absent) ``execution`` section on this
    machine's local devices.

    Raises:
      ValueError: one line, if the section asks for more devices than there are, or a mesh
        whose shape does not hold them.
    """
    cfg = resolve(section)
    local = jax.local_devices()
    wanted = len(local) if cfg["devices"] == "all" else cfg["devices"]
    if wanted > len(local):
        raise ValueError(f"execution.devices: {wanted} requested, but this "
                         f"{'process' if jax.process_count() > 1 else 'machine'} has "
                         f"{len(local)} {local[0].platform} device(s); use 'all' or at most "
                         f"{len(local)}")
    # Every process's first `wanted` devices, process by process: the same list everywhere.
    chosen = [d for p in range(jax.process_count())
              for d in sorted((d for d in jax.devices() if d.process_index == p),
                              key=lambda d: d.id)[:wanted]]
    data = cfg["mesh"]["data"]
    data = len(chosen) if data == -1 else data
    if data != len(chosen):
        raise ValueError(f"execution.mesh.data: {data} does not hold the {len(chosen)} selected "
                         f"devices; use -1 or {len(chosen)}")
    return Execution(Mesh(np.array(chosen), MESH_AXES), cfg["precision"])


def single_device() -> Execution:
    """One device, float32: what code without a run's config (sessions, evaluation) uses."""
    return from_config({"devices": 1})


def machine() -> dict:
    """What ``latentlab doctor`` reports: the backend, each local device with its memory
    (the accelerator's own statistics; for CPU devices, which report none, the host's), and
    the XLA flags (``--xla_force_host_platform_device_count`` simulates CPU devices)."""
    import os
    devices = []
    for d in jax.local_devices():
        stats = d.memory_stats() or {}
        devices.append({"id": d.id, "kind": d.device_kind, "platform": d.platform,
                        "memory_bytes": stats.get("bytes_limit"),
                        "memory_in_use_bytes": stats.get("bytes_in_use")})
    host = None
    try:
        host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    return {"backend": jax.default_backend(), "devices": devices, "host_memory_bytes": host,
            "cpu_count": os.cpu_count(), "jax": jax.__version__,
            "xla_flags": os.environ.get("XLA_FLAGS", "")}


def global_batch(ex: Execution, rows, batch_size: int):
    """The global batch [batch_size, ...] whose rows ``ex.share(batch_size)`` this process
    loaded (``rows``, NumPy), split over the mesh. In a single process: ``rows`` as they are
    (the jitted step places them)."""
    if not ex.multi_process:
        return rows
    return jax.make_array_from_process_local_data(ex.batch, rows,
                                                  (batch_size,) + tuple(rows.shape[1:]))


def put(ex: Execution, tree, sharding=None):
    """``tree`` (the same values in every process) placed with ``sharding`` (default: a copy
    on every device of the mesh). ``jax.device_put`` in a single process; over several, each
    process places the parts its own devices hold."""
    sharding = sharding or ex.replicated
    if not ex.multi_process:
        return jax.device_put(tree, sharding)

    def place(x):
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
    return jax.tree.map(place, tree)


def local_copy(tree):
    """A tree of replicated arrays as arrays on this process's first device of each (what
    computations local to one process take: encoding, scoring)."""
    return jax.tree.map(lambda x: x.addressable_shards[0].data
                        if isinstance(x, jax.Array) and not x.is_fully_addressable else x, tree)


# How long the other processes wait at a barrier for process 0's one-process work (encoding a
# data set into the latent cache takes minutes at a large size; a dead process 0 ends the run
# sooner, through the runtime's heartbeat).
BARRIER_TIMEOUT_S = 3600


def first_process_decides(flag: bool) -> bool:
    """Process 0's ``flag``, the same in every process (a file one process sees and another
    does not yet must not split the run's path); ``flag`` itself in a single process."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils
    return bool(multihost_utils.broadcast_one_to_all(np.int32(bool(flag))))


def barrier(name: str) -> None:
    """Every process waits here until all have arrived (the distributed runtime's barrier, not
    a device collective, so a long wait is not a collective's timeout); nothing in a single
    process. ``name`` must be unique in the run."""
    if jax.process_count() == 1:
        return
    from orbax.checkpoint import multihost
    multihost.get_barrier_sync_fn()(key=name, timeout_ms=BARRIER_TIMEOUT_S * 1000)


def gather(x: jax.Array) -> jax.Array:
    """``x`` as one single-device array (what crosses to Java as one buffer): itself if it is
    on one device, its first copy if replicated (no copy made), else its shards gathered onto
    the first device of its mesh (one copy, device to device); over several processes, every
    process's shards gathered onto this process's first device."""
    if not x.is_fully_addressable:
        from jax.experimental import multihost_utils
        if x.sharding.is_fully_replicated:
            return x.addressable_shards[0].data
        return jax.device_put(multihost_utils.process_allgather(x, tiled=True),
                              jax.local_devices()[0])
    if len(x.sharding.device_set) == 1:
        return x
    if x.sharding.is_fully_replicated:
        return x.addressable_shards[0].data
    first = min(x.sharding.device_set, key=lambda d: d.id)
    return jax.device_put(x, jax.sharding.SingleDeviceSharding(first))


# Layers whose inputs are cast to the compute dtype under bfloat16: the matmuls and
# convolutions, where the time goes. Elsewhere (time embeddings' frequencies, the losses, the
# optimiser, the EMA) the arithmetic stays float32.
_CAST_LAYERS = (nn.Dense, nn.Conv, nn.ConvTranspose, nn.DenseGeneral)


def compute_apply(apply_fn, dtype):
    """``apply_fn`` (a Flax module's ``apply``) computing in ``dtype``: floating parameters
    are cast (the float32 masters stay as they are; their gradients come back float32), the
    inputs of dense and convolution layers are cast, and floating outputs come back float32.
    For float32 it is ``apply_fn`` itself, so float32 runs trace exactly as before."""
    if dtype == jnp.float32:
        return apply_fn

    def cast(tree):
        return jax.tree.map(lambda x: x.astype(dtype) if _floating(x) else x, tree)

    def interceptor(next_fun, args, kwargs, context):
        if isinstance(context.module, _CAST_LAYERS) and context.method_name == "__call__":
            args = cast(args)
        return next_fun(*args, **kwargs)

    def apply(variables, *args, **kwargs):
        with nn.intercept_methods(interceptor):
            out = apply_fn(cast(variables), *args, **kwargs)
        return jax.tree.map(lambda x: x.astype(jnp.float32) if _floating(x) else x, out)

    return apply


def _floating(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)


def environment() -> dict:
    """Versions of this Python and its libraries, the backend, its devices and the XLA flags:
    what a run's provenance records. ``jep`` is found only inside Java's interpreter."""
    import flax
    import jaxlib
    import optax
    import pyarrow
    from importlib.metadata import version
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "orbax_checkpoint": version("orbax-checkpoint"),
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "jep": version("jep"),  # importable only inside Java
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
