"""One training run over several JAX processes: ``python -m latentlab.distributed SPEC``.

Java's launcher (``./latentlab run --processes N``, or a Slurm job's tasks) starts one such
process per rank; none of them is the launcher's own JVM, whose Python never joins the
distributed runtime. ``SPEC`` is a JSON file the launcher wrote::

    {"config": {...resolved...}, "replicate": 0, "home": "/project",
     "checkpoint_dir": ".../checkpoint", "out_dir": ".../.job",
     "coordinator": "127.0.0.1:41234" or null, "num_processes": 2,
     "process_id": 0 or null, "timeout_s": 120}

``process_id`` null: the rank is Slurm's task id (``SLURM_PROCID``; the launcher started the
processes as the tasks of one srun step); ``gpus_per_task`` k: the task takes its node's GPUs
``k·SLURM_LOCALID`` to ``k·SLURM_LOCALID + k - 1``; ``coordinator`` null: JAX finds everything
in Slurm's environment itself.
Every process trains its share (:mod:`latentlab.execution`); process 0 alone reports progress,
one JSON object per line on stdout, and writes the results into ``out_dir``: ``outputs.arrow``
(the latents and images as tensor columns, which Java maps) and ``output.json`` (what the
in-process bridge call returns). A failure prints one line on stderr and exits 1.
"""

import json
import os
import sys
from pathlib import Path

# A peer that dies leaves the others in a collective. On one host the launcher stops them at
# once; across hosts (no launcher watching every process) the runtime's heartbeat notices the
# dead peer and ends them, so a killed task fails the job within this bound.
HEARTBEAT_TIMEOUT_S = 20
OUTPUTS = "outputs.arrow"
OUTPUT_JSON = "output.json"


def initialize(spec: dict) -> None:
    """Joins the distributed runtime the spec names (CPU collectives over gloo, so several
    processes on one host, or hosts without accelerators, reduce across processes)."""
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {"initialization_timeout": int(spec.get("timeout_s") or 120),
              "heartbeat_timeout_seconds": HEARTBEAT_TIMEOUT_S}
    if spec.get("coordinator"):
        # Under srun every task reads the same spec; its rank is Slurm's task id.
        process_id = spec.get("process_id")
        if process_id is None:
            process_id = int(os.environ["SLURM_PROCID"])
        kwargs.update(coordinator_address=spec["coordinator"],
                      num_processes=int(spec["num_processes"]), process_id=int(process_id))
        if spec.get("gpus_per_task"):  # a node's GPUs shared by its tasks, by local task id
            per_task, local = int(spec["gpus_per_task"]), int(os.environ.get("SLURM_LOCALID", 0))
            kwargs["local_device_ids"] = list(range(local * per_task, (local + 1) * per_task))
        if int(process_id) != 0:  # process 0 serves the coordinator; the others connect to it
            await_coordinator(spec["coordinator"], kwargs["initialization_timeout"])
    try:
        jax.distributed.initialize(**kwargs)
    except Exception as e:  # noqa: BLE001 (the runtime raises several kinds; one line for each)
        cause = next((line.strip() for line in str(e).splitlines() if line.strip()),
                     type(e).__name__)
        where = spec.get("coordinator") or "the address Slurm gives"
        raise RuntimeError(f"cannot join the run's coordinator at {where} within "
                           f"{kwargs['initialization_timeout']} s: {cause}") from e
    if jax.process_count() != int(spec["num_processes"]):
        raise RuntimeError(f"execution.processes: {spec['num_processes']} expected, the job "
                           f"has {jax.process_count()}")


def await_coordinator(address: str, timeout_s: float) -> None:
    """Waits until the coordinator at ``host:port`` accepts connections. JAX's client ends the
    process (a C++ abort and a stack trace) when it cannot reach the coordinator; this says it
    in one line instead.

    Raises:
      RuntimeError: naming the address and the last connection error, after ``timeout_s``.
    """
    import socket
    import time
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return
        except OSError as e:
            cause = e.strerror or str(e) or type(e).__name__
        if time.monotonic() >= deadline:
            raise RuntimeError(f"cannot reach the run's coordinator at {address} within "
                               f"{timeout_s:g} s: {cause}")
        time.sleep(0.2)


def write_outputs(out_dir: Path, result) -> None:
    """Process 0's results for the launcher: the tensors as one Arrow IPC file and the JSON
    the bridge would return, each written whole before it is renamed into place."""
    import numpy as np
    import pyarrow as pa

    from latentlab import tensors
    from latentlab.files import write_atomically

    columns, fields = [], []
    for name, value in (("latents", result.latents), ("images", result.images)):
        host = np.ascontiguousarray(np.asarray(value))
        field = tensors.tensor_field(str(host.dtype), tuple(host.shape[1:])).with_name(name)
        values = pa.array(host.reshape(-1))
        columns.append(pa.FixedSizeListArray.from_arrays(values, type=field.type))
        fields.append(field)
    table = pa.Table.from_arrays(columns, schema=pa.schema(fields))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    write_atomically(out_dir / OUTPUTS, sink.getvalue().to_pybytes())
    write_atomically(out_dir / OUTPUT_JSON, json.dumps(
        {"metrics": result.metrics, "labels": result.labels.tolist(),
         "execution": result.execution, **result.stages}, sort_keys=True).encode())


def run(spec: dict) -> None:
    initialize(spec)
    import jax

    from latentlab import compilation_cache
    from latentlab.train import ldm

    compilation_cache.enable(Path(spec["home"]))
    compilation_cache.share_between_processes()
    first = jax.process_index() == 0

    def report(stage, step, total, loss):
        if first:
            print(json.dumps({"stage": stage, "step": int(step), "total": int(total),
                              "loss": None if loss != loss else float(loss)}), flush=True)

    result = ldm.train_and_sample(spec["config"], None, report, spec["checkpoint_dir"],
                                  int(spec["replicate"]), home=spec["home"])
    if first:
        out_dir = Path(spec["out_dir"])
        out_dir.mkdir(parents=True, exist_ok=True)
        write_outputs(out_dir, result)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m latentlab.distributed SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    try:
        run(spec)
    except Exception as e:  # the trace for the log; its last line for the launcher
        import traceback
        traceback.print_exc()
        rank = spec.get("process_id")
        rank = os.environ.get("SLURM_PROCID", "?") if rank is None else rank
        print(f"process {rank}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        # Ended at once, without the interpreter's exit: JAX's exit handler waits at the
        # distributed runtime's shutdown barrier for the other processes, which wait in a
        # collective for this one, so a raised error would hang the run instead of failing it.
        # Dead, the process is seen: by the launcher, by srun (--kill-on-bad-exit), by the
        # runtime's heartbeat.
        os._exit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
