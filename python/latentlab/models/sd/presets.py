"""Full-size Stable Diffusion architectures by name, for random-weight models: what a bench
measures without downloading weights, and what parameter counts are checked against.

``sd15``: Stable Diffusion 1.5's U-Net, VAE and CLIP ViT-L/14 text encoder, the configs of
``runwayml/stable-diffusion-v1-5``. ``sd21``: Stable Diffusion 2.1's (768 px, v-prediction):
heads 64 wide, linear projections, cross-attention from OpenCLIP ViT-H/14 as diffusers stores
it (a CLIPTextModel of 23 layers: SD 2.x reads the penultimate layer of the 24). ``sdxl``:
SDXL 1.0 base's: three levels with 1, 2 and 10 transformer layers per block, cross-attention
from both text encoders' hidden states side by side (768 + 1280), and the text-time embedding
of the pooled projection (1280) and six size/crop ids (6 × 256); its VAE's scaling factor
0.13025.

The configs live in ``presets.json`` beside this module, in diffusers' and transformers' keys;
the fixture script builds the same configs with diffusers and transformers and records the
parameter counts they give (``preset_counts`` in the fixtures' ``versions.json``), which
``test_sd_parity`` checks these against.
"""

import json
import math
from pathlib import Path

from latentlab.models.sd import config as config_lib
from latentlab.models.sd import importer

# {preset: {component: {"class", "config"}, "scheduler": {...}}}: diffusers' and transformers'
# config keys, read by this module and by scripts/sd_fixtures/make_fixtures.py (which counts
# the same configs' parameters with diffusers and transformers).
PRESETS = json.loads((Path(__file__).parent / "presets.json").read_text())


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
        cls, values = spec["class"], spec["config"]
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
