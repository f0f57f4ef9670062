"""LatentLab: latent diffusion models in JAX/Flax, orchestrated from Java.

Java calls only :mod:`latentlab.bridge`; everything else is an ordinary library. The package
in layers, each importing only from itself and the layers below (``tests/test_layering.py``):

- fixtures: :mod:`latentlab.testing`, :mod:`latentlab.bench` — registered by Java's test and
  benchmark JVMs only;
- the Java boundary: :mod:`latentlab.bridge` (the table of entry points) and
  :mod:`latentlab.config` (what Java asks about configs, and the constants it keeps copies of);
- applications, :mod:`latentlab.apps`: evaluate, sdedit, denoise, inpaint, anomaly;
- the library: :mod:`latentlab.sampling` (sampling a trained model, and the rules of a
  sampling request), :mod:`latentlab.checkpoint`, :mod:`latentlab.experiment` (the
  Python-owned parts of a config), :mod:`latentlab.execution`, :mod:`latentlab.tensors`,
  :mod:`latentlab.compilation_cache`, :mod:`latentlab.files`, and the subpackages
  ``diffusion/`` (pure JAX math), ``models/``, ``train/``, ``data/``, ``metrics/``.
"""

__version__ = "0.1.0"
