"""Training loops: explicit TrainState pytrees, Optax optimisers, EMA weights."""
