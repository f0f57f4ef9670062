"""XLA's compiled programs kept on disk, so a process that meets an architecture again skips
compilation.

On two CPU cores a tiny run spends most of its time compiling (train steps, sampler, decoder):
about 90 s from cold, about 20 s once the programs are cached. Every process that starts the
bridge — the CLI, JShell, a sweep's workers, a Slurm task — shares one cache under the project,
``.cache/jax``, unless ``LATENTLAB_COMPILATION_CACHE`` names another folder or says ``off``.

The cache changes no result: a cached program is the one XLA compiled (runs give the same
bytes with and without it), and its key holds the program, the JAX version, the backend and the
compile options. Its size is bounded (least recently used entries go first), and reads and writes
take a file lock, so concurrent processes never see half an entry.
"""

import os
from pathlib import Path

import jax

ENVIRONMENT_VARIABLE = "LATENTLAB_COMPILATION_CACHE"
DEFAULT_FOLDER = Path(".cache") / "jax"
MAX_BYTES = 2 * 1024 ** 3
# Cache every program: the many small ones (a tiny run has about 400) add up to a third of its
# warm time when left out, and reading one is cheaper than compiling it.
MIN_COMPILE_SECONDS = 0.0


def folder_for(home: Path) -> Path | None:
    """The cache folder for a project: ``LATENTLAB_COMPILATION_CACHE`` if set (``off`` turns the
    cache off), else ``home/.cache/jax``."""
    chosen = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen).expanduser().resolve()
    return (Path(home) / DEFAULT_FOLDER).resolve()


def enable(home: Path) -> Path | None:
    """Turns the on-disk cache on for this process (see :func:`folder_for`); returns its folder,
    or None when it is off. Call it before the first compilation: JAX fixes the cache then."""
    folder = folder_for(home)
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def share_between_processes() -> None:
    """Lets every process of a multi-process CPU run write its programs to the cache, not only
    process 0. Call it after ``jax.distributed.initialize`` and :func:`enable`.

    JAX writes cache entries from process 0 alone, assuming every process looks up the same
    key. On CPU that is not so: a key holds the topology's fingerprint, and each process's CPU
    topology fingerprints differently, so process 1 never found an entry and compiled every
    program in every run (measured: 2 of 2 train steps compiled again, 6.7 s and 9.5 s, in a
    run whose process 0 read both). Each process's keys are its own, so its writes race no
    one's. Elsewhere (GPU, TPU) the keys agree and nothing changes.
    """
    if jax.process_count() == 1 or jax.default_backend() != "cpu" or folder() is None:
        return
    from jax._src import compiler, distributed  # the one place written for process 0 alone

    write = compiler._cache_write
    if getattr(write, "latentlab_every_process", False):
        return

    def write_from_any_process(*args, **kwargs):
        process = distributed.global_state.process_id
        distributed.global_state.process_id = 0
        try:
            return write(*args, **kwargs)
        finally:
            distributed.global_state.process_id = process

    write_from_any_process.latentlab_every_process = True
    compiler._cache_write = write_from_any_process


def folder() -> str | None:
    """This process's cache folder, or None when it is off (for provenance)."""
    return jax.config.jax_compilation_cache_dir
