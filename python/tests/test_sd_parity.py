"""Stable Diffusion in Flax against the PyTorch reference: tiny random components that
diffusers and transformers made and ran (scripts/sd_fixtures; versions in
fixtures/sd-tiny/versions.json), read back through the importer.

Per component the outputs match to 1e-4 max-abs in float32, the whole pipeline (tokenize →
encode → 10 DDIM steps with guidance → decode) to 1e-3; folder and single file import to the
same weights; bad weights and pickles are refused with one line.
"""

import json
import shutil
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from latentlab.diffusion import schedules
from latentlab.models.sd import importer, pipeline
from latentlab.models.sd.tokenizer import CLIPTokenizer
from latentlab.models.sd.unet import UNet2DConditionConfig

FIXTURES = Path(__file__).parent / "fixtures" / "sd-tiny"
FOLDER = FIXTURES / "diffusers"
PER_COMPONENT = 1e-4
PIPELINE = 1e-3


def nhwc(a):
    return jnp.asarray(a).transpose(0, 2, 3, 1)


def apply(model, params, *args, **kwargs):
    """``model.apply`` as one compiled program (eager, each layer's ops compile on their own)."""
    return jax.jit(lambda p, *a: model.apply({"params": p}, *a, **kwargs))(params, *args)


def max_error(ours, theirs) -> float:
    return float(np.max(np.abs(np.asarray(ours) - np.asarray(theirs))))


@pytest.fixture(scope="module")
def ref():
    return load_file(str(FIXTURES / "reference.safetensors"))


@pytest.fixture(scope="module")
def info():
    return json.loads((FIXTURES / "versions.json").read_text())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def imported(store):
    summary = importer.import_model(FOLDER, store, "tiny")
    return summary, importer.load_imported(store / "tiny")


def test_import_summary(imported, info):
    summary, _ = imported
    assert summary["source_kind"] == "diffusers"
    assert {k: v["parameters"] for k, v in summary["components"].items()} == {
        k: info["tiny_counts"][k] for k in ("unet", "vae", "text_encoder")}
    assert summary["diffusion"] == {
        "beta_schedule": "scaled_linear", "num_timesteps": 1000, "beta_start": 0.00085,
        "beta_end": 0.012, "prediction": "eps", "timestep_spacing": "leading",
        "steps_offset": 1, "set_alpha_to_one": False}
    assert "public domain" in summary["licence"]
    assert len(summary["weights_sha256"]) == 64
    json.dumps(summary)


def test_tokenizer_matches_clip_tokenizer(ref, info):
    tokenizer = CLIPTokenizer(FOLDER / "tokenizer")
    np.testing.assert_array_equal(tokenizer(info["clip_prompts"]), ref["clip.input_ids"])
    cut = int(ref["clip.long_untruncated_length"].reshape(-1)[0]) - tokenizer.max_length
    with pytest.warns(UserWarning, match=f": {cut} tokens cut"):
        ids = tokenizer(info["long_prompt"])
    np.testing.assert_array_equal(ids, ref["clip.long_ids"])
    empty = tokenizer("")[0]
    assert list(empty[:2]) == [tokenizer.bos_id, tokenizer.eos_id]
    assert set(empty[2:]) == {tokenizer.pad_id}


def test_clip_text_encoder_matches_transformers(imported, ref, store):
    model, params = imported[1]["text_encoder"]
    ids = jnp.asarray(ref["clip.input_ids"])
    hidden, pooled = apply(model, params, ids)
    assert max_error(hidden, ref["clip.last_hidden_state"]) <= PER_COMPONENT
    assert max_error(pooled, ref["clip.pooler_output"]) <= PER_COMPONENT
    penultimate, _ = apply(model, params, ids, hidden_layer=-2)
    assert max_error(penultimate, ref["clip.hidden_states_minus2"]) <= PER_COMPONENT
    # the projection variant (SDXL's second encoder), imported as a lone component
    importer.import_model(FIXTURES / "text_encoder_2", store, "te2")
    model, params = importer.load_imported(store / "te2")["text_encoder"]
    _, embeds = apply(model, params, ids)
    assert max_error(embeds, ref["clip2.text_embeds"]) <= PER_COMPONENT


def test_autoencoder_matches_diffusers(imported, ref):
    model, params = imported[1]["vae"]
    mean, log_var = apply(model, params, nhwc(ref["vae.images"]), method="encode")
    assert max_error(mean, nhwc(ref["vae.mean"])) <= PER_COMPONENT
    assert max_error(log_var, nhwc(ref["vae.logvar"])) <= PER_COMPONENT
    decoded = apply(model, params, nhwc(ref["vae.latents"]), method="decode")
    assert max_error(decoded, nhwc(ref["vae.decoded"])) <= PER_COMPONENT


def test_unet_matches_diffusers(imported, ref):
    model, params = imported[1]["unet"]
    out = apply(model, params, nhwc(ref["unet.sample"]),
                      jnp.asarray(ref["unet.timesteps"]), jnp.asarray(ref["unet.context"]))
    assert max_error(out, nhwc(ref["unet.out"])) <= PER_COMPONENT


def test_sd2_style_unet_from_a_sharded_component_folder(store, ref, info):
    # linear projections, per-block head counts, two transformer layers in one block
    summary = importer.import_model(FIXTURES / "unet-sd2", store, "unet2")
    assert summary["components"]["unet"]["parameters"] == info["tiny_counts"]["unet-sd2"]
    model, params = importer.load_imported(store / "unet2")["unet"]
    out = apply(model, params, nhwc(ref["unet.sample"]),
                      jnp.asarray(ref["unet.timesteps"]), jnp.asarray(ref["unet2.context"]))
    assert max_error(out, nhwc(ref["unet2.out"])) <= PER_COMPONENT


def test_pipeline_matches_diffusers(imported, store, ref, info):
    settings = info["pipeline"]
    model = pipeline.TextToImage(store / "tiny")
    np.testing.assert_array_equal(
        schedules.sampling_timesteps(1000, settings["steps"], "leading", 1), ref["pipe.timesteps"])
    final, image = model(settings["prompt"], settings["negative_prompt"],
                         nhwc(ref["pipe.init_latents"]), steps=settings["steps"],
                         guidance_scale=settings["guidance_scale"], sampler="ddim")
    assert max_error(final, nhwc(ref["pipe.final_latents"])) <= PIPELINE
    assert max_error(image, nhwc(ref["pipe.image"])) <= PIPELINE


def test_single_file_imports_the_same_weights(imported, store):
    summary = importer.import_model(FIXTURES / "tiny-ldm.safetensors", store, "tiny-ldm",
                                    config=FOLDER)
    assert summary["source_kind"] == "single-file"
    assert summary["weights_sha256"] == imported[0]["weights_sha256"]


def _tampered_vae(tmp_path, change) -> Path:
    folder = tmp_path / "vae"
    shutil.copytree(FOLDER / "vae", folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    tensors = load_file(str(weights))
    change(tensors)
    save_file(tensors, str(weights))
    return folder


def test_key_mismatch_is_refused_with_the_keys(tmp_path):
    def rename_and_reshape(t):
        t["encoder.conv_in.wieght"] = t.pop("encoder.conv_in.weight")
        t["decoder.conv_out.bias"] = np.zeros(5, np.float32)
    folder = _tampered_vae(tmp_path, rename_and_reshape)
    with pytest.raises(ValueError) as e:
        importer.import_model(folder, tmp_path / "store", "bad")
    message = str(e.value)
    assert "\n" not in message
    assert "2 missing: decoder/conv_out/bias, encoder/conv_in/kernel" in message
    assert "1 unexpected: encoder.conv_in.wieght" in message
    assert "1 wrong shape: decoder.conv_out.bias [5]" in message
    assert not (tmp_path / "store" / "bad").exists()


def test_pickle_checkpoints_are_refused(tmp_path):
    for name in ("model.ckpt", "model.bin", "model.pt"):
        (tmp_path / name).write_bytes(b"not opened")
        with pytest.raises(ValueError, match=r"pickle checkpoint.*can run .*convert it to "
                                             r"\.safetensors"):
            importer.import_model(tmp_path / name, tmp_path / "store", "x")
    folder = tmp_path / "component"
    shutil.copytree(FOLDER / "vae", folder, ignore=shutil.ignore_patterns("*.safetensors"))
    (folder / "diffusion_pytorch_model.bin").write_bytes(b"not opened")
    with pytest.raises(ValueError, match="diffusion_pytorch_model.bin: a pickle checkpoint"):
        importer.import_model(folder, tmp_path / "store", "x")


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="not a model"):
        importer.import_model(tmp_path, tmp_path / "store", "x")
    folder = tmp_path / "unet"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel",
                                                    "block_out_channels": [8, 16]}))
    with pytest.raises(ValueError, match=r"unet/config.json: cross_attention_dim: required"):
        importer.import_model(folder, tmp_path / "store", "x")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes((FIXTURES / "tiny-ldm.safetensors").read_bytes()[:5000])
    with pytest.raises(ValueError, match="cut.safetensors: not a readable safetensors"):
        importer.import_model(truncated, tmp_path / "store", "x", config=FOLDER)
    ints = _tampered_vae(tmp_path, lambda t: t.update(
        {"quant_conv.bias": t["quant_conv.bias"].astype(np.int32)}))
    with pytest.raises(ValueError, match="tensor quant_conv.bias: dtype int32, expected a float"):
        importer.import_model(ints, tmp_path / "store", "x")
    assert not (tmp_path / "store" / "x").exists()


def test_bfloat16_weights_import_as_their_float32_values(tmp_path, store):
    import ml_dtypes
    folder = _tampered_vae(tmp_path, lambda t: t.update(
        {k: v.astype(ml_dtypes.bfloat16) for k, v in t.items()}))
    importer.import_model(folder, tmp_path / "store", "bf16")
    importer.import_model(FOLDER / "vae", tmp_path / "store", "f32")
    ours = importer.load_imported(tmp_path / "store" / "bf16")["vae"][1]
    exact = importer.load_imported(tmp_path / "store" / "f32")["vae"][1]
    rounded = jax.tree.map(lambda x: np.asarray(np.asarray(x).astype(ml_dtypes.bfloat16),
                                                np.float32), exact)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(rounded)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(np.asarray(a), b)
    assert any(not np.array_equal(np.asarray(a), np.asarray(b))
               for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(exact))), "really bf16"


def test_diffusers_head_semantics():
    # attention_head_dim is a head count (diffusers' naming): SD 1.x 8 heads, SD 2.x 64-wide
    sd1 = UNet2DConditionConfig(block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768)
    assert sd1.heads == (8, 8, 8, 8)
    sd2 = UNet2DConditionConfig(block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=1024,
                                attention_head_dim=(5, 10, 20, 20))
    assert [c // h for c, h in zip(sd2.block_out_channels, sd2.heads)] == [64, 64, 64, 64]


@pytest.mark.parametrize("preset", ["sd15", "sd21", "sdxl"])
def test_each_presets_parameter_counts_equal_diffusers_and_transformers(info, preset):
    """The full-size architectures, from shapes alone: the counts diffusers and transformers
    gave the same configs (presets.json) when the fixture script built them."""
    from latentlab.models.sd import presets
    built = presets.configs(preset)
    recorded = info["preset_counts"][preset]
    assert sorted(built) == sorted(recorded)
    for component, (cls, cfg) in built.items():
        assert presets.parameter_count(cls, cfg) == recorded[component], (preset, component)


def test_an_unknown_preset_is_refused_naming_the_presets():
    from latentlab.models.sd import presets
    with pytest.raises(ValueError,
                       match=r"^model.preset: unknown value 'sd3'; allowed: sd15, sd21, sdxl$"):
        presets.configs("sd3")


# --- SDXL: two text encoders, the text-time embedding, zeros for an absent negative prompt ---

@pytest.fixture(scope="module")
def sdxl(store):
    summary = importer.import_model(FIXTURES / "sdxl", store, "sdxl")
    return summary, pipeline.TextToImage(store / "sdxl"), load_file(
        str(FIXTURES / "sdxl-reference.safetensors"))


def test_sdxl_imports_both_encoders_and_tokenizers(sdxl, info):
    summary, model, _ = sdxl
    assert {k: v["parameters"] for k, v in summary["components"].items()} == info["sdxl"]["counts"]
    assert model.xl and model.zeros_for_empty
    assert model.tokenizer_2.pad_id != model.tokenizer.pad_id  # "!" pads the second's ids


def test_sdxl_prompt_encoding_and_unet_match_diffusers(sdxl, info):
    _, model, ref = sdxl
    context = model.encode_text(info["sdxl"]["encode_prompts"])
    assert max_error(context["states"], ref["encode.prompt_embeds"]) <= PER_COMPONENT
    assert max_error(context["text_embeds"], ref["encode.pooled"]) <= PER_COMPONENT
    out = apply(model.unet, model.unet_params, nhwc(ref["unet.sample"]),
                jnp.asarray(ref["unet.timesteps"]), jnp.asarray(ref["unet.context"]),
                {"text_embeds": jnp.asarray(ref["unet.text_embeds"]),
                 "time_ids": jnp.asarray(ref["unet.time_ids"])})
    assert max_error(out, nhwc(ref["unet.out"])) <= PER_COMPONENT


def test_sdxl_pipeline_matches_diffusers(sdxl, info):
    """10 DDIM steps with guidance 5 and no negative prompt (zeros, as diffusers conditions
    SDXL then), the size ids of a 16 × 16 image, decoded by a VAE scaled by 0.13025."""
    _, model, ref = sdxl
    settings = info["sdxl"]["pipeline"]
    assert model.scaling_factor == 0.13025
    final, image = model(settings["prompt"], "", nhwc(ref["pipe.init_latents"]),
                         steps=settings["steps"], guidance_scale=settings["guidance_scale"],
                         sampler="ddim")
    assert max_error(final, nhwc(ref["pipe.final_latents"])) <= PIPELINE
    assert max_error(image, nhwc(ref["pipe.image"])) <= PIPELINE


# --- SD 2.x: v-prediction, and single files with OpenCLIP's text encoder --------------------

def test_sd2_pipeline_with_v_prediction_matches_diffusers(store, info):
    importer.import_model(FIXTURES / "sd2", store, "sd2")
    ref = load_file(str(FIXTURES / "sd2-reference.safetensors"))
    model = pipeline.TextToImage(store / "sd2")
    assert model.diffusion["prediction"] == "v"
    settings = info["sd2"]["pipeline"]
    final, image = model(settings["prompt"], settings["negative_prompt"],
                         nhwc(ref["pipe.init_latents"]), steps=settings["steps"],
                         guidance_scale=settings["guidance_scale"], sampler="ddim")
    assert max_error(final, nhwc(ref["pipe.final_latents"])) <= PIPELINE
    assert max_error(image, nhwc(ref["pipe.image"])) <= PIPELINE


@pytest.mark.parametrize("name", ["sd2", "sdxl"])
def test_an_open_clip_single_file_imports_the_folders_weights(store, name):
    """SD 2.x (OpenCLIP ViT-H in cond_stage_model.model, a layer past the 23 diffusers keeps)
    and SDXL (conditioner.embedders.0 and .1) single files, written by the fixture script and
    read back by diffusers' own converters there, import to the folder's weights."""
    folder = importer.import_model(FIXTURES / name, store, f"{name}-folder")
    single = importer.import_model(FIXTURES / f"tiny-{name}-ldm.safetensors", store,
                                   f"{name}-single", config=FIXTURES / name)
    assert single["source_kind"] == "single-file"
    assert single["weights_sha256"] == folder["weights_sha256"]
