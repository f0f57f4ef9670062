"""Full-size Stable Diffusion architectures by name, for random-weight models: what a bench
measures without downloading weights, and what parameter counts are checked against.

``sd15``: Stable Diffusion 1.5's U-Net, VAE and CLIP ViT-L/14 text encoder, the configs of
``runwayml/stable-diffusion-v1-5`` (diffusers' and transformers' keys; the fixture script
records the same configs and the parameter counts diffusers and transformers give them:
859,520,964, 83,653,863 and 123,060,480, checked in ``test_sd_parity``). SD 2.x and SDXL
presets are not written yet.
"""

import math

from latentlab.models.sd import config as config_lib
from latentlab.models.sd import importer

PRESETS = {
    "sd15": {
        "unet": ("UNet2DConditionModel", {
            "sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
            "block_out_channels": [320, 640, 1280, 1280], "cross_attention_dim": 768,
            "attention_head_dim": 8}),
        "vae": ("AutoencoderKL", {
            "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2,
            "latent_channels": 4, "sample_size": 512,
            "down_block_types": ["DownEncoderBlock2D"] * 4,
            "up_block_types": ["UpDecoderBlock2D"] * 4}),
        "text_encoder": ("CLIPTextModel", {
            "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072,
            "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 77,
            "hidden_act": "quick_gelu"}),
        # diffusers' PNDM/DDIM scheduler config of SD 1.5, as the importer reads it
        "scheduler": {"_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
                      "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
                      "prediction_type": "epsilon", "set_alpha_to_one": False,
                      "steps_offset": 1, "timestep_spacing": "leading"},
    },
}


def names() -> list[str]:
    return sorted(PRESETS)


def configs(preset: str) -> dict:
    """{component: (class name, config object)} of a preset.

    Raises:
      ValueError: ``model.preset: …`` naming the presets there are.
    """
    if preset not in PRESETS:
        raise ValueError(f"model.preset: unknown value {preset!r}; allowed: {', '.join(names())}")
    found = {}
    for component, spec in PRESETS[preset].items():
        if component == "scheduler":
            continue
        cls, values = spec
        found[component] = (cls, config_lib.from_dict(importer.COMPONENTS[cls].config_cls, values,
                                                      f"preset {preset}: {component}"))
    return found


def random_component(cls: str, config, key):
    """(module, parameters) of one component with random weights, initialised by one jitted
    program (Flax's initialisers; speed and memory do not depend on the values)."""
    from latentlab.train.loops import run_once
    component = importer.COMPONENTS[cls]
    module = component.module(config)
    example = component.example(config)
    params = run_once(lambda k: module.init(k, *example)["params"], key)
    return module, params


def parameter_count(cls: str, config) -> int:
    """Parameters of a component, from its shapes alone (nothing allocated)."""
    return sum(math.prod(s.shape) for s in importer.COMPONENTS[cls].template(config).values())
