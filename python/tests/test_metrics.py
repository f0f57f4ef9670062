"""FID against closed forms; the digit classifier; an evaluation of a (random) model."""

from pathlib import Path

import jax
import numpy as np
import pytest
import scipy.linalg

from latentlab.data import mnist
from latentlab.metrics import classifier as classifier_lib
from latentlab.metrics.fid import FeatureStats, feature_stats, frechet_distance


def _stats(mean, cov):
    return FeatureStats(np.asarray(mean, np.float64), np.asarray(cov, np.float64), 1000)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    a = _stats([0.0, 1.0, 2.0], np.diag([1.0, 4.0, 9.0]))
    b = _stats([1.0, 1.0, 0.0], np.diag([4.0, 1.0, 9.0]))
    expected = (1 + 0 + 4) + ((1 - 2) ** 2 + (2 - 1) ** 2 + 0)  # ‖Δμ‖² + Σ(√a - √b)²
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-12)


def test_frechet_distance_of_scaled_covariances_is_one_minus_c_squared_times_the_trace():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5, 5))
    cov = m @ m.T + 0.1 * np.eye(5)
    c = 1.7
    assert frechet_distance(_stats(np.zeros(5), cov), _stats(np.zeros(5), c ** 2 * cov)) == \
        pytest.approx((1 - c) ** 2 * np.trace(cov), rel=1e-9)


def test_frechet_distance_agrees_with_the_general_matrix_square_root():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    a, b = _stats(rng.normal(size=6), x @ x.T), _stats(rng.normal(size=6), y @ y.T)
    root = scipy.linalg.sqrtm(a.cov @ b.cov).real
    expected = np.sum((a.mean - b.mean) ** 2) + np.trace(a.cov + b.cov - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_feature_stats_estimate_mean_and_covariance():
    rng = np.random.default_rng(2)
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    x = rng.multivariate_normal([1.0, -1.0], cov, size=200_000)
    stats = feature_stats(x)
    np.testing.assert_allclose(stats.mean, [1.0, -1.0], atol=0.02)
    np.testing.assert_allclose(stats.cov, cov, atol=0.03)
    with pytest.raises(ValueError, match="need features"):
        feature_stats(np.zeros((1, 3)))


def test_psnr_is_ten_log10_of_peak_squared_over_mse_averaged_per_image():
    import jax.numpy as jnp
    from latentlab.metrics import psnr
    reference = jnp.zeros((2, 4, 4, 1))
    estimate = reference + jnp.array([0.1, 0.01])[:, None, None, None]
    # MSE 1e-2 and 1e-4: 20 and 40 dB, so 30 dB (a PSNR of the pooled MSE would be 22.97 dB).
    assert float(psnr(reference, estimate)) == pytest.approx(30.0, abs=1e-3)
    assert float(psnr(255 * reference, 255 * estimate, max_value=255.0)) == \
        pytest.approx(30.0, abs=1e-3)


@pytest.fixture(scope="module")
def split(digits_file):
    train, held = mnist.split(mnist.load(digits_file), 1000)
    return (mnist.to_model_input(train.images), train.labels,
            mnist.to_model_input(held.images), held.labels)


@pytest.fixture(scope="module")
def cache():
    """The project's cache, where every scorer reads the classifier: a test run trains it once
    (under its lock), whichever of JUnit and pytest needs it first, not once more here."""
    return Path(__file__).resolve().parents[2] / ".cache"


@pytest.fixture(scope="module")
def classifier(split, cache):
    return classifier_lib.load_or_train(cache, *split)


def test_classifier_recognises_held_out_digits(classifier):
    assert classifier.heldout_accuracy >= 0.96


def test_classifier_is_cached_by_content_and_reloads_the_same_weights(classifier, split, cache):
    assert (cache / f"classifier-{classifier.digest[:16]}.msgpack").is_file()
    again = classifier_lib.load_or_train(cache, *split)
    assert again.digest == classifier.digest
    assert again.heldout_accuracy == classifier.heldout_accuracy
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, again.params, classifier.params)))
    # Other training data is another digest, so a cached classifier is never reused for it.
    images, labels = split[0], split[1]
    assert classifier_lib.digest_of(images[:-1], labels[:-1]) != classifier.digest


def test_classifier_training_is_deterministic(split):
    images, labels, held, held_labels = (a[:1024] for a in split)
    # The recipe's 4 epochs (32 steps), not the 280 steps a small data set is given.
    first = classifier_lib.train(images, labels, held[:100], held_labels[:100], epochs=4)
    second = classifier_lib.train(images, labels, held[:100], held_labels[:100], epochs=4)
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, first.params, second.params)))


def test_fid_floor_is_small_and_noise_is_far(classifier, split):
    train_stats = feature_stats(classifier.features(split[0]))
    floor = frechet_distance(feature_stats(classifier.features(split[2])), train_stats)
    noise = np.random.default_rng(3).uniform(size=split[2].shape).astype(np.float32)
    far = frechet_distance(feature_stats(classifier.features(noise)), train_stats)
    assert 0 < floor < 10 and far > 50 * floor, (floor, far)


def test_nfe_table_markdown_places_each_cell_and_heuns_real_nfe():
    from latentlab.apps import evaluate
    rows = []
    for name in ("ddim", "heun"):
        for nfe in (5, 10):
            steps = evaluate.steps_for_nfe(name, nfe)
            rows.append({"sampler": name, "steps": steps, "nfe": 2 * steps - 1 if name == "heun"
                         else steps, "fid": 10.0 + nfe + (name == "heun"),
                         "conditional_accuracy": 0.5})
    reference = {"sampler": "ddim", "steps": 100, "nfe": 100, "fid": 8.0,
                 "conditional_accuracy": 0.99, "num_samples": 50, "guidance_scale": 3.0,
                 "spacing": "karras", "seed": 0, "classifier_heldout_accuracy": 0.97,
                 "fid_floor": 2.0, "fid_vae_reconstruction": 2.5}
    score = {**reference, "sampler": "dpmpp_2m", "steps": 20, "fid": 4.0, "fid_over_floor": 2.0}
    text = evaluate.markdown(score, rows + [reference])
    assert "| ddim | 15.000 | 20.000 |" in text
    assert "| heun | 16.000 (5) | 21.000 (9) |" in text  # 3 and 5 steps
    assert "| ddim | 1.88 | 2.50 |" in text            # relative to the reference's 8.0
    assert "FID 4.000 = 2.00× its floor 2.000" in text
    assert [evaluate.steps_for_nfe("heun", n) for n in (5, 10, 20, 50)] == [3, 5, 10, 25]
