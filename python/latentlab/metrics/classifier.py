"""The digit classifier behind FID and conditional accuracy.

A small CNN that LatentLab trains once on the training split of the data a model trained on:
deterministic (fixed keys, fixed schedule, CPU), cached under ``.cache/`` by the SHA-256 of the
training images, labels and this recipe, with its held-out accuracy recorded beside it.
Its 128 penultimate activations are the features that FID compares, in the role Inception-v3's
pool features play for natural images; its predictions give conditional accuracy.
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import filelock
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from latentlab.files import write_atomically

RECIPE = {"version": 1, "channels": [32, 64], "features": 128, "epochs": 4, "batch_size": 128,
          "learning_rate": 2e-3, "seed": 20240607}
NUM_CLASSES = 10


class DigitClassifier(nn.Module):
    """conv 3×3 → pool → conv 3×3 → pool → dense (the features) → dense (10 logits)."""

    channels: tuple[int, ...] = (32, 64)
    features: int = 128

    @nn.compact
    def __call__(self, images, return_features: bool = False):
        # images: [B, 32, 32, 1] float32 in [0, 1] (the models' padded digits)
        h = images
        for channels in self.channels:
            h = nn.relu(nn.Conv(channels, (3, 3))(h))
            h = nn.max_pool(h, (2, 2), (2, 2))
        features = nn.relu(nn.Dense(self.features)(h.reshape(h.shape[0], -1)))
        if return_features:
            return features
        return nn.Dense(NUM_CLASSES)(features)


class Classifier(NamedTuple):
    module: DigitClassifier
    params: Any
    heldout_accuracy: float
    digest: str  # SHA-256 of training data and recipe: the cache key

    def features(self, images, batch_size: int = 500) -> np.ndarray:
        """Penultimate activations of images [N, 32, 32, 1] in [0, 1]: [N, 128] float32."""
        return _batched(self, images, batch_size, True)

    def predict(self, images, batch_size: int = 500) -> np.ndarray:
        """Predicted classes [N] int."""
        return _batched(self, images, batch_size, False).argmax(axis=1)


def _batched(classifier: Classifier, images, batch_size: int, features: bool) -> np.ndarray:
    apply = _applier(classifier.module, features)
    out = [np.asarray(apply(classifier.params, jnp.asarray(images[i:i + batch_size])))
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


_APPLIERS: dict = {}


def _applier(module: DigitClassifier, features: bool):
    key = (module, features)
    if key not in _APPLIERS:
        _APPLIERS[key] = jax.jit(lambda p, x: module.apply({"params": p}, x,
                                                           return_features=features))
    return _APPLIERS[key]


def digest_of(images: np.ndarray, labels: np.ndarray) -> str:
    """The cache key: SHA-256 over the recipe, the images' and the labels' bytes and shapes."""
    h = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode())
    for array in (np.ascontiguousarray(images, np.float32), np.ascontiguousarray(labels, np.int32)):
        h.update(str(array.shape).encode())
        h.update(array.tobytes())
    return h.hexdigest()


def train(images, labels, heldout_images, heldout_labels, progress=None) -> Classifier:
    """Trains the classifier; images [N, 32, 32, 1] float32 in [0, 1], labels [N] int."""
    module = DigitClassifier(tuple(RECIPE["channels"]), RECIPE["features"])
    key = jax.random.PRNGKey(RECIPE["seed"])
    init_key, data_key = jax.random.split(key)
    data, targets = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
    params = module.init(init_key, data[:1])["params"]
    batch = RECIPE["batch_size"]
    steps_per_epoch = len(images) // batch
    total = steps_per_epoch * RECIPE["epochs"]
    tx = optax.adamw(optax.cosine_decay_schedule(RECIPE["learning_rate"], total))
    opt_state = tx.init(params)

    # The digits are arguments, not constants folded into the program (37 MB of them).
    @jax.jit
    def step(params, opt_state, n, data, targets):
        order = jax.random.permutation(jax.random.fold_in(data_key, n // steps_per_epoch),
                                       data.shape[0])
        idx = jax.lax.dynamic_slice_in_dim(order, (n % steps_per_epoch) * batch, batch)

        def loss_fn(p):
            logits = module.apply({"params": p}, data[idx])
            return optax.softmax_cross_entropy_with_integer_labels(logits, targets[idx]).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    if progress is not None:
        progress("classifier", 0, total, float("nan"))  # the first step compiles
    for n in range(total):
        params, opt_state, loss = step(params, opt_state, jnp.int32(n), data, targets)
        if progress is not None and ((n + 1) % 25 == 0 or n + 1 == total):
            progress("classifier", n + 1, total, float(loss))
    partial = Classifier(module, params, float("nan"), digest_of(images, labels))
    accuracy = float(np.mean(partial.predict(heldout_images) == np.asarray(heldout_labels)))
    return partial._replace(heldout_accuracy=accuracy)


def load_or_train(cache_dir: str | os.PathLike, images, labels, heldout_images, heldout_labels,
                  progress=None) -> Classifier:
    """The cached classifier for this training data, trained (and cached) if there is none."""
    digest = digest_of(images, labels)
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # Two processes that both need it (a test run's JUnit and pytest, two sweeps) train it once:
    # the second waits for the first's files.
    with filelock.FileLock(folder / f"classifier-{digest[:16]}.lock"):
        return _load_or_train(folder, digest, images, labels, heldout_images, heldout_labels,
                              progress)


def _load_or_train(folder: Path, digest: str, images, labels, heldout_images, heldout_labels,
                   progress) -> Classifier:
    weights, meta = folder / f"classifier-{digest[:16]}.msgpack", folder / f"classifier-{digest[:16]}.json"
    module = DigitClassifier(tuple(RECIPE["channels"]), RECIPE["features"])
    if weights.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        if info.get("digest") == digest:
            template = jax.eval_shape(
                lambda: module.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1)))["params"])
            params = serialization.from_bytes(template, weights.read_bytes())
            return Classifier(module, params, float(info["heldout_accuracy"]), digest)
    print(f"latentlab: training the digit classifier that scores samples; this happens once "
          f"for this data, then it is read from {folder}", flush=True)
    classifier = train(images, labels, heldout_images, heldout_labels, progress)
    write_atomically(weights, serialization.to_bytes(classifier.params))
    write_atomically(meta, json.dumps({"digest": digest, "recipe": RECIPE,
                                        "heldout_accuracy": classifier.heldout_accuracy,
                                        "train_examples": int(len(labels))}, indent=2).encode())
    return classifier

