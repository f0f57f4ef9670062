"""A training on a folder of PNG files, run as its own process by test_streaming (which kills
it with SIGKILL mid-way): python resume_program.py IMAGES RUN CONFIG_JSON.

FolderSource is a small on-disk Source read by Pillow, one file per example, standing in for
the image-folder source until it lands on this branch.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from latentlab.data.source import Example


def write_folder(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(folder / f"{i:04d}-{label}.png")


class FolderSource:
    def __init__(self, folder):
        self.files = sorted(Path(folder).glob("*.png"))
        self.fingerprint = "folder"
        self.classes = ("a", "b", "c")
        self.shape = np.asarray(Image.open(self.files[0])).shape

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        path = self.files[index]
        with Image.open(path) as image:
            return Example(np.asarray(image.convert("RGB")), int(path.stem.split("-")[1]), None)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import PROJECT  # noqa: F401  (enables the project's compilation cache)
    from latentlab.train import ldm
    ldm.CHECKPOINT_EVERY = 2

    def slow(stage, step, total, loss):
        if stage == "unet" and step > 0:
            time.sleep(30)  # killed here: unet-00000002 is saved before this report

    ldm.train_and_sample(json.loads(sys.argv[3]), FolderSource(sys.argv[1]), slow,
                         checkpoint_dir=sys.argv[2])
