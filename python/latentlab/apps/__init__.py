"""The applications: what LatentLab does with a trained model, each built on the library.

- :mod:`~latentlab.apps.evaluate`: FID beside its floors, conditional accuracy, the
  quality-versus-NFE table;
- :mod:`~latentlab.apps.sdedit`: starting a sampler part-way from encoded images, which the
  three below build on;
- :mod:`~latentlab.apps.denoise`: restoring noisy digits beside classical denoisers;
- :mod:`~latentlab.apps.inpaint`: completing masked digits (Java drives the sampling loop);
- :mod:`~latentlab.apps.anomaly`: scoring digits of unseen classes as anomalous;
- :mod:`~latentlab.apps.text_to_image`: prompts to pictures with an imported Stable Diffusion
  model.

They import the library (:mod:`latentlab.sampling`, :mod:`latentlab.checkpoint`, the
subpackages) and nothing above it: :mod:`latentlab.bridge` calls them, never the other way
(``tests/test_layering.py`` checks it).
"""
