"""The scoring classifier, FID and the applications on colour images of another size and class
count: a tiny RGB data set (16×16×3, 3 classes) held in an ArraySource and a tiny RGB model
with random weights. Every call on images uses batches of BATCH (the held-out split, the
samples, the groups) and STEPS steps, so each program compiles once for the file."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from latentlab import checkpoint
from latentlab.apps import anomaly, denoise, evaluate, inpaint, run_data
from latentlab.data.source import NO_LABEL, ArraySource
from latentlab.diffusion import schedules
from latentlab.metrics import classifier as classifier_lib
from latentlab.metrics.fid import feature_stats, frechet_distance
from latentlab.metrics.image import psnr, ssim
from latentlab.models import UNet, VAE
from latentlab.train import loops
from test_sampling import _jitter

SIDE, CLASSES, EXAMPLES, BATCH, STEPS = 16, ("red", "green", "blue"), 40, 8, 2
HOLDOUT = BATCH


def _images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise tinted by the class's colour, with a bright square of it somewhere: uint8
    [count, 16, 16, 3], labels [count]."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(CLASSES)
    images = rng.integers(0, 60, (count, SIDE, SIDE, 3))
    for i, label in enumerate(labels):
        images[i, ..., label] += 100
        top, left = rng.integers(0, SIDE - 8, 2)
        images[i, top:top + 8, left:left + 8, label] = 255
    return images.astype(np.uint8), labels


@pytest.fixture(scope="module")
def source():
    images, labels = _images(EXAMPLES, 0)
    return ArraySource(images, labels, CLASSES, "tiny-rgb")


@pytest.fixture(scope="module")
def model():
    """A 16×16 RGB VAE (4×4×4 latents) and a one-level class-conditional U-Net, random weights."""
    key = jax.random.PRNGKey(1)
    vae = VAE(image_channels=3, channels=4)
    unet = UNet(channels=8, channel_mult=(1,), attention_resolutions=(), num_heads=1,
                num_classes=len(CLASSES))
    vae_params = _jitter(loops.initialise(vae, key, jnp.zeros((1, SIDE, SIDE, 3)), key), key)
    one = jnp.zeros((1,), jnp.int32)
    unet_params = _jitter(loops.initialise(unet, key, jnp.zeros((1, 4, 4, 4)), one, one), key)
    return checkpoint.LatentDiffusionModel(vae, vae_params, unet, unet_params,
                                           schedules.make_schedule("linear", 1000), 1.0, (4, 4, 4))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def evaluator(model, source, cache):
    return evaluate.Evaluator(model, source, HOLDOUT, cache)


def test_classifier_is_sized_from_the_input_and_the_digits_keep_their_network():
    digits = classifier_lib.architecture((32, 32, 1), 10)
    assert (digits.channels, digits.features, digits.num_classes) == ((32, 64), 128, 10)
    assert classifier_lib.architecture((64, 64, 3), 9).channels == (32, 64, 64)
    assert classifier_lib.architecture((256, 128, 3), 9).channels == (32, 64, 64, 64, 64)
    # the flattened grid stays bounded whatever the size: at most 8×8 cells of 64
    for shape in ((16, 16, 3), (64, 64, 3), (256, 128, 3), (40, 24, 1)):
        module = classifier_lib.architecture(shape, 4)
        params = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0),
                                                    jnp.zeros((1,) + shape)))["params"]
        last = max(k for k in params if k.startswith("Dense"))
        dense_in = params[sorted(k for k in params if k.startswith("Dense"))[0]]["kernel"].shape[0]
        assert dense_in <= 8 * 8 * 64 and params[last]["kernel"].shape[1] == 4, shape


def test_classifier_and_fid_on_rgb_images_of_three_classes(evaluator, source):
    classifier = evaluator.classifier
    train, held = run_data.split(source, HOLDOUT)
    assert classifier.module.num_classes == 3 and train.images.shape[1:] == (SIDE, SIDE, 3)
    assert classifier.heldout_accuracy > 0.6  # chance is 1/3: the colours are learnt
    assert classifier.features(held.images).shape == (HOLDOUT, 128)
    floor = frechet_distance(feature_stats(classifier.features(held.images)), evaluator.train_stats)
    grey = np.repeat(held.images.mean(axis=-1, keepdims=True), 3, axis=-1)
    far = frechet_distance(feature_stats(classifier.features(grey)), evaluator.train_stats)
    assert 0 <= floor < far  # the same images lose their colour: far from the data


def test_evaluation_scores_rgb_samples_against_their_floor(evaluator):
    score, images = evaluator.score_and_images(sampler="ddim", steps=STEPS, guidance_scale=1.0,
                                               num_samples=BATCH)
    assert images.shape == (BATCH, SIDE, SIDE, 3)
    assert score["fid"] > 0 and score["fid_floor"] > 0
    assert 0 <= score["conditional_accuracy"] <= 1


def test_fid_needs_labels_and_says_so_in_one_line(model, tmp_path):
    images, _ = _images(40, 1)
    unlabelled = ArraySource(images, np.full(40, NO_LABEL), (), "unlabelled")
    with pytest.raises(ValueError, match=r"^data: FID and conditional accuracy need labelled "
                                         r"data with at least two classes .*data.labels: folders"):
        evaluate.Evaluator(model, unlabelled, 10, str(tmp_path))
    assert not any(tmp_path.iterdir())  # refused before any training


def test_run_data_selects_classes_by_index_or_name(source):
    chosen = run_data.indices(source, HOLDOUT, ["blue", 0], held_out=False)
    assert set(source.labels[chosen]) == {0, 2}
    with pytest.raises(ValueError, match=r"^data.classes: 'purple' is not a class of the data "
                                         r"\(3 classes: red, green, blue\)$"):
        run_data.indices(source, HOLDOUT, ["purple"], held_out=True)


def test_psnr_and_ssim_of_colour_images_cover_every_channel():
    from skimage.metrics import structural_similarity
    a, _ = _images(2, 3)
    a = a.astype(np.float64) / 255
    b = a.copy()
    b[..., 2] = 0.5  # only the blue channel differs
    expected = [structural_similarity(x, y, data_range=1.0, channel_axis=-1) for x, y in zip(a, b)]
    np.testing.assert_allclose(ssim(a, b), expected, atol=1e-7)
    mse = np.mean(np.square(a - b), axis=(1, 2, 3))
    np.testing.assert_allclose(psnr(a, b), 10 * np.log10(1 / mse))


def test_denoising_rgb_images_per_channel(model, source):
    train, held = run_data.split(source, HOLDOUT, limit=BATCH)
    assert len(held.images) == len(train.images) == BATCH
    result, picture = denoise.denoise(model, held.images, train.images,
                                      {"noise_sigmas": [0.2], "steps": STEPS, "average": 1,
                                       "calibration": BATCH, "picture_rows": 1})
    rows = {r["method"]: r for r in result["rows"]}
    assert rows["gaussian"]["psnr_db"] > rows["noisy"]["psnr_db"]  # blurring noise helps
    assert picture.shape == (len(denoise.PICTURE_COLUMNS), SIDE, SIDE, 3)
    np.testing.assert_array_equal(picture[-1], held.images[0])  # the clean column
    # each channel is denoised on its own: a grey image through the colour path stays grey
    grey = np.repeat(held.images[:1, ..., :1], 3, axis=-1)
    for method in ("gaussian", "tv"):
        out = denoise._classical(method, grey, 0.1 if method == "tv" else 1.0, 0.2)
        np.testing.assert_allclose(out[..., 0], out[..., 2], atol=1e-6)


def test_images_file_of_rgb_images(tmp_path):
    good = tmp_path / "rgb.npy"
    np.save(good, np.zeros((2, SIDE, SIDE, 3), np.uint8))
    assert denoise.load_images(str(good), (SIDE, SIDE, 3), 0).shape == (2, SIDE, SIDE, 3)
    with pytest.raises(ValueError, match=r"^images: .*rgb.npy holds shape \[2, 16, 16, 3\]; "
                                         r"need \[N, 32, 32, 3\] images$"):
        denoise.load_images(str(good), (32, 32, 3), 0)


def test_inpainting_masks_every_channel_and_scores_with_the_data_classifier(model, source,
                                                                            evaluator, cache):
    missing = inpaint.pixel_mask("center", (SIDE, SIDE), 0)
    assert missing.sum() == 8 * 8
    wide = inpaint.pixel_mask("left-half", (SIDE, 2 * SIDE), 0)  # masks span H×W of any shape
    assert wide.shape == (SIDE, 2 * SIDE) and wide[:, :SIDE].all() and not wide[:, SIDE:].any()
    held = run_data.examples(source, run_data.indices(source, HOLDOUT, held_out=True)[:BATCH])
    job = inpaint.Inpainting(model, held.images, held.labels, missing, source, HOLDOUT)
    assert job.known_latents.shape == (BATCH, 4, 4, 4)
    assert (job.masked[:, 4:12, 4:12, :] == 0).all()  # all three channels
    np.testing.assert_array_equal(job.masked[:, :4], held.images[:, :4])
    result, picture = inpaint.finish(job, np.asarray(held.images), cache)  # the evaluator's
    assert result["accuracy"]["completed"] == result["accuracy"]["original"]
    assert picture.shape == (3 * inpaint.PICTURE_ROWS, SIDE, SIDE, 3)


def test_anomaly_scores_rgb_images_of_an_unseen_class(model, source):
    every = run_data.examples(source, np.arange(len(source)))
    normal, anomalous = anomaly.split_groups(every, (0, 1), BATCH // 2, len(CLASSES), "class")
    result = anomaly.detect(model, normal, anomalous,
                            {"timesteps": [100], "loss_timesteps": 2, "steps": STEPS},
                            class_names=CLASSES, noun="class")
    assert result["anomalous_classes"] == [2]
    for score in result["scores"]:
        assert list(score["auroc_per_unseen_class"]) == ["blue"] and 0 <= score["auroc"] <= 1
    assert "| score | AUROC | class blue |" in result["markdown"]
