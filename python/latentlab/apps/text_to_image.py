"""Text to image with a model folder, as ``./latentlab sample MODEL`` runs it: the request
checked and sampled by :mod:`latentlab.models.sd.request` (its rules: options, image to image,
inpainting, reproducibility), then written into one folder by :func:`sample`: a PNG per image
(``image-000.png`` …), their grid ``images.png``, then ``result.json`` (the model's name and
weights hash, the full request, each image's prompt and cut tokens, warnings, timings, the
environment), each atomically; ``result.json`` last marks the folder complete, and a complete
folder is never written again.
"""

import json
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

from latentlab import execution
from latentlab.data.sources import grid, write_png
from latentlab.files import write_atomically
# the request's rules live in the library (a text run samples through them too); named here
# for the boundary and the tests
from latentlab.models.sd.request import (  # noqa: F401
    check_request, generate, init_latents, keep_mask, steps_sampled)
from latentlab.train.state import ProgressFn, no_progress

RESULT = "result.json"
GRID = "images.png"


def image_file(index: int) -> str:
    return f"image-{index:03d}.png"


def sample(folder: str | Path, request: dict, out_dir: str | Path, load,
           report: ProgressFn = no_progress) -> dict:
    """Checks ``request``, samples it with the model in ``folder`` (``load(folder)`` gives the
    :class:`~latentlab.models.sd.pipeline.TextToImage`, e.g. from a cache) and writes the
    images, their grid and ``result.json`` into ``out_dir`` (see the module docstring). Reports
    the stage ``sample`` (0 of steps before compiling and sampling, steps of steps after).
    Returns the result as written; a cut prompt is in its ``warnings``, not warned again.

    Raises:
      ValueError: one line, for a bad request (:func:`check_request`) or an ``out_dir`` that
        already holds a completed sample; nothing is written then.
    """
    folder, out = Path(folder), Path(out_dir)
    request = check_request(folder, request)
    if (out / RESULT).is_file():
        raise ValueError(f"{out}: holds a completed sample ({RESULT}); it is never overwritten")
    started = time.perf_counter()
    model = load(folder)
    loaded = time.perf_counter()
    report("sample", 0, request["steps"], float("nan"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pixels, cuts, negative_cut, _ = generate(model, request)
    sampled = time.perf_counter()
    report("sample", request["steps"], request["steps"], float("nan"))
    out.mkdir(parents=True, exist_ok=True)
    per_prompt = request["num_images"]
    images = []
    for i, image in enumerate(pixels):
        write_png(image, out / image_file(i))
        p = i // per_prompt
        images.append({"file": image_file(i), "prompt": request["prompts"][p], "prompt_index": p,
                       "index": i % per_prompt, "tokens_truncated": cuts[p]})
    columns = per_prompt if per_prompt > 1 else min(len(pixels), 8)
    write_png(grid(list(pixels), columns), out / GRID)
    meta = model.meta
    result = {
        "model": meta["name"], "weights_sha256": meta["weights_sha256"], "request": request,
        "images": images, "grid": GRID, "grid_columns": columns,
        "steps_sampled": steps_sampled(request),
        "size": [int(pixels.shape[1]), int(pixels.shape[2])],
        "negative_prompt_tokens_truncated": negative_cut,
        "warnings": [str(w.message) for w in caught],
        "seconds": {"load": round(loaded - started, 3), "sample": round(sampled - loaded, 3),
                    "write": round(time.perf_counter() - sampled, 3)},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": execution.environment(),
    }
    write_atomically(out / RESULT, json.dumps(result, indent=2, sort_keys=True).encode())
    return result
