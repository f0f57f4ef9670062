"""Training state saved during a stage, so that a killed run resumes where it was.

Each save is an Orbax checkpoint ``<stage>-<step, 8 digits>/`` holding the TrainState (step,
params, EMA, optimiser state) and the loss reports so far; once it is complete, older saves of
the stage are removed. Orbax writes into a temporary folder and renames it when complete, so a
run killed during a save resumes from the previous one. Every input of a step derives from the
step number (data order, noise), so a resumed stage ends bitwise equal to an uninterrupted one
on CPU.
"""

import os
import re
import shutil
from pathlib import Path

import jax
from flax import serialization

from latentlab.checkpoint import restore_tree, save_tree
from latentlab.train.state import TrainState


class StageCheckpoints:
    """Saves and restores each stage's TrainState in ``folder`` every ``every`` steps."""

    def __init__(self, folder: str | os.PathLike, every: int):
        if every < 1:
            raise ValueError(f"checkpoint interval must be >= 1, got {every}")
        self.folder = Path(folder)
        self.every = every

    def _saves(self, stage: str) -> list[tuple[int, Path]]:
        """Complete saves of ``stage``, oldest first (Orbax's temporary folders do not match)."""
        if not self.folder.is_dir():
            return []
        pattern = re.compile(re.escape(stage) + r"-(\d{8})")
        found = [(int(m.group(1)), p) for p in self.folder.iterdir()
                 if (m := pattern.fullmatch(p.name)) and p.is_dir()]
        return sorted(found)

    def restore(self, stage: str, fresh: TrainState) -> tuple[TrainState, list[tuple[int, float]]]:
        """The latest saved state of ``stage`` (shaped like ``fresh``) and its loss reports, or
        ``fresh`` and no reports when nothing was saved."""
        saves = self._saves(stage)
        if not saves:
            return fresh, []
        tree, info = restore_tree(saves[-1][1], serialization.to_state_dict(fresh))
        state = serialization.from_state_dict(fresh, tree)
        history = [(int(s), float(l)) for s, l in info["history"]]
        return state, history

    def saved_step(self, stage: str) -> int:
        """The step the latest saved state of ``stage`` reached, or 0 if there is none."""
        saves = self._saves(stage)
        return saves[-1][0] if saves else 0

    def save(self, stage: str, state: TrainState, history: list[tuple[int, float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        step = int(state.step)
        save_tree(self.folder / f"{stage}-{step:08d}", serialization.to_state_dict(state),
                  {"stage": stage, "step": step,
                   "history": [[int(s), float(l)] for s, l in history]})
        keep = f"{stage}-{step:08d}"
        if jax.process_index() != 0:  # over several processes, the first removes
            return
        for path in self.folder.iterdir():  # earlier saves, and what a killed save left
            if path.name.startswith(f"{stage}-") and path.name != keep:
                shutil.rmtree(path, ignore_errors=True)
