"""Draws the real emoji laid out like a run's 8×8 sample grid: position i holds an emoji of
class i mod 9 (the classes a sample grid cycles through), each class's training examples in
their data-set order, preprocessed exactly as training sees them.

    .venv/bin/python scripts/emoji_real_grid.py OUT.png [CONFIG.yaml]

CONFIG defaults to experiments/emoji.yaml; only its data section is read.
"""

import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

from latentlab.data import sources  # noqa: E402
from latentlab.data.source import split_indices  # noqa: E402

PAD = 2  # black lines between the tiles, as Java's image grids draw them


def main(out: str, config: str = str(ROOT / "experiments" / "emoji.yaml")) -> None:
    with open(config) as f:
        section = yaml.safe_load(f)["data"]
    source = sources.open_source(section, ROOT)
    train, _ = split_indices(len(source), section.get("holdout", 0))
    by_class: dict[int, list[int]] = {}
    for index in sorted(int(i) for i in train):
        by_class.setdefault(source[index].label, []).append(index)
    num_classes = len(source.classes)
    h, w, c = source.shape
    grid = np.zeros((8 * (h + PAD) + PAD, 8 * (w + PAD) + PAD, c), np.uint8)
    for i in range(64):
        label = i % num_classes
        image = source[by_class[label][i // num_classes]].image
        row, col = divmod(i, 8)
        y, x = PAD + row * (h + PAD), PAD + col * (w + PAD)
        grid[y:y + h, x:x + w] = image
    Image.fromarray(grid.squeeze(-1) if c == 1 else grid).resize(
        (grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(out)
    print(f"wrote {out}: classes {', '.join(source.classes)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
