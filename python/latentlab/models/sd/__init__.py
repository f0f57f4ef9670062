"""The Stable Diffusion family in Flax: diffusers' ``AutoencoderKL`` and
``UNet2DConditionModel``, transformers' ``CLIPTextModel`` (and its projection variant), the
CLIP BPE tokenizer, and the import of their safetensors weights (:mod:`.importer`)."""
