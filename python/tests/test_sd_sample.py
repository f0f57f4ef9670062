"""Text to image with an imported Stable Diffusion model (latentlab.apps.text_to_image, what
``./latentlab sample MODEL`` runs), on the tiny random fixture (fixtures/sd-tiny): the same
request gives the same bytes and another seed other bytes; a long prompt is cut with a warning
that counts the cut tokens; an empty prompt is the unconditional path; every registered sampler
runs; bad requests are refused in one line with nothing written; the tiny SDXL samples as its
pipeline does.
"""

import json
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from latentlab import checkpoint, sampling
from latentlab.apps import text_to_image
from latentlab.diffusion import samplers
from latentlab.models.sd import importer
from latentlab.models.sd.pipeline import TextToImage

FIXTURES = Path(__file__).parent / "fixtures" / "sd-tiny"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = tmp_path_factory.mktemp("models")
    importer.import_model(FIXTURES / "diffusers", store, "tiny")
    return store


@pytest.fixture(scope="module")
def cache():
    return checkpoint.ModelCache(capacity=1, loader=TextToImage, identify=importer.identity)


@pytest.fixture(scope="module")
def model(store, cache):
    return cache.get(store / "tiny")


def request(**changes) -> dict:
    """A small request: every key given, as Java sends it."""
    # One batch shape (2 prompts × 2 images, 8×8) throughout: each sampler compiles once.
    return {"prompts": ["a red cat", "a blue dog"], "negative_prompt": "", "guidance_scale": 7.5,
            "steps": 2, "sampler": "ddim", "spacing": None, "eta": None, "rho": None,
            "size": 8, "seed": 0, "num_images": 2, **changes}


def pngs(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_same_request_same_bytes_another_seed_other_bytes(store, cache, model, tmp_path):
    # euler_ancestral: the sampler's own noise comes from the seed too
    chosen = request(sampler="euler_ancestral")
    first = text_to_image.sample(store / "tiny", chosen, tmp_path / "a", cache.get)
    again = text_to_image.sample(store / "tiny", chosen, tmp_path / "b", cache.get)
    other = text_to_image.sample(store / "tiny", {**chosen, "seed": 1}, tmp_path / "c", cache.get)
    assert cache.get(store / "tiny") is model, "loaded once per process"
    written = pngs(tmp_path / "a")
    assert sorted(written) == ["image-000.png", "image-001.png", "image-002.png",
                               "image-003.png", "images.png"]
    assert written == pngs(tmp_path / "b")
    differ = [n for n, data in pngs(tmp_path / "c").items() if data != written[n]]
    assert sorted(differ) == sorted(written), "every image depends on the seed"

    recorded = json.loads((tmp_path / "a" / "result.json").read_text())
    assert recorded == json.loads(json.dumps(first))
    assert recorded["weights_sha256"] == importer.read_meta(store / "tiny")["weights_sha256"]
    assert recorded["request"] == {**chosen, "spacing": "leading", "eta": 1.0, "rho": 7.0}
    assert [(i["file"], i["prompt"], i["index"]) for i in recorded["images"]] == [
        ("image-000.png", "a red cat", 0), ("image-001.png", "a red cat", 1),
        ("image-002.png", "a blue dog", 0), ("image-003.png", "a blue dog", 1)]
    assert recorded["size"] == [8, 8] and recorded["warnings"] == []
    assert set(recorded["seconds"]) == {"load", "sample", "write"}
    assert again["request"] == first["request"]
    assert text_to_image.check_request(store / "tiny", request(size=None))["size"] == 16, \
        "the model's own size: the U-Net's sample_size × the VAE's factor"
    with pytest.raises(ValueError, match="holds a completed sample.*never overwritten"):
        text_to_image.sample(store / "tiny", chosen, tmp_path / "a", cache.get)


def test_a_long_prompt_is_cut_with_a_warning_that_counts_the_tokens(store, cache, model,
                                                                     tmp_path):
    long = "a very long prompt about a red cat sitting on a mat"
    cut = len(model.tokenizer.tokens(long)) - (model.tokenizer.max_length - 2)
    assert cut > 1
    with pytest.warns(UserWarning, match=f"prompt 'a very long.*': {cut} tokens cut"):
        text_to_image.generate(model, text_to_image.check_request(
            store / "tiny", request(prompts=[long, "a cat"])))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sample() records the warning instead
        result = text_to_image.sample(store / "tiny", request(prompts=[long, "a cat"]),
                                      tmp_path / "long", cache.get)
    assert [i["tokens_truncated"] for i in result["images"]] == [cut, cut, 0, 0]
    assert len(result["warnings"]) == 1 and f": {cut} tokens cut" in result["warnings"][0]


def test_an_empty_prompt_is_the_unconditional_path(store, model):
    ids = model.tokenizer("")[0]
    assert list(ids[:2]) == [model.tokenizer.bos_id, model.tokenizer.eos_id]
    unconditional = lambda **c: text_to_image.generate(model, text_to_image.check_request(
        store / "tiny", request(**c)))[0]
    empty = unconditional(prompts=["", ""])
    # guidance 0 keeps only the negative ("") prompt's prediction, whatever the prompt
    guided_away = unconditional(prompts=["a red cat", "a blue dog"], guidance_scale=0.0)
    np.testing.assert_array_equal(empty, guided_away)
    conditional = unconditional(prompts=["a red cat", "a blue dog"])
    assert not np.array_equal(empty, conditional), "the prompt and its guidance change the image"


def test_latents_negative_prompt_eta_and_spacing_reach_the_sampler(store, model):
    pixels = lambda **c: text_to_image.generate(model, text_to_image.check_request(
        store / "tiny", request(**c)))[0]
    ddim = pixels()
    assert not np.array_equal(ddim[0], ddim[1]), "one prompt's images start from latents of their own"
    # DDIM and Euler ancestral are one update with their own η (samplers._ancestral)
    np.testing.assert_array_equal(pixels(sampler="euler_ancestral", eta=0.0), ddim)
    assert not np.array_equal(pixels(sampler="euler_ancestral"), ddim), "η 1, the sampler's own"
    assert not np.array_equal(pixels(spacing="karras"), ddim)
    assert not np.array_equal(pixels(negative_prompt="a green frog", guidance_scale=0.0),
                              pixels(guidance_scale=0.0)), "guidance 0 samples the negative prompt"


# The pipeline hands any registered sampler to samplers.get_sampler alike (test_samplers checks
# each one's math); these take its other paths: two evaluations, a history, noise with η.
@pytest.mark.parametrize("sampler", ["heun", "dpmpp_2m", "dpmpp_3m_sde"])
def test_other_samplers_sample(store, model, sampler):
    checked = text_to_image.check_request(store / "tiny", request(sampler=sampler))
    pixels, _, _, _ = text_to_image.generate(model, checked)
    assert pixels.shape == (4, 8, 8, 3) and pixels.dtype == np.uint8
    assert checked["eta"] == samplers.default_eta(sampler)


@pytest.mark.parametrize("changes, message", [
    ({"size": 18}, r"^size: 18 pixels does not fit this model: its VAE downsamples by 2 and its "
                   r"U-Net by 2 more, so the size must be a multiple of 4 \(this model's own: 16\)$"),
    ({"sampler": "dpm"}, r"^sampler: unknown value 'dpm'; allowed: ddpm, ddim, "),
    ({"spacing": "even"}, r"^spacing: unknown value 'even'; allowed: .*karras"),
    ({"steps": 0}, r"^steps: must be an integer in \[1, 1000\], got 0$"),
    ({"guidance_scale": 101.0}, r"^guidance: must be a finite number in \[0.0, 100.0\]"),
    ({"eta": 2.0}, r"^eta: must be in \[0.0, 1.0\]"),
    ({"seed": -1}, r"^seed: must be an integer in \[0, 4294967295\], got -1$"),
    ({"num_images": 0}, r"^images: must be an integer >= 1"),
    ({"num_images": 33}, r"^images: 2 prompts × 33 images is more than 64"),
    ({"prompts": []}, r"^prompt: give one or more prompts"),
])
def test_a_bad_request_is_one_line_and_writes_nothing(store, cache, tmp_path, changes, message):
    with pytest.raises(ValueError, match=message) as e:
        text_to_image.sample(store / "tiny", request(**changes), tmp_path / "out", cache.get)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_a_lone_component_or_no_model_is_refused(store, tmp_path):
    importer.import_model(FIXTURES / "text_encoder_2", store, "encoder-only")
    with pytest.raises(ValueError, match=r"encoder-only: holds text_encoder only; sampling needs "
                                         r"a whole model"):
        text_to_image.check_request(store / "encoder-only", request())
    with pytest.raises(ValueError, match=r"not an imported model \(no sd_model.json\)"):
        text_to_image.check_request(tmp_path, request())


# Image to image (SDEdit) on the same tiny model.

@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    """A 20×12 colour gradient (not square: the request's size crops it)."""
    from PIL import Image
    y, x = np.mgrid[0:12, 0:20]
    path = tmp_path_factory.mktemp("init") / "gradient.png"
    Image.fromarray(np.stack([x * 12, y * 20, 255 - x * 12], -1).astype(np.uint8)).save(path)
    return path


def test_image_to_image_starts_from_the_images_latents_noised_to_the_first_kept_sigma(
        store, model, picture, monkeypatch):
    handed = []
    original = model.sample
    monkeypatch.setattr(model, "sample", lambda *a, **k: handed.append(a) or original(*a, **k))
    text = text_to_image.check_request(store / "tiny", request(steps=10))
    text_to_image.generate(model, text)
    image = text_to_image.check_request(store / "tiny", request(
        steps=10, init_image=str(picture), strength=0.35))
    text_to_image.generate(model, image)
    (_, _, noise, full, *_), (_, _, latents, kept, *_) = handed
    # diffusers' rule: the last int(10 · 0.35) = 3 steps of the 10-step grid
    np.testing.assert_array_equal(kept, full[7:])
    z0 = np.asarray(text_to_image.init_latents(model, image))
    sigma = float(kept[0])
    # in σ coordinates the sampler starts at z0 + σ ε, with the text-to-image request's ε
    np.testing.assert_allclose(np.asarray(latents) * np.sqrt(1 + sigma ** 2),
                               z0 + sigma * np.asarray(noise), rtol=1e-5, atol=1e-6)


def test_image_to_image_keeps_more_of_the_picture_at_low_strength(store, model, picture):
    z0 = text_to_image.init_latents(model, text_to_image.check_request(
        store / "tiny", request(init_image=str(picture))))
    decoded = np.asarray(model.vae.apply({"params": model.vae_params}, z0 / model.scaling_factor,
                                         method="decode"))[0]
    reconstruction = np.round(np.clip(decoded / 2 + 0.5, 0, 1) * 255)
    def distance(strength):
        pixels = text_to_image.generate(model, text_to_image.check_request(store / "tiny", request(
            steps=50, init_image=str(picture), strength=strength)))[0]
        return float(np.abs(pixels.astype(float) - reconstruction).mean())
    low, high = distance(0.02), distance(1.0)
    assert low < 0.6 * high, (low, high)


def test_image_to_image_is_recorded_and_another_image_is_another_request(store, cache, picture,
                                                                         tmp_path):
    chosen = request(init_image=str(picture), strength=0.5)
    first = text_to_image.sample(store / "tiny", chosen, tmp_path / "a", cache.get)
    again = text_to_image.sample(store / "tiny", first["request"], tmp_path / "b", cache.get)
    assert pngs(tmp_path / "a") == pngs(tmp_path / "b"), "the checked request samples the same bytes"
    import hashlib
    assert first["request"]["init_image"] == str(picture)
    assert first["request"]["init_image_sha256"] == hashlib.sha256(picture.read_bytes()).hexdigest()
    assert first["request"]["strength"] == 0.5
    assert "init_image" not in text_to_image.check_request(store / "tiny", request()), \
        "a text-to-image request is what it was without them"
    other = tmp_path / "other.png"
    from PIL import Image
    Image.open(picture).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other)
    flipped = text_to_image.sample(store / "tiny", {**chosen, "init_image": str(other)},
                                   tmp_path / "c", cache.get)
    assert flipped["request"]["init_image_sha256"] != first["request"]["init_image_sha256"]
    assert pngs(tmp_path / "c")["image-000.png"] != pngs(tmp_path / "a")["image-000.png"]
    with pytest.raises(ValueError, match=r"^init-image: .* changed since the request was checked"):
        text_to_image.check_request(store / "tiny", {**first["request"], "init_image": str(other)})


@pytest.mark.parametrize("changes, message", [
    ({"strength": 0.5}, r"^strength: only with an init image \(--init-image FILE\); remove it$"),
    ({"init_image": "/nowhere/x.png"}, r"^init-image: no file at /nowhere/x.png$"),
    ({"init_image": "CORRUPT"}, r"^init-image: .*corrupt.png: not an image Pillow can read"),
    ({"init_image": "PICTURE", "strength": 0.0}, r"^strength: must be in \(0, 1\], got 0.0$"),
    ({"init_image": "PICTURE", "strength": 1.5}, r"^strength: must be in \(0, 1\], got 1.5$"),
    ({"init_image": "PICTURE", "strength": 0.3}, r"^strength: 0.3 of 2 steps samples no step"),
])
def test_a_bad_image_to_image_request_is_one_line_and_writes_nothing(store, cache, picture,
                                                                     tmp_path, changes, message):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    changes = {k: {"CORRUPT": str(corrupt), "PICTURE": str(picture)}.get(v, v)
               for k, v in changes.items()}
    with pytest.raises(ValueError, match=message) as e:
        text_to_image.sample(store / "tiny", request(**changes), tmp_path / "out", cache.get)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def half_mask(tmp_path_factory) -> Path:
    """A mask of the gradient's size: the left half black (kept), the right half white."""
    from PIL import Image
    mask = np.zeros((12, 20), np.uint8)
    mask[:, 10:] = 255
    path = tmp_path_factory.mktemp("mask") / "right-half.png"
    Image.fromarray(mask, "L").save(path)
    return path


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m"])
def test_inpainting_ends_on_the_pictures_latents_where_the_mask_keeps_them(
        store, model, picture, half_mask, sampler, monkeypatch):
    finals = []
    original = model.sample
    monkeypatch.setattr(model, "sample",
                        lambda *a, **k: finals.append(original(*a, **k)[0]) or original(*a, **k))
    # karras spacing ends the grid at σ = 0, where a sampler's last step lands on its x̂0
    checked = text_to_image.check_request(store / "tiny", request(
        sampler=sampler, spacing="karras", steps=4, init_image=str(picture), mask=str(half_mask)))
    assert checked["strength"] == 1.0, "inpainting's default strength"
    text_to_image.generate(model, checked)
    keep = text_to_image.keep_mask(model, checked)
    assert keep.shape == (1, 4, 4, 1)
    np.testing.assert_array_equal(keep[0, :, :, 0], [[1, 1, 0, 0]] * 4)
    z0 = np.asarray(text_to_image.init_latents(model, checked))
    final = np.asarray(finals[0])
    kept = np.broadcast_to(keep, final.shape) == 1
    np.testing.assert_allclose(final[kept], np.broadcast_to(z0, final.shape)[kept], atol=1e-5)
    assert np.abs(final[~kept] - np.broadcast_to(z0, final.shape)[~kept]).max() > 0.1, \
        "the white half is sampled, not copied"


def test_an_inpainting_request_records_its_mask(store, cache, picture, half_mask, tmp_path):
    import hashlib
    result = text_to_image.sample(store / "tiny", request(init_image=str(picture),
                                                          mask=str(half_mask)), tmp_path / "a",
                                  cache.get)
    assert result["request"]["mask"] == str(half_mask)
    assert result["request"]["mask_sha256"] == hashlib.sha256(half_mask.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=r"^mask: only with an init image"):
        text_to_image.check_request(store / "tiny", request(mask=str(half_mask)))
    with pytest.raises(ValueError, match=r"^mask: no file at /nowhere.png$"):
        text_to_image.check_request(store / "tiny", request(init_image=str(picture),
                                                            mask="/nowhere.png"))


def test_an_sdxl_model_samples_as_its_pipeline_does(store, cache, tmp_path):
    """The sample command's path with the tiny SDXL (two encoders, size ids, zeros for the
    empty negative prompt) gives the pixels of the pipeline that matches diffusers
    (test_sd_parity) from the same initial noise."""
    importer.import_model(FIXTURES / "sdxl", store, "tiny-xl")
    xl = cache.get(store / "tiny-xl")
    chosen = request(prompts=["a red cat"], num_images=1, size=16, steps=3, seed=4)
    result = text_to_image.sample(store / "tiny-xl", chosen, tmp_path / "xl", cache.get)
    assert result["size"] == [16, 16] and len(result["images"]) == 1
    noise_key, _ = sampling.sampling_keys(4)
    latents = jax.random.normal(jax.random.fold_in(noise_key, 0), (8, 8, 4))[None]
    _, images = xl("a red cat", "", latents, steps=3, guidance_scale=7.5, sampler="ddim")
    expected = np.round(np.clip(np.asarray(images) / 2 + 0.5, 0, 1) * 255).astype(np.uint8)
    written = np.asarray(Image.open(tmp_path / "xl" / "image-000.png").convert("RGB"))
    np.testing.assert_array_equal(written, expected[0])
    # guidance 0 samples the negative side alone: zeros for "", whatever the prompt
    pixels = lambda **c: text_to_image.generate(xl, text_to_image.check_request(
        store / "tiny-xl", request(size=16, steps=2, **c)))[0]
    np.testing.assert_array_equal(pixels(guidance_scale=0.0),
                                  pixels(guidance_scale=0.0, prompts=["", "a mat"]))
    assert not np.array_equal(pixels(guidance_scale=0.0, negative_prompt="a dog"),
                              pixels(guidance_scale=0.0))
