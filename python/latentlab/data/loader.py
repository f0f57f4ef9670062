"""The deterministic loader: each training step's batch is a pure function of (data key, step).

Step ``s`` takes the examples :func:`step_indices` names (the same indices the jitted
``loops.batch_indices`` gives: a slice of the permutation keyed by ``fold_in(data_key,
epoch)``), so a resumed run needs only its step to be back where it was, and any process can
compute any step's batch (what sharding by process will use). A :class:`Loader` computes each
epoch's permutation once and keeps the last two (a permutation sorts every example: recomputed
for every step it cost 55 ms a step at 100,000 examples). With ``flip``, each example of a
step is mirrored left-right when a coin drawn from ``fold_in(flip_key, step)`` says so: the same
flips for the same seed and step, whatever ran before.

Batches are gathered on host threads ahead of the device by Grain (``grain.MapDataset`` over
the steps, ``grain.ReadOptions`` threads and prefetch buffer): threads, not Grain's worker
processes, because decoding is Pillow and NumPy work that releases the GIL and worker processes
would pickle the source (cloudpickle) into each one.
"""

import threading
from functools import partial
from typing import Callable, Iterator, Sequence

import grain
import jax
import jax.numpy as jnp
import numpy as np

from latentlab.data import source as source_lib

# Host threads that gather batches, and batches kept ready ahead of the device.
THREADS = 2
PREFETCH = 4
ORDERS_KEPT = 2  # epochs whose permutation a Loader keeps


@partial(jax.jit, static_argnums=(2,))
def _order(data_key, epoch, num_examples: int):
    return jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples)


@partial(jax.jit, static_argnums=(2,))
def _flips(flip_key, step, batch_size: int):
    return jax.random.bernoulli(jax.random.fold_in(flip_key, step), 0.5, (batch_size,))


def _host(key) -> np.ndarray:
    return np.asarray(jax.device_get(key))


def epoch_order(data_key, epoch: int, num_examples: int) -> np.ndarray:
    """The permutation of the examples that epoch ``epoch`` walks through. [num_examples] int32"""
    with jax.default_device(jax.local_devices(backend="cpu")[0]):
        return np.asarray(_order(_host(data_key), jnp.int32(epoch), num_examples))


def step_indices(data_key, step: int, num_examples: int, batch_size: int,
                 order_of: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
    """The positions (in the training examples) of ``step``'s batch: a slice of its epoch's
    :func:`epoch_order` (``order_of(epoch)``, where the caller keeps them). [batch_size] int32"""
    epoch, offset = divmod(step, num_examples // batch_size)
    order = order_of(epoch) if order_of else epoch_order(data_key, epoch, num_examples)
    return order[offset * batch_size:(offset + 1) * batch_size]


def step_flips(flip_key, step: int, batch_size: int) -> np.ndarray:
    """Which examples of ``step``'s batch are mirrored. [batch_size] bool"""
    with jax.default_device(jax.local_devices(backend="cpu")[0]):
        return np.asarray(_flips(_host(flip_key), jnp.int32(step), batch_size))


class Loader:
    """Batches of ``fetch(positions, step, rows)`` for steps in order, positions from
    :func:`step_indices` over ``num_examples``; gathered on host threads with prefetch."""

    def __init__(self, fetch: Callable[[np.ndarray, int, slice], tuple], num_examples: int,
                 data_key, batch_size: int, threads: int = THREADS, prefetch: int = PREFETCH):
        if batch_size > num_examples:
            raise ValueError(f"batch of {batch_size} from {num_examples} examples")
        self.fetch, self.num_examples, self.batch_size = fetch, num_examples, batch_size
        self.data_key = _host(data_key)
        self.threads, self.prefetch = threads, prefetch
        # Each epoch's permutation, computed once (a sort of every example: 55 ms at 100,000
        # examples, 640 ms at 1,000,000 on this machine's CPU, which every step had paid),
        # the last ORDERS_KEPT epochs kept (the prefetching threads may straddle two).
        self._orders: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def order(self, epoch: int) -> np.ndarray:
        """:func:`epoch_order` of ``epoch``, computed once."""
        with self._lock:
            found = self._orders.get(epoch)
            if found is None:
                found = epoch_order(self.data_key, epoch, self.num_examples)
                self._orders[epoch] = found
                for old in sorted(self._orders)[:-ORDERS_KEPT]:
                    del self._orders[old]
            return found

    def batch(self, step: int, rows: slice = slice(None)) -> tuple:
        """Step ``step``'s batch, or only its ``rows`` (a process of a multi-process run loads
        the rows its devices hold): the same examples, flips and order either way."""
        return self.fetch(step_indices(self.data_key, step, self.num_examples, self.batch_size,
                                       self.order), step, rows)

    def iterate(self, start: int, stop: int, rows: slice = slice(None)) -> Iterator[tuple]:
        """The batches (or their ``rows``) of steps start..stop-1, decoded ahead on host
        threads."""
        if start >= stop:
            return iter(())
        dataset = grain.MapDataset.range(start, stop).map(lambda step: self.batch(step, rows))
        return iter(dataset.to_iter_dataset(grain.ReadOptions(
            num_threads=self.threads, prefetch_buffer_size=self.prefetch)))


def array_fetch(*arrays: np.ndarray) -> Callable[[np.ndarray, int, slice], tuple]:
    """``fetch`` of arrays in memory: each array's rows at the positions (those of ``rows``)."""
    return lambda positions, step, rows=slice(None): tuple(a[positions[rows]] for a in arrays)


def source_fetch(source: source_lib.Source, indices: Sequence[int] | np.ndarray,
                 flip_key=None, with_labels: bool = False) -> Callable[[np.ndarray, int, slice], tuple]:
    """``fetch`` that decodes ``source[indices[p]]`` for each position p, mirrors those
    :func:`step_flips` picks (with ``flip_key``) and returns (float32 images [B, H, W, C] in
    [0, 1],) or (images, int32 labels)."""
    indices = np.asarray(indices)
    flip_key = None if flip_key is None else _host(flip_key)

    def fetch(positions, step, rows=slice(None)):
        examples = [source[int(indices[p])] for p in positions[rows]]
        images = np.stack([e.image for e in examples])
        if flip_key is not None:  # drawn for the whole batch: the same flips whatever the rows
            flips = step_flips(flip_key, step, len(positions))[rows]
            images[flips] = images[flips][:, :, ::-1]
        images = source_lib.to_model_input(images)
        if with_labels:
            return images, np.asarray([e.label for e in examples], np.int32)
        return (images,)

    return fetch


def read_all(source: source_lib.Source, indices, batch_size: int = 500) -> Iterator[np.ndarray]:
    """float32 [b, H, W, C] batches of ``source[indices]`` in order (no flips): what the latent
    cache encodes."""
    indices = np.asarray(indices)
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        yield source_lib.to_model_input(np.stack([source[int(i)].image for i in chunk]))
