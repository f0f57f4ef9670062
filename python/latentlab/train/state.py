"""Training state as an explicit pytree, and the optimiser that updates it."""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class TrainState:
    """Everything a training step reads and writes."""

    step: jax.Array            # [] int32
    params: Any                # the model's parameter pytree
    ema_params: Any            # exponential moving average of params (same structure)
    opt_state: optax.OptState
    tx: optax.GradientTransformation = struct.field(pytree_node=False)

    @classmethod
    def create(cls, params, tx: optax.GradientTransformation) -> "TrainState":
        return cls(step=jnp.zeros((), jnp.int32), params=params,
                   ema_params=jax.tree.map(jnp.copy, params), opt_state=tx.init(params), tx=tx)

    def apply_gradients(self, grads, ema_decay: float) -> "TrainState":
        """One optimiser step; the EMA decay warms up as min(decay, (1+n)/(10+n)) so that
        the random initial weights do not linger in the average of a short run."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        params = optax.apply_updates(self.params, updates)
        n = self.step.astype(jnp.float32)
        decay = jnp.minimum(ema_decay, (1.0 + n) / (10.0 + n))
        ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, self.ema_params, params)
        return self.replace(step=self.step + 1, params=params, ema_params=ema,
                            opt_state=opt_state)


def learning_rate_schedule(learning_rate: float, total_steps: int, warmup_steps: int):
    """Step → learning rate: linear warm-up from 0, then cosine decay to 10%."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=learning_rate, warmup_steps=warmup_steps,
        decay_steps=max(total_steps, warmup_steps + 1), end_value=0.1 * learning_rate)


def adamw(learning_rate: float, total_steps: int, warmup_steps: int,
          weight_decay: float = 0.0, clip_norm: float = 1.0) -> optax.GradientTransformation:
    """AdamW with :func:`learning_rate_schedule` and global-norm gradient clipping."""
    schedule = learning_rate_schedule(learning_rate, total_steps, warmup_steps)
    return optax.chain(optax.clip_by_global_norm(clip_norm),
                       optax.adamw(schedule, weight_decay=weight_decay))


def check_finite(loss: float, stage: str, step: int) -> None:
    """Stops a run whose loss went NaN or infinite, naming the step."""
    if not jnp.isfinite(loss):
        raise FloatingPointError(f"{stage}: loss became {loss} at step {step}; "
                                 "lower the learning rate or check the data")


ProgressFn = Callable[[str, int, int, float], None]

# Called after each training step as (stage, step, state, values). ``values`` holds the step's
# measurements ({"grad_norm": ...}, the global norm of the gradients before clipping) on the
# steps that report their loss, and is empty on the others: reading them costs one device
# sync per report, as the loss does. The state is the one the step returned; the hook may read
# it (sample previews from its EMA weights) but must not keep it: the next step reuses its
# buffers.
StepHook = Callable[[str, int, Any, dict[str, float]], None]


def no_progress(stage: str, step: int, total: int, loss: float) -> None:
    """A :data:`ProgressFn` that reports nothing."""
