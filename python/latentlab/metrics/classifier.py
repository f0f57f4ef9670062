"""The classifier behind FID and conditional accuracy, trained per data set.

A small CNN that LatentLab trains once on the training split of the data a model trained on:
deterministic (fixed keys, fixed schedule, CPU), cached under ``.cache/`` by the SHA-256 of the
training images, labels and this recipe, with its held-out accuracy recorded beside it.
Its 128 penultimate activations are the features that FID compares, in the role Inception-v3's
pool features play for natural images; its predictions give conditional accuracy.

It takes images [N, H, W, C] of any size and channel count and any number of classes: the
network is sized from the input (:func:`architecture`): a conv + 2×2 max-pool stage per halving
until the grid is at most 8×8 (two at least), then flattened. The flattened grid is bounded
(≤ 8×8×64), so large images do not grow the dense layer, and the 32×32 digits get exactly the
network they always had, so their FIDs do not move (global average pooling would have moved
every digit number). Features need labels: data without them (``data.labels: none``) has no
classifier and so no FID here; :func:`check_labelled` says so in one line.
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

# "channels" are the first stages' widths; deeper stages (images larger than 32 px) repeat the
# last. The digits' recipe, digest and network are those of version 1.
RECIPE = {"version": 1, "channels": [32, 64], "features": 128, "epochs": 4, "batch_size": 128,
          "learning_rate": 2e-3, "seed": 20240607}
NUM_CLASSES = 10  # the digits' (the default where labels alone give the count)
MAX_GRID = 8      # pooling stops once the feature grid is at most this many cells a side
# A small data set trains for more epochs, up to this many steps (the digits' 4 epochs of 70
# batches); the digits' recipe and digest are unchanged.
MIN_STEPS = 280


class ImageClassifier(nn.Module):
    """(conv 3×3 → 2×2 max-pool) per stage → dense (the features) → dense (class logits)."""

    channels: tuple[int, ...] = (32, 64)
    features: int = 128
    num_classes: int = NUM_CLASSES

    @nn.compact
    def __call__(self, images, return_features: bool = False):
        # images: [B, H, W, C] float32 in [0, 1] (the models' input)
        h = images
        for channels in self.channels:
            h = nn.relu(nn.Conv(channels, (3, 3))(h))
            h = nn.max_pool(h, (2, 2), (2, 2))
        features = nn.relu(nn.Dense(self.features)(h.reshape(h.shape[0], -1)))
        if return_features:
            return features
        return nn.Dense(self.num_classes)(features)


def architecture(image_shape, num_classes: int) -> ImageClassifier:
    """The classifier for images of ``image_shape`` (H, W, C) and ``num_classes`` classes."""
    height, width = int(image_shape[0]), int(image_shape[1])
    stages = len(RECIPE["channels"])
    while max(height, width) >> stages > MAX_GRID and min(height, width) >> (stages + 1) >= 1:
        stages += 1
    widths = list(RECIPE["channels"]) + [RECIPE["channels"][-1]] * (stages - len(RECIPE["channels"]))
    return ImageClassifier(tuple(widths), RECIPE["features"], int(num_classes))


def check_labelled(labels, num_classes: int, what: str = "data") -> None:
    """Raises ValueError (one line) unless the training labels span at least two classes.

    FID and conditional accuracy here rest on a classifier trained on the data's own labels
    (there is no pretrained feature extractor for arbitrary images in the project), so
    unlabelled data has no FID."""
    labels = np.asarray(labels)
    if num_classes < 2 or len(labels) == 0 or labels.min() < 0:
        raise ValueError(f"{what}: FID and conditional accuracy need labelled data with at least "
                         f"two classes (the scoring classifier trains on the labels); give the "
                         f"data classes (data.labels: folders) or score it another way")


class Classifier(NamedTuple):
    module: ImageClassifier
    params: Any
    heldout_accuracy: float
    digest: str  # SHA-256 of training data and recipe: the cache key

    def features(self, images, batch_size: int = 500) -> np.ndarray:
        """Penultimate activations of images [N, H, W, C] in [0, 1]: [N, 128] float32."""
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


def _applier(module: ImageClassifier, features: bool):
    key = (module, features)
    if key not in _APPLIERS:
        _APPLIERS[key] = jax.jit(lambda p, x: module.apply({"params": p}, x,
                                                           return_features=features))
    return _APPLIERS[key]


def _num_classes(labels, num_classes: int | None) -> int:
    return int(np.max(labels, initial=0)) + 1 if num_classes is None else int(num_classes)


def epochs_for(examples: int) -> int:
    """The recipe's epochs, or more where they would train fewer than :data:`MIN_STEPS` steps."""
    steps_per_epoch = max(1, examples // min(RECIPE["batch_size"], examples))
    return max(RECIPE["epochs"], -(-MIN_STEPS // steps_per_epoch))


def digest_of(images: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> str:
    """The cache key: SHA-256 over the recipe, the images' and the labels' bytes and shapes
    (the shape fixes the network), and where they say more than those, the class count (a last
    class without training examples) and the epochs (a small data set), so the digits' key is
    what it always was."""
    h = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode())
    for array in (np.ascontiguousarray(images, np.float32), np.ascontiguousarray(labels, np.int32)):
        h.update(str(array.shape).encode())
        h.update(array.tobytes())
    if _num_classes(labels, num_classes) != _num_classes(labels, None):
        h.update(f"num_classes={num_classes}".encode())
    if epochs_for(len(labels)) != RECIPE["epochs"]:
        h.update(f"epochs={epochs_for(len(labels))}".encode())
    return h.hexdigest()


def train(images, labels, heldout_images, heldout_labels, progress=None,
          num_classes: int | None = None, epochs: int | None = None) -> Classifier:
    """Trains the classifier; images [N, H, W, C] float32 in [0, 1], labels [N] int in
    [0, num_classes) (None: the largest label + 1), for ``epochs`` (None: :func:`epochs_for`
    the data's size, what the cached classifiers use)."""
    num_classes = _num_classes(labels, num_classes)
    module = architecture(np.shape(images)[1:], num_classes)
    key = jax.random.PRNGKey(RECIPE["seed"])
    init_key, data_key = jax.random.split(key)
    data, targets = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
    params = module.init(init_key, data[:1])["params"]
    batch = min(RECIPE["batch_size"], len(images))  # a small data set trains in whole batches
    steps_per_epoch = len(images) // batch
    total = steps_per_epoch * (epochs_for(len(images)) if epochs is None else epochs)
    tx = optax.adamw(optax.cosine_decay_schedule(RECIPE["learning_rate"], total))
    opt_state = tx.init(params)

    # The images are arguments, not constants folded into the program (37 MB of them).
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
    partial = Classifier(module, params, float("nan"), digest_of(images, labels, num_classes))
    accuracy = float(np.mean(partial.predict(heldout_images) == np.asarray(heldout_labels)))
    return partial._replace(heldout_accuracy=accuracy)


def load_or_train(cache_dir: str | os.PathLike, images, labels, heldout_images, heldout_labels,
                  progress=None, num_classes: int | None = None) -> Classifier:
    """The cached classifier for this training data (images [N, H, W, C] in [0, 1], labels in
    [0, num_classes)), trained (and cached) if there is none.

    Raises:
      ValueError: one line, for unlabelled data or fewer than two classes.
    """
    num_classes = _num_classes(labels, num_classes)
    check_labelled(labels, num_classes)
    digest = digest_of(images, labels, num_classes)
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # Two processes that both need it (a test run's JUnit and pytest, two sweeps) train it once:
    # the second waits for the first's files.
    with filelock.FileLock(folder / f"classifier-{digest[:16]}.lock"):
        return _load_or_train(folder, digest, images, labels, heldout_images, heldout_labels,
                              progress, num_classes)


def _load_or_train(folder: Path, digest: str, images, labels, heldout_images, heldout_labels,
                   progress, num_classes: int) -> Classifier:
    weights, meta = folder / f"classifier-{digest[:16]}.msgpack", folder / f"classifier-{digest[:16]}.json"
    module = architecture(np.shape(images)[1:], num_classes)
    if weights.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        if info.get("digest") == digest:
            template = jax.eval_shape(
                lambda: module.init(jax.random.PRNGKey(0),
                                    jnp.zeros((1,) + tuple(np.shape(images)[1:])))["params"])
            params = serialization.from_bytes(template, weights.read_bytes())
            return Classifier(module, params, float(info["heldout_accuracy"]), digest)
    print(f"latentlab: training the classifier that scores samples; this happens once "
          f"for this data, then it is read from {folder}", flush=True)
    classifier = train(images, labels, heldout_images, heldout_labels, progress, num_classes)
    write_atomically(weights, serialization.to_bytes(classifier.params))
    write_atomically(meta, json.dumps({"digest": digest, "recipe": RECIPE,
                                        "heldout_accuracy": classifier.heldout_accuracy,
                                        "train_examples": int(len(labels))}, indent=2).encode())
    return classifier

