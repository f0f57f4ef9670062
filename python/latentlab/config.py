"""The parts of an experiment config that Python owns.

Java parses, validates and fills the experiment's structure (name, seed, data, train, sample).
The model sections and the names of schedules and samplers belong to this package, so Java
sends the config here to have them checked and filled: one schema, not two.
"""

import copy

from latentlab.diffusion import samplers, schedules
from latentlab.models import UNet, VAE
from latentlab.models.fields import resolve_section

MODEL_SECTIONS = {"vae": VAE, "unet": UNet}


def resolve(config: dict) -> dict:
    """Returns a copy of ``config`` with model sections filled with their defaults, and the
    sampler's own η where the config leaves ``sample.eta`` out.

    Raises:
      ValueError: ``key.path: what is wrong; what is allowed`` for the first problem found.
    """
    config = copy.deepcopy(config)
    models = config.get("model") or {}
    unknown = sorted(set(models) - set(MODEL_SECTIONS))
    if unknown:
        raise ValueError(f"model.{unknown[0]}: unknown model section; allowed: "
                         f"{', '.join(sorted(MODEL_SECTIONS))}")
    config["model"] = {name: resolve_section(cls, models.get(name), f"model.{name}")
                       for name, cls in MODEL_SECTIONS.items()}
    _check_choice(config, ("diffusion", "beta_schedule"), schedules.BETA_SCHEDULES)
    _check_choice(config, ("sample", "sampler"), samplers.SAMPLERS)
    _check_choice(config, ("sample", "spacing"), schedules.SPACINGS)
    sample = config.get("sample")
    if sample is not None and sample.get("eta") is None and sample.get("sampler"):
        sample["eta"] = samplers.default_eta(sample["sampler"])  # the sampler's own noise
    return config


def _check_choice(config: dict, path: tuple[str, str], allowed: tuple[str, ...]) -> None:
    value = config.get(path[0], {}).get(path[1])
    if value is not None and value not in allowed:
        raise ValueError(f"{'.'.join(path)}: unknown value {value!r}; allowed: "
                         f"{', '.join(allowed)}")
