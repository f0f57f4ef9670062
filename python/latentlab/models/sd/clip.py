"""The CLIP text encoder (Radford et al. 2021) as Stable Diffusion uses it, in the layout of
transformers' ``CLIPTextModel`` and ``CLIPTextModelWithProjection``.

Token ids [B, L] int32 → hidden states [B, L, hidden_size] (after the final LayerNorm) and the
pooled output [B, hidden_size] at each sequence's end-of-text token (projected to
``projection_dim`` by the projection variant). Pre-LN transformer, causal self-attention.
Submodule names follow transformers' parameter names (``layers_0`` for ``layers.0``), which is
what :mod:`latentlab.models.sd.importer` maps.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from latentlab.models.sd.config import required

ACTIVATIONS = {
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
}


@dataclasses.dataclass(frozen=True)
class CLIPTextConfig:
    """The keys of a transformers ``CLIPTextConfig`` that shape the model."""

    vocab_size: int = required()
    hidden_size: int = required()
    intermediate_size: int = required()
    num_hidden_layers: int = required()
    num_attention_heads: int = required()
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    projection_dim: int = 512
    pad_token_id: int = 1
    bos_token_id: int = 49406
    eos_token_id: int = 49407

    def check(self):
        if self.hidden_size % self.num_attention_heads:
            yield "num_attention_heads", (f"must divide hidden_size {self.hidden_size}, "
                                          f"got {self.num_attention_heads}")
        if self.hidden_act not in ACTIVATIONS:
            yield "hidden_act", f"must be one of {', '.join(ACTIVATIONS)}, got {self.hidden_act!r}"


def pooled_positions(config: CLIPTextConfig, input_ids):
    """Where each sequence's end-of-text token is, as transformers picks it: the largest id
    (the legacy rule, for configs whose ``eos_token_id`` is 2) or the first ``eos_token_id``."""
    if config.eos_token_id == 2:
        return jnp.argmax(input_ids, axis=-1)
    return jnp.argmax((input_ids == config.eos_token_id).astype(jnp.int32), axis=-1)


class _Attention(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, x, mask):
        c = self.config
        batch, length, width = x.shape
        heads = c.num_attention_heads
        head_dim = width // heads
        split = lambda t: t.reshape(batch, length, heads, head_dim)
        q = split(nn.Dense(width, name="q_proj")(x)) * head_dim ** -0.5
        k = split(nn.Dense(width, name="k_proj")(x))
        v = split(nn.Dense(width, name="v_proj")(x))
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) + mask
        weights = jax.nn.softmax(logits, axis=-1)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, width)
        return nn.Dense(width, name="out_proj")(out)


class _EncoderLayer(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, x, mask):
        c = self.config
        h = nn.LayerNorm(c.layer_norm_eps, name="layer_norm1")(x)
        x = x + _Attention(c, name="self_attn")(h, mask)
        h = nn.LayerNorm(c.layer_norm_eps, name="layer_norm2")(x)
        h = _MLP(c, name="mlp")(h)
        return x + h


class _MLP(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, x):
        c = self.config
        h = ACTIVATIONS[c.hidden_act](nn.Dense(c.intermediate_size, name="fc1")(x))
        return nn.Dense(c.hidden_size, name="fc2")(h)


class _Embeddings(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, input_ids):
        c = self.config
        tokens = nn.Embed(c.vocab_size, c.hidden_size, name="token_embedding")(input_ids)
        positions = nn.Embed(c.max_position_embeddings, c.hidden_size,
                             name="position_embedding")(jnp.arange(input_ids.shape[-1]))
        return tokens + positions[None]


class _Encoder(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, x, mask):
        states = [x]
        for i in range(self.config.num_hidden_layers):
            x = _EncoderLayer(self.config, name=f"layers_{i}")(x, mask)
            states.append(x)
        return x, states


class _TextTransformer(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, input_ids, hidden_layer: int = -1):
        c = self.config
        length = input_ids.shape[-1]
        if length > c.max_position_embeddings:
            raise ValueError(f"input_ids: {length} tokens, the text encoder takes at most "
                             f"{c.max_position_embeddings}; tokenize with truncation")
        x = _Embeddings(c, name="embeddings")(input_ids)
        mask = jnp.where(jnp.tril(jnp.ones((length, length), bool)), 0.0,
                         jnp.finfo(jnp.float32).min)[None, None]
        x, states = _Encoder(c, name="encoder")(x, mask)
        last = nn.LayerNorm(c.layer_norm_eps, name="final_layer_norm")(x)
        pooled = last[jnp.arange(last.shape[0]), pooled_positions(c, input_ids)]
        # hidden_layer -1 is the final (normed) output; others are raw layer outputs, as
        # transformers' hidden_states[k] (SDXL conditions on hidden_states[-2]).
        hidden = last if hidden_layer == -1 else states[hidden_layer]
        return hidden, pooled


class CLIPTextModel(nn.Module):
    """transformers' ``CLIPTextModel``: ids [B, L] → (hidden states [B, L, D], pooled [B, D])."""

    config: CLIPTextConfig

    @nn.compact
    def __call__(self, input_ids, hidden_layer: int = -1):
        return _TextTransformer(self.config, name="text_model")(input_ids, hidden_layer)


class CLIPTextModelWithProjection(nn.Module):
    """``CLIPTextModelWithProjection`` (SDXL's second encoder): the pooled output goes through
    ``text_projection`` (no bias) to ``projection_dim``."""

    config: CLIPTextConfig

    @nn.compact
    def __call__(self, input_ids, hidden_layer: int = -1):
        hidden, pooled = _TextTransformer(self.config, name="text_model")(input_ids, hidden_layer)
        return hidden, nn.Dense(self.config.projection_dim, use_bias=False,
                                name="text_projection")(pooled)
