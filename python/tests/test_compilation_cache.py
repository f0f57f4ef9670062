"""The on-disk compilation cache: a second process reads what the first compiled, the results are
the same bytes, and ``LATENTLAB_COMPILATION_CACHE`` moves it or turns it off. Each case runs in
fresh processes, since JAX fixes its cache at a process's first compilation."""

import json
import os
import subprocess
import sys

import pytest

# Compiles one program (a small conv net step, the kind of thing training compiles) and prints
# the cache folder, how many persistent-cache hits JAX counted, and the result's bytes.
_PROGRAM = r"""
import json, sys
import jax, jax.numpy as jnp
from jax import monitoring
from latentlab import compilation_cache

hits = []
monitoring.register_event_listener(
    lambda event, **kw: hits.append(event) if event == "/jax/compilation_cache/cache_hits" else None)
folder = compilation_cache.enable(sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # cache even this small one

@jax.jit
def step(w, x):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.tanh(y).sum(), jax.grad(lambda w: jnp.sum(jnp.tanh(jax.lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))) ** 2))(w)

w = jax.random.normal(jax.random.key(0), (3, 3, 4, 8))
x = jax.random.normal(jax.random.key(1), (2, 8, 8, 4))
value, grad = step(w, x)
print(json.dumps({"folder": None if folder is None else str(folder),
                  "hits": len(hits),
                  "bytes": bytes(jax.device_get(grad)).hex()[:4096] + str(float(value))}))
"""


def _run(home, tmp_path, setting=None):
    env = {k: v for k, v in os.environ.items() if k != "LATENTLAB_COMPILATION_CACHE"}
    if setting is not None:
        env["LATENTLAB_COMPILATION_CACHE"] = setting
    done = subprocess.run([sys.executable, "-c", _PROGRAM, str(home)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.cpu_only
def test_a_second_process_reads_the_first_ones_programs_and_gets_the_same_bytes(tmp_path):
    home = tmp_path / "project"
    first = _run(home, tmp_path)
    assert first["folder"] == str((home / ".cache" / "jax").resolve())
    assert first["hits"] == 0
    entries = [p for p in (home / ".cache" / "jax").iterdir() if p.name.endswith("-cache")]
    assert entries, "the compiled program was written to the project's cache"
    second = _run(home, tmp_path)
    assert second["hits"] >= 1, "the second process compiled again instead of reading the cache"
    assert second["bytes"] == first["bytes"]
    uncached = _run(home, tmp_path, "off")
    assert uncached["folder"] is None and uncached["hits"] == 0
    assert uncached["bytes"] == first["bytes"], "the cache changes no result"


def test_the_environment_variable_moves_the_cache(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    moved = _run(tmp_path / "project", tmp_path, str(elsewhere))
    assert moved["folder"] == str(elsewhere.resolve())
    assert any(p.name.endswith("-cache") for p in elsewhere.iterdir())
    assert not (tmp_path / "project" / ".cache").exists()


# Two processes of one distributed CPU run, each compiling a program after joining the runtime;
# each prints its persistent-cache hits. argv: home, port, process id.
_PROCESS = r"""
import json, sys
import jax, jax.numpy as jnp
from jax import monitoring
from latentlab import compilation_cache, distributed

hits = []
monitoring.register_event_listener(
    lambda event, **kw: hits.append(event) if event == "/jax/compilation_cache/cache_hits" else None)
home, port, process = sys.argv[1], sys.argv[2], int(sys.argv[3])
distributed.initialize({"coordinator": f"127.0.0.1:{port}", "num_processes": 2,
                        "process_id": process, "timeout_s": 60})
compilation_cache.enable(home)
compilation_cache.share_between_processes()
value = jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.arange(64.0).reshape(8, 8) / 64)
print(json.dumps({"process": jax.process_index(), "hits": len(hits), "value": float(value)}))
"""


def _run_two_processes(home, tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "LATENTLAB_COMPILATION_CACHE"}
    procs = [subprocess.Popen([sys.executable, "-c", _PROCESS, str(home), str(port), str(i)],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


@pytest.mark.cpu_only
def test_every_process_of_a_cpu_run_reads_its_programs_from_the_cache(tmp_path):
    home = tmp_path / "project"
    first = _run_two_processes(home, tmp_path)
    assert [o["hits"] for o in first] == [0, 0]
    second = _run_two_processes(home, tmp_path)
    assert second[0]["hits"] >= 1
    assert second[1]["hits"] >= 1, "process 1 compiled again: its programs were never cached"
    assert [o["value"] for o in second] == [o["value"] for o in first]
