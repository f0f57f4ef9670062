"""Training state saved during a stage, so that a killed run resumes where it was.

One file per stage, ``<stage>-state.msgpack``, written atomically: Flax's msgpack form of the
TrainState (step, params, EMA, optimiser state) and the loss reports so far. Every input of a
step derives from the step number (data order, noise), so a resumed stage ends bitwise equal to
an uninterrupted one on CPU.
"""

import os
from pathlib import Path

import numpy as np
from flax import serialization

from latentlab.files import write_atomically
from latentlab.train.state import TrainState


class StageCheckpoints:
    """Saves and restores each stage's TrainState in ``folder`` every ``every`` steps."""

    def __init__(self, folder: str | os.PathLike, every: int):
        if every < 1:
            raise ValueError(f"checkpoint interval must be >= 1, got {every}")
        self.folder = Path(folder)
        self.every = every

    def _path(self, stage: str) -> Path:
        return self.folder / f"{stage}-state.msgpack"

    def restore(self, stage: str, fresh: TrainState) -> tuple[TrainState, list[tuple[int, float]]]:
        """The saved state of ``stage`` (shaped like ``fresh``) and its loss reports, or
        ``fresh`` and no reports when nothing was saved."""
        path = self._path(stage)
        if not path.is_file():
            return fresh, []
        saved = serialization.msgpack_restore(path.read_bytes())
        state = serialization.from_state_dict(fresh, saved["state"])
        history = [(int(s), float(l)) for s, l in np.asarray(saved["history"]).reshape(-1, 2)]
        return state, history

    def saved_step(self, stage: str) -> int:
        """The step the saved state of ``stage`` reached, or 0 if there is none."""
        path = self._path(stage)
        if not path.is_file():
            return 0
        return int(serialization.msgpack_restore(path.read_bytes())["state"]["step"])

    def save(self, stage: str, state: TrainState, history: list[tuple[int, float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = serialization.msgpack_serialize({
            "state": serialization.to_state_dict(state),
            "history": np.asarray(history, np.float64).reshape(-1, 2)})
        write_atomically(self._path(stage), data)
