"""Text-conditioned training from scratch (latentlab.train.text): the captions' vocabulary,
caption dropout, the model folder a run writes and samples through, resume after SIGKILL, and
the config's errors; on tiny 8×8 RGB images with two-word captions."""

import copy
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from latentlab import experiment
from latentlab.apps import text_to_image
from latentlab.data.source import ArraySource
from latentlab.diffusion import losses, schedules
from latentlab.models.sd import importer
from latentlab.models.sd.pipeline import TextToImage
from latentlab.models.sd.tokenizer import CLIPTokenizer
from latentlab.train import ldm, text

HERE = Path(__file__).resolve().parent
COLOURS, SHAPES = ("red", "green", "blue", "yellow"), ("square", "circle", "cross", "dot", "bar")

TEXT = {
    "name": "tiny-text",
    "seed": 5,
    "data": {"dataset": "tiny-captions", "holdout": 8, "resolution": 8, "channels": 3},
    "model": {"vae": {"channels": 4, "channel_mult": [1, 2]},
              "unet": {"block_out_channels": [8, 16], "layers_per_block": 1,
                       "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
                       "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
                       "attention_head_dim": 2, "norm_num_groups": 4},
              "text_encoder": {"hidden_size": 8, "intermediate_size": 16,
                               "num_hidden_layers": 1, "num_attention_heads": 2,
                               "max_position_embeddings": 8}},
    "diffusion": {"beta_schedule": "linear", "num_timesteps": 100, "beta_start": 1e-4,
                  "beta_end": 0.02},
    "train": {"vae": {"steps": 3, "batch_size": 8, "learning_rate": 1e-3, "kl_weight": 1e-3},
              "unet": {"steps": 4, "batch_size": 8, "learning_rate": 1e-3, "ema_decay": 0.9,
                       "label_dropout": 0.2, "loss_weighting": "uniform",
                       "min_snr_gamma": 5.0}},
    "sample": {"num_samples": 4, "sampler": "ddim", "steps": 3, "guidance_scale": 2.0,
               "eta": None, "spacing": None, "rho": 7.0, "prompts": ["red square", "blue dot"]},
}


def captioned(n=40):
    """n random 8×8 pictures, each captioned '<colour> <shape>'."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    captions = [f"{COLOURS[i % 4]} {SHAPES[i % 5]}" for i in range(n)]
    return images, (np.arange(n) % 4).astype(np.int32), captions


def source() -> ArraySource:
    images, labels, captions = captioned()
    return ArraySource(images, labels, list(COLOURS), "tiny-captions", captions)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The tiny text run, latents in memory, its model folder under a checkpoint folder."""
    folder = tmp_path_factory.mktemp("text-run") / "trial" / "checkpoint"
    return ldm.train_and_sample(TEXT, source(), checkpoint_dir=str(folder)), folder


def test_the_vocabulary_holds_every_caption_word_whole_and_is_the_same_bytes_every_time(tmp_path):
    captions = captioned()[2]
    text.write_tokenizer(captions, tmp_path / "a", 8)
    text.write_tokenizer(list(reversed(captions)), tmp_path / "b", 8)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    tokenizer = CLIPTokenizer(tmp_path / "a")
    vocab = json.loads((tmp_path / "a" / "vocab.json").read_text())
    ids, cuts = tokenizer.encode(["Green  CIRCLE", "zebra"])
    assert ids[0].tolist() == [vocab["<|startoftext|>"], vocab["green"], vocab["circle"],
                               vocab["<|endoftext|>"]] + [vocab["<|endoftext|>"]] * 4
    # a word the captions never had: spelled in characters, nothing unknown
    assert [t for t in ids[1][1:6]] == [vocab[c] for c in ("z", "e", "b", "r", "a</w>")]
    assert cuts == [0, 0]
    # a rarer word is whole too where a frequent one sits inside it (merges would split it)
    text.write_tokenizer(["man", "man", "woman", "mango"], tmp_path / "c", 8)
    whole = CLIPTokenizer(tmp_path / "c")
    assert [len(whole.tokens(w)) for w in ("man", "woman", "mango", "women")] == [1, 1, 1, 5]


def test_caption_dropout_replaces_whole_captions_by_the_empty_prompt():
    schedule = schedules.make_schedule("linear", 100, 1e-4, 0.02)
    ids = jnp.asarray(np.arange(1, 25).reshape(4, 6), jnp.int32)
    empty = np.asarray([7, 8, 9, 9, 9, 9], np.int32)
    seen = []

    def apply(variables, x_t, t, conditions):  # a denoiser that records what it is given
        seen.append(np.asarray(conditions))
        return jnp.zeros_like(x_t)

    for dropout in (0.0, 1.0):
        losses.denoising_loss(apply, {}, jnp.zeros((4, 2, 2, 1)), ids, jax.random.PRNGKey(0),
                              schedule, "eps", dropout, empty)
    np.testing.assert_array_equal(seen[0], ids)
    np.testing.assert_array_equal(seen[1], np.broadcast_to(empty, (4, 6)))
    # class labels [B] drop to the null label as before
    losses.denoising_loss(apply, {}, jnp.zeros((4, 2, 2, 1)), jnp.arange(4), jax.random.PRNGKey(0),
                          schedule, "eps", 1.0, 10)
    assert seen[2].tolist() == [10, 10, 10, 10]


def test_a_text_run_samples_its_prompts_from_the_model_folder_it_writes(run, tmp_path):
    result, folder = run
    model = folder / text.MODEL_FOLDER
    meta = importer.read_meta(model)
    assert meta["components"]["vae"]["class"] == importer.OWN_VAE
    assert meta["components"]["vae"]["config"]["scaling_factor"] == result.metrics["latent_scale"]
    assert result.stages["text_model"]["weights_sha256"] == meta["weights_sha256"]
    assert result.images.shape == (4, 8, 8, 3) and result.labels.tolist() == [0, 0, 1, 1]
    # `./latentlab sample FOLDER --prompt ...` with the run's settings: the same pixels
    request = {"prompts": ["red square", "blue dot"], "negative_prompt": "",
               "guidance_scale": 2.0, "steps": 3, "sampler": "ddim", "spacing": None,
               "eta": None, "rho": None, "size": None, "seed": 5, "num_images": 2}
    written = text_to_image.sample(model, request, tmp_path / "out", TextToImage)
    pictures = [np.asarray(Image.open(tmp_path / "out" / image["file"]))
                for image in written["images"]]
    np.testing.assert_array_equal(np.stack(pictures),
                                  np.round(np.asarray(result.images) * 255).astype(np.uint8))
    # the prompts condition the samples: another prompt, other pixels
    other = text_to_image.sample(model, {**request, "prompts": ["green bar", "blue dot"]},
                                 tmp_path / "other", TextToImage)
    first = np.asarray(Image.open(tmp_path / "other" / other["images"][0]["file"]))
    assert not np.array_equal(first, pictures[0])


def test_a_text_run_killed_with_sigkill_resumes_bit_for_bit(run, tmp_path):
    """A real process trains on WebDataset shards with captions (KEY.txt) and is killed once a
    U-Net save is on disk; resumed here, it ends on the weights of the uninterrupted run (on
    the same pictures held in memory)."""
    from resume_program import kill_after_first_unet_save, write_shards
    images, labels, captions = captioned()
    pattern = write_shards(tmp_path / "shards", images, labels, captions=captions)
    config = {**TEXT, "data": {**TEXT["data"], "dataset": "webdataset", "path": pattern},
              "execution": {"checkpoint_every": 2}}
    home, checkpoint_dir = tmp_path / "home", tmp_path / "trial" / "checkpoint"
    kill_after_first_unet_save(home, checkpoint_dir, config)
    assert not (checkpoint_dir / text.MODEL_FOLDER).exists()
    resumed = ldm.train_and_sample(config, None, checkpoint_dir=str(checkpoint_dir), home=home)
    assert resumed.metrics["unet_resumed_from_step"] == 2
    assert (resumed.stages["text_model"]["weights_sha256"]
            == run[0].stages["text_model"]["weights_sha256"])
    np.testing.assert_array_equal(np.asarray(resumed.images), np.asarray(run[0].images))


@pytest.mark.parametrize("change, message", [
    (lambda c: c["model"]["unet"].update(channels=8),
     r"^model.unet.channels: unknown key; a UNet2DConditionConfig takes "),
    (lambda c: c["model"]["unet"].update(cross_attention_dim=768),
     r"^model.unet.cross_attention_dim: set by the run"),
    (lambda c: c["model"]["text_encoder"].update(vocab_size=100),
     r"^model.text_encoder.vocab_size: set by the run"),
    (lambda c: c["model"]["unet"].update(prediction="score"),
     r"^model.unet.prediction: unknown value 'score'"),
    (lambda c: c["model"]["unet"].update(
        block_out_channels=[8, 8, 8, 8], down_block_types=["DownBlock2D"] * 4,
        up_block_types=["UpBlock2D"] * 4),
     r"^model.unet.block_out_channels: 4 levels downsample by 8, which does not divide the "
     r"4×4 latents"),
    (lambda c: c["sample"].pop("prompts"), r"^sample.prompts: a text model samples prompts"),
    (lambda c: c["sample"].update(num_samples=3),
     r"^sample.num_samples: 3 does not split evenly over the 2 prompts"),
    (lambda c: c["sample"].update(num_samples=66),
     r"^sample.num_samples: 66 is more than the 64 a text run samples at its end"),
    (lambda c: c.update(tracking={"previews": 2}), r"^tracking.previews: not yet for text"),
    (lambda c: c["model"].update(unet={"channels": 8}, text_encoder=None) or
     c["model"].pop("text_encoder"), r"^sample.prompts: only a text model"),
])
def test_a_text_config_is_checked_before_anything_trains(change, message):
    config = copy.deepcopy(TEXT)
    change(config)
    with pytest.raises(ValueError, match=message):
        ldm.train_and_sample(config, source())


def test_a_resolved_text_config_resolves_to_itself():
    resolved = experiment.resolve(TEXT)
    assert resolved["model"]["unet"]["cross_attention_dim"] == 8
    assert resolved["model"]["unet"]["sample_size"] == 4
    assert experiment.resolve(resolved) == resolved


def test_every_example_needs_a_caption():
    images, labels, captions = captioned()
    bare = ArraySource(images, labels, list(COLOURS), "tiny-captions")
    with pytest.raises(ValueError, match=r"^data: this data set has no captions, and a text"):
        ldm.train_and_sample(TEXT, bare)
    captions[3] = None
    data = ArraySource(images, labels, list(COLOURS), "tiny-captions", captions)
    with pytest.raises(ValueError, match=r"^data: example 3 has no caption, and a text model"):
        ldm.train_and_sample(TEXT, data)


FIXTURES = HERE / "fixtures" / "sd-tiny"


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    """A project home with the tiny random SD 1.x fixture imported as models/tiny."""
    home = tmp_path_factory.mktemp("home")
    importer.import_model(FIXTURES / "diffusers", home / "models", "tiny")
    return home


def fine_tuning(init="tiny"):
    config = {k: copy.deepcopy(v) for k, v in TEXT.items() if k != "model"}
    config["train"]["unet"].update(init=init, learning_rate=1e-4)
    return config


def test_train_unet_init_fine_tunes_an_imported_model_from_its_weights(tiny_home, tmp_path):
    checkpoint_dir = tmp_path / "trial" / "checkpoint"
    result = ldm.train_and_sample(fine_tuning(), source(), checkpoint_dir=str(checkpoint_dir),
                                  home=tiny_home)
    imported = importer.load_imported(tiny_home / "models" / "tiny")
    tuned = importer.load_imported(checkpoint_dir / text.MODEL_FOLDER)
    assert result.stages["init"]["weights_sha256"] == imported["meta"]["weights_sha256"]
    assert result.metrics["unet_resumed_from_step"] == 0 and "vae_final_loss" not in result.metrics
    # the VAE and the text encoder as imported, the U-Net moved a little from the imported one
    # (4 Adam steps of at most about 1e-4 each: far less than a fresh initialisation's
    # distance from it, ~0.1)
    for component in ("vae", "text_encoder"):
        jax.tree.map(np.testing.assert_array_equal, tuned[component][1], imported[component][1])
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))),
                                         tuned["unet"][1], imported["unet"][1]))
    assert 1e-6 < max(moved) < 1e-3
    assert tuned["meta"]["diffusion"] == imported["meta"]["diffusion"]
    assert json.loads((checkpoint_dir / "training" / "init.json").read_text())[
        "weights_sha256"] == imported["meta"]["weights_sha256"]
    assert (checkpoint_dir / text.MODEL_FOLDER / "tokenizer" / "vocab.json").read_bytes() == \
        (tiny_home / "models" / "tiny" / "tokenizer" / "vocab.json").read_bytes()
    assert result.images.shape == (4, 8, 8, 3)


def test_train_unet_init_names_a_model_that_is_there_and_brings_its_own_sections(tiny_home,
                                                                                  tmp_path):
    with pytest.raises(ValueError, match=r"^train.unet.init: no imported model 'nothing' \(in "
                                         r"models/.*import PATH --name nothing$"):
        ldm.train_and_sample(fine_tuning(init="nothing"), source(), home=tiny_home)
    with pytest.raises(ValueError, match=r"^model.text_encoder: train.unet.init fine-tunes an "
                                         r"imported model"):
        ldm.train_and_sample({**fine_tuning(), "model": TEXT["model"]}, source(), home=tiny_home)
    with pytest.raises(ValueError, match=r"^tracking.previews: not yet for text models"):
        ldm.train_and_sample({**fine_tuning(), "tracking": {"previews": 2}}, source(),
                             home=tiny_home)
    # a trial that started from other weights under the same name does not go on
    checkpoint_dir = tmp_path / "trial" / "checkpoint"
    (checkpoint_dir / "training").mkdir(parents=True)
    (checkpoint_dir / "training" / "init.json").write_text(json.dumps({"weights_sha256": "0" * 64}))
    with pytest.raises(ValueError, match=r"^train.unet.init: .*models/tiny holds other weights "
                                         r"\([0-9a-f]{12}\) than this trial started from "
                                         r"\(000000000000\)"):
        ldm.train_and_sample(fine_tuning(), source(), checkpoint_dir=str(checkpoint_dir),
                             home=tiny_home)
    images, labels, captions = captioned()
    big = ArraySource(np.zeros((40, 6, 6, 3), np.uint8), labels, list(COLOURS), "six", captions)
    with pytest.raises(ValueError, match=r"^train.unet.init: the model takes square 3-channel "
                                         r"pictures whose side is a multiple of 4; the data's "
                                         r"are 6×6×3"):
        ldm.train_and_sample(fine_tuning(), big, home=tiny_home)


def test_model_preset_gives_the_full_size_unet_and_text_encoder_and_sections_override_it():
    from latentlab.models.sd import config as config_lib
    from latentlab.models.sd import presets
    from latentlab.models.sd.clip import CLIPTextConfig
    from latentlab.models.sd.unet import UNet2DConditionConfig
    counts = json.loads((FIXTURES / "versions.json").read_text())["preset_counts"]
    config = copy.deepcopy(TEXT)
    config["data"]["resolution"] = 32  # 16×16 latents: the 3 downsamplings of SD's U-Net fit
    for name, prediction in (("sd15", "eps"), ("sd21", "v")):
        config["model"] = {"vae": TEXT["model"]["vae"], "preset": name}
        resolved = experiment.resolve(config)
        assert resolved["model"]["preset"] == name
        unet = dict(resolved["model"]["unet"])
        assert unet.pop("prediction") == prediction
        assert unet["in_channels"] == 4 and unet["sample_size"] == 16
        assert presets.parameter_count("UNet2DConditionModel", config_lib.from_dict(
            UNet2DConditionConfig, unet, "unet")) == counts[name]["unet"]
        # with CLIP's vocabulary, the text encoder counts what transformers counts
        text_config = config_lib.from_dict(
            CLIPTextConfig, {**resolved["model"]["text_encoder"], "vocab_size": 49408}, "text")
        assert presets.parameter_count("CLIPTextModel", text_config) == \
            counts[name]["text_encoder"]
        assert experiment.resolve(resolved) == resolved
    config["model"] = {"vae": TEXT["model"]["vae"], "preset": "sd15",
                       "unet": {"layers_per_block": 1}, "text_encoder": {"num_hidden_layers": 2}}
    resolved = experiment.resolve(config)
    assert resolved["model"]["unet"]["layers_per_block"] == 1
    assert resolved["model"]["unet"]["block_out_channels"] == [320, 640, 1280, 1280]
    assert resolved["model"]["text_encoder"]["num_hidden_layers"] == 2
    config["model"] = {"vae": TEXT["model"]["vae"], "preset": "sdxl"}
    with pytest.raises(ValueError, match=r"^model.preset: sdxl has a second text encoder"):
        experiment.resolve(config)
    config["model"] = {"vae": TEXT["model"]["vae"], "preset": "sd3"}
    with pytest.raises(ValueError, match=r"^model.preset: unknown value 'sd3'; allowed: sd15, "):
        experiment.resolve(config)
