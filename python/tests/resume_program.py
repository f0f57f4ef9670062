"""A training on WebDataset shards, run as its own process by test_streaming (which kills it
with SIGKILL mid-way): python resume_program.py HOME RUN CONFIG_JSON.

The shards are read in place by the real ``webdataset`` source (their index cached under HOME),
the VAE stage and latent cache kept under HOME, checkpoints saved every 2 steps in RUN.
"""

import io
import json
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def write_shards(folder: Path, images: np.ndarray, labels: np.ndarray, shards: int = 2,
                 captions=None) -> str:
    """``images`` as ``shards`` tar shards of PNG + .cls members (and .txt, with
    ``captions``); returns their brace pattern."""
    folder.mkdir(parents=True)
    per_shard = -(-len(images) // shards)
    for shard in range(shards):
        with tarfile.open(folder / f"train-{shard:06d}.tar", "w") as archive:
            for i in range(shard * per_shard, min((shard + 1) * per_shard, len(images))):
                png = io.BytesIO()
                Image.fromarray(images[i]).save(png, format="PNG")
                members = [(f"{i:04d}.png", png.getvalue()),
                           (f"{i:04d}.cls", str(int(labels[i])).encode())]
                if captions is not None:
                    members.append((f"{i:04d}.txt", captions[i].encode()))
                for name, data in members:
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
    return str(folder / f"train-{{000000..{shards - 1:06d}}}.tar")


def kill_after_first_unet_save(home: Path, checkpoint_dir: Path, config: dict,
                               timeout: float = 180) -> None:
    """Runs this program on ``config`` and kills it with SIGKILL once the U-Net's save at step
    2 is on disk (its reports then sleep, so it is killed mid-stage)."""
    child = subprocess.Popen([sys.executable, __file__, str(home), str(checkpoint_dir),
                              json.dumps(config)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        while not any((Path(checkpoint_dir) / "training").glob("unet-00000002")):
            assert child.poll() is None, child.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import PROJECT  # noqa: F401  (enables the project's compilation cache)
    from latentlab.train import ldm

    def slow(stage, step, total, loss):
        if stage == "unet" and step > 0:
            time.sleep(30)  # killed here: unet-00000002 is saved before this report

    ldm.train_and_sample(json.loads(sys.argv[3]), None, slow, checkpoint_dir=sys.argv[2],
                         home=sys.argv[1])
