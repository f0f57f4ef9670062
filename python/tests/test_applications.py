"""Denoising and anomaly detection on a tiny random-weight model, and the metrics they report:
PSNR and SSIM against scikit-image, AUROC against a hand-computed case."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from latentlab.apps import anomaly, denoise, inpaint, run_data, sdedit
from latentlab.data import mnist
from latentlab.metrics.image import psnr, ssim
from latentlab.metrics.roc import auroc, roc_curve
from latentlab.models.vae import reconstruct
from latentlab import checkpoint
from latentlab.diffusion import schedules
from latentlab.train import loops
from latentlab.models import UNet, VAE
from test_sampling import _jitter

# Every sampling call below uses batches of BATCH and STEPS steps, so the fused sampler
# compiles once for the whole file (and is read from .cache/jax after the first run).
BATCH, STEPS = 4, 2


@pytest.fixture(scope="module")
def model():
    """The smallest U-Net there is (one level, no attention) on a small VAE, random weights."""
    key = jax.random.PRNGKey(0)
    vae, unet = VAE(channels=4), UNet(channels=8, channel_mult=(1,), attention_resolutions=(),
                                      num_heads=1)
    vae_params = _jitter(loops.initialise(vae, key, jnp.zeros((1, 32, 32, 1)), key), key)
    one = jnp.zeros((1,), jnp.int32)
    unet_params = _jitter(loops.initialise(unet, key, jnp.zeros((1, 8, 8, 4)), one, one), key)
    return checkpoint.LatentDiffusionModel(vae, vae_params, unet, unet_params,
                                           schedules.make_schedule("linear", 1000), 1.3, (8, 8, 4))


@pytest.fixture(scope="module")
def digits(digits_file):
    train, held = mnist.split(mnist.load(digits_file), 1000)
    return train, held


def test_psnr_and_ssim_agree_with_scikit_image():
    rng = np.random.default_rng(0)
    clean = rng.random((4, 28, 28))
    noisy = np.clip(clean + rng.normal(0, [[[0.02]], [[0.1]], [[0.3]], [[0.6]]], clean.shape), 0, 1)
    ours_psnr, ours_ssim = psnr(clean, noisy), ssim(clean[..., None], noisy[..., None])
    for i in range(4):
        assert ours_psnr[i] == pytest.approx(
            peak_signal_noise_ratio(clean[i], noisy[i], data_range=1.0), abs=1e-9)
        assert ours_ssim[i] == pytest.approx(
            structural_similarity(clean[i], noisy[i], data_range=1.0), abs=1e-9)
    assert ssim(clean, clean) == pytest.approx(1.0)
    assert psnr(clean, clean) == pytest.approx(120.0)


def test_auroc_of_a_hand_computed_case_with_ties():
    # pairs (anomalous, normal): 2>1, 2=2 (a half), 2<3, 4>1, 4>2, 4>3 → 4.5 of 6
    assert auroc([1, 2, 3], [2, 4]) == pytest.approx(0.75)
    assert auroc([0, 1], [2, 3]) == 1.0 and auroc([2, 3], [0, 1]) == 0.0
    assert auroc([5, 5], [5]) == 0.5
    fpr, tpr = roc_curve([1, 2, 3], [2, 4])
    assert list(fpr) == pytest.approx([0, 0, 1 / 3, 2 / 3, 1]) and list(tpr) == [0, .5, .5, 1, 1]
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.75)  # the curve's area is the AUROC
    with pytest.raises(ValueError, match="need scores of both groups"):
        auroc([], [1])


def test_regeneration_from_a_vanishing_sigma_returns_its_input(model):
    latents = jax.random.normal(jax.random.PRNGKey(1), (BATCH,) + model.latent_shape)
    key = jax.random.PRNGKey(2)
    assert jnp.array_equal(sdedit.regenerate(model, latents, 0.0, key), latents)
    errors = [float(jnp.max(jnp.abs(sdedit.regenerate(model, latents, s, key, steps=STEPS)
                                    - latents))) for s in (1.0, 0.1, 0.02)]
    assert errors[2] < 0.1 and errors[2] < errors[1] < errors[0], errors


def test_denoising_at_zero_noise_returns_the_vae_reconstruction_of_the_input(model, digits):
    train, held = digits
    clean = mnist.to_model_input(held.images[:BATCH])
    result, picture = denoise.denoise(model, clean, mnist.to_model_input(train.images[:BATCH]),
                                      {"noise_sigmas": [0.0], "steps": STEPS, "average": 2,
                                       "picture_rows": 2}, border=2)
    rows = {r["method"]: r for r in result["rows"]}
    assert rows["noisy"]["psnr_db"] == pytest.approx(120.0)
    # the VAE's own reconstruct (jitted whole), not the encode/decode path the method uses
    vae = np.asarray(jax.jit(lambda p, x: reconstruct(model.vae, p, x))(model.vae_params, clean))
    expected = float(np.mean(psnr(clean[:, 2:30, 2:30, 0], vae[:, 2:30, 2:30, 0])))
    assert rows["ours"]["psnr_db"] == pytest.approx(expected, abs=1e-4)
    assert rows["ours_mean"]["psnr_db"] == pytest.approx(expected, abs=1e-4)
    assert picture.shape == (2 * len(denoise.PICTURE_COLUMNS), 32, 32, 1)
    assert np.array_equal(picture[len(denoise.PICTURE_COLUMNS) - 1], clean[0])  # the clean column
    assert "| ours (SDEdit, mean of 2) |" in result["markdown"]


def test_denoising_with_noise_scores_every_method_and_picks_parameters_on_calibration(model, digits):
    train, held = digits
    clean = mnist.to_model_input(held.images[:BATCH])
    result, _ = denoise.denoise(model, clean, mnist.to_model_input(train.images[:BATCH]),
                                {"noise_sigmas": [0.3], "steps": STEPS, "average": 1,
                                 "picture_rows": 0}, border=2)
    rows = {r["method"]: r for r in result["rows"]}
    assert set(rows) == set(denoise.METHODS)
    assert rows["gaussian"]["parameter"] in denoise.GAUSSIAN_SIGMAS
    assert rows["ours"]["parameter"] in denoise.STRENGTHS
    # a 0.3 noise on [0, 1] digits is about 11 dB; blurring it must help
    assert 8 < rows["noisy"]["psnr_db"] < 14 and rows["gaussian"]["psnr_db"] > rows["noisy"]["psnr_db"]
    assert result["latent_sigmas"]["0.3"] > 0


def test_denoise_run_scores_the_digits_without_their_zero_padding(model, digits_file):
    result, _ = denoise.denoise_run(model, {"holdout": 1000}, str(digits_file.parents[1]),
                                    {"noise_sigmas": [0.0], "steps": STEPS, "average": 1,
                                     "calibration": BATCH, "heldout": BATCH, "picture_rows": 0})
    clean = mnist.to_model_input(mnist.split(mnist.load(digits_file), 1000)[1].images[:BATCH])
    vae = np.asarray(jax.jit(lambda p, x: reconstruct(model.vae, p, x))(model.vae_params, clean))
    ours = next(r for r in result["rows"] if r["method"] == "ours")
    assert ours["psnr_db"] == pytest.approx(
        float(np.mean(psnr(clean[:, 2:30, 2:30, 0], vae[:, 2:30, 2:30, 0]))), abs=1e-4)
    assert result["source"] == f"held-out digits ({BATCH})"


@pytest.mark.parametrize("change, message", [
    ({"noise_sigmas": []}, "noise-sigma: need one or more"),
    ({"noise_sigmas": [1.5]}, "noise-sigma: need one or more"),
    ({"noise_sigmas": [0.1], "steps": 0}, "steps: must be an integer >= 1"),
    ({"noise_sigmas": [0.1], "sampler": "nope"}, "sampler: unknown value 'nope'"),
])
def test_denoise_refuses_bad_requests_in_one_line(change, message):
    with pytest.raises(ValueError, match=message):
        denoise.check_request(change)


def test_images_file_must_hold_digits(tmp_path):
    good = tmp_path / "d.npy"
    np.save(good, np.zeros((2, 28, 28), np.uint8) + 255)
    assert denoise.load_images(str(good)).shape == (2, 32, 32, 1)
    bad = tmp_path / "b.npy"
    np.save(bad, np.zeros((2, 10, 10)))
    with pytest.raises(ValueError, match=r"images: .*b.npy holds shape \[2, 10, 10\]"):
        denoise.load_images(str(bad))


def test_anomaly_groups_follow_the_trained_classes(digits):
    _, held = digits
    normal, anomalous = anomaly.split_groups(held, [0, 1, 2], 50)
    assert set(normal.labels) <= {0, 1, 2} and not set(anomalous.labels) & {0, 1, 2}
    assert len(normal.labels) == len(anomalous.labels) == 50
    with pytest.raises(ValueError, match="trained on every class"):
        anomaly.split_groups(held, None, 50)


def test_anomaly_scores_give_an_auroc_and_a_curve_for_each(model, digits):
    _, held = digits
    held = run_data.Examples(mnist.to_model_input(held.images), held.labels)
    normal, anomalous = anomaly.split_groups(held, [1], BATCH // 2)
    result = anomaly.detect(model, normal, anomalous,
                            {"timesteps": [100, 500], "loss_timesteps": 3, "steps": STEPS})
    names = [s["name"] for s in result["scores"]]
    assert names == ["vae_reconstruction", "diffusion_reconstruction_t100",
                     "diffusion_reconstruction_t500", "denoising_loss"]
    for score in result["scores"]:
        assert 0 <= score["auroc"] <= 1
        assert score["fpr"][0] == score["tpr"][0] == 0 and score["fpr"][-1] == score["tpr"][-1] == 1
        assert np.trapezoid(score["tpr"], score["fpr"]) == pytest.approx(score["auroc"])
    assert result["normal"] == result["anomalous"] == BATCH // 2


def test_denoising_loss_is_the_training_objective_per_sample(model, digits):
    _, held = digits
    images = mnist.to_model_input(held.images[:BATCH])
    key = jax.random.PRNGKey(3)
    # one timestep (t = 0): the mean squared error of the ε prediction at t = 0
    loss = anomaly.denoising_loss(model, images, key, 1)
    latents = sdedit.encode(model, images)
    noise = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, 0), i),
                                                 latents.shape[1:]))(jnp.arange(BATCH))
    a = model.schedule.alphas_cumprod[0]
    x_t = jnp.sqrt(a) * latents + jnp.sqrt(1 - a) * noise
    out = jax.jit(model.unet.apply)({"params": model.unet_params}, x_t,
                                    jnp.zeros(BATCH, jnp.int32),
                                    jnp.full(BATCH, model.unet.null_label, jnp.int32))
    assert loss == pytest.approx(np.asarray(jnp.mean((out - noise) ** 2, axis=(1, 2, 3))), rel=1e-5)


def test_masks_name_the_missing_pixels_and_a_latent_cell_is_known_only_if_all_its_pixels_are():
    left = inpaint.pixel_mask("left-half")
    assert left[:, :16].all() and not left[:, 16:].any()
    center = inpaint.pixel_mask("center")
    assert center[8:24, 8:24].all() and center.sum() == 256
    odd = np.zeros((32, 32), bool)
    odd[5, 5] = True  # one missing pixel: its whole 4×4 cell is generated
    cells = inpaint.latent_known(odd, 4, 4)
    assert cells.shape == (8, 8, 4) and cells[1, 1].sum() == 0 and cells.sum() == (64 - 1) * 4
    assert inpaint.latent_known(left, 4, 1)[:, :4].sum() == 0
    with pytest.raises(ValueError, match="mask: unknown mask 'diagonal'"):
        inpaint.pixel_mask("diagonal")


def test_data_classes_select_digits_and_are_checked_in_one_line(digits):
    train, _ = digits
    chosen = mnist.select_classes(train, [7, 3])
    assert set(chosen.labels) == {3, 7} and len(chosen.labels) == np.isin(train.labels, [3, 7]).sum()
    from latentlab import config as config_lib
    assert config_lib.resolve({"data": {"classes": [7, 3]}})["data"]["classes"] == [3, 7]
    for bad, message in (([], "non-empty list"), ([1, 10], "digits in"), ([2, 2], "twice")):
        with pytest.raises(ValueError, match=f"^data.classes: .*{message}"):
            config_lib.resolve({"data": {"classes": bad}})


def test_training_on_too_few_digits_of_the_chosen_classes_fails_before_training(digits_file):
    from test_ldm import TINY
    from latentlab.train import ldm
    config = {**TINY, "data": {**TINY["data"], "classes": [3]}}  # ~3 of the 32 training digits
    with pytest.raises(ValueError, match=r"^data.holdout: leaves \d training examples, fewer "
                                         r"than train.unet.batch_size 16; .*data.classes"):
        ldm.train_and_sample(config, str(digits_file))


def test_inpaint_prepare_takes_the_first_held_out_digits(model, digits_file):
    home = str(digits_file.parents[1])
    job = inpaint.prepare(model, {"holdout": 1000}, home, "center", 3)
    _, held = mnist.split(mnist.load(digits_file), 1000)
    assert job.known_latents.shape == (3, 8, 8, 4) and job.latent_known.shape == (8, 8, 4)
    np.testing.assert_array_equal(job.labels, held.labels[:3])
    np.testing.assert_array_equal(job.originals, mnist.to_model_input(held.images[:3]))
    assert (len(job.source), job.source.shape, job.holdout) == (10000, (32, 32, 1), 1000)
    with pytest.raises(ValueError, match=r"^heldout: must be in \[1, 1000\], got 0$"):
        inpaint.prepare(model, {"holdout": 1000}, home, "center", 0)
