"""Denoising images with a trained latent diffusion model, beside classical denoisers.

The noisy image is y = clip(x + S n, 0, 1), n ~ N(0, I) per pixel (a sensor that saturates).
Ours is SDEdit in the latent space (:mod:`latentlab.apps.sdedit`): encode y, add fresh noise up to
σ_start, sample back to 0, decode. Pixel noise S reaches the latents through the encoder as
some other noise: its size σ_lat(S) is measured on calibration digits (the RMS of
encode(y) - encode(x) in the U-Net's scaled latent space), and σ_start = strength × σ_lat(S).
"Ours, mean of K" averages K such restorations (an estimate of the posterior mean, which is
what PSNR rewards).

Every method's one parameter (blur width, TV weight, non-local-means h, our strength) is chosen
per S on the calibration digits — training digits, never the ones scored — by mean PSNR, so no
method is tuned on its test set. PSNR and SSIM are computed with data range 1 over every
channel, on the image less any border that is not data (the digits' 28×28 inside their 32×32
zero padding). Colour images are denoised by the classical methods per channel
(scikit-image's ``channel_axis``).
"""

import math

import jax
import numpy as np

from latentlab.apps import run_data, sdedit
from latentlab.checkpoint import LatentDiffusionModel
from latentlab.metrics.image import psnr, ssim
from latentlab.train.state import ProgressFn, no_progress

KEY_PIXEL_NOISE, KEY_SDEDIT = 11, 12  # purposes under the request's seed

# Each method's parameter grid; non-local means' h is a multiple of S.
GAUSSIAN_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0)
TV_WEIGHTS = (0.03, 0.06, 0.1, 0.2, 0.4)
NLM_H_FACTORS = (0.4, 0.6, 0.8, 1.0, 1.2)
STRENGTHS = (0.5, 1.0, 1.5, 2.0, 3.0)

METHODS = ("noisy", "gaussian", "tv", "nl_means", "ours", "ours_mean")
PICTURE_COLUMNS = ("noisy", "gaussian", "tv", "nl_means", "ours", "ours_mean", "clean")

DEFAULTS = {"steps": sdedit.DEFAULT_STEPS, "sampler": sdedit.DEFAULT_SAMPLER, "seed": 0,
            "average": 4, "calibration": 32, "picture_rows": 4}


def check_request(request: dict) -> dict:
    """The request with defaults filled: ``noise_sigmas`` (required, each in (0, 1]),
    ``steps``, ``sampler``, ``seed``, ``average`` (K), ``calibration`` (digits),
    ``picture_rows``.

    Raises:
      ValueError: one line naming the option and what is allowed.
    """
    from latentlab.diffusion import samplers
    request = {**DEFAULTS, **request}
    sigmas = request.get("noise_sigmas")
    if (not isinstance(sigmas, list) or not sigmas
            or any(not _number(s) or not 0 <= s <= 1 for s in sigmas)):
        raise ValueError(f"noise-sigma: need one or more noise levels in [0, 1] (pixel values "
                         f"are in [0, 1]), got {sigmas!r}")
    if request["sampler"] not in samplers.SAMPLERS:
        raise ValueError(f"sampler: unknown value {request['sampler']!r}; allowed: "
                         f"{', '.join(samplers.SAMPLERS)}")
    for key, low in (("steps", 1), ("seed", 0), ("average", 1), ("calibration", 2),
                     ("picture_rows", 0)):
        value = request[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{key}: must be an integer >= {low}, got {value!r}")
    if request.get("images"):
        _read(request["images"])  # a file that cannot be read is refused before any work
    return request


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def add_noise(images: np.ndarray, noise_sigma: float, key) -> np.ndarray:
    """clip(x + S n, 0, 1) with n drawn from ``key`` (row i from fold_in(key, i))."""
    n = np.asarray(jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i),
                                                        images.shape[1:]))(np.arange(len(images))))
    return np.clip(images + noise_sigma * n, 0.0, 1.0).astype(np.float32)


def _crop(images: np.ndarray, border: int) -> np.ndarray:
    """Images [N, H, W, C] less ``border`` pixels on each side (padding that is not data)."""
    if border == 0:
        return images
    return images[:, border:images.shape[1] - border, border:images.shape[2] - border]


def _classical(method: str, images: np.ndarray, parameter: float, noise_sigma: float):
    """A classical denoiser on images [N, H, W, C]: grey images as 2-D arrays, colour ones per
    channel (``channel_axis``)."""
    from skimage.filters import gaussian
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle
    grey = images.shape[-1] == 1
    axis = {} if grey else {"channel_axis": -1}
    out = []
    for image in (images[..., 0] if grey else images):
        if method == "gaussian":
            restored = gaussian(image, sigma=parameter, preserve_range=True, **axis)
        elif method == "tv":
            restored = denoise_tv_chambolle(image, weight=parameter, **axis)
        else:
            restored = denoise_nl_means(image, h=parameter * noise_sigma, sigma=noise_sigma,
                                        patch_size=5, patch_distance=6, fast_mode=True, **axis)
        out.append(restored)
    out = np.clip(np.asarray(out, np.float32), 0, 1)
    return out[..., None] if grey else out


def latent_noise(model: LatentDiffusionModel, clean: np.ndarray, noisy: np.ndarray) -> float:
    """σ_lat: the RMS difference of the two images' latents (scaled), over all elements."""
    diff = np.asarray(sdedit.encode(model, noisy)) - np.asarray(sdedit.encode(model, clean))
    return float(np.sqrt(np.mean(np.square(diff))))


def restore(model: LatentDiffusionModel, noisy: np.ndarray, sigma_start: float, key, *,
            steps: int, sampler: str, average: int = 1) -> np.ndarray:
    """Ours: the mean of ``average`` SDEdit restorations from σ_start, images [N, H, W, C].
    σ_start = 0 gives the VAE's reconstruction of ``noisy``."""
    latents = sdedit.encode(model, noisy)
    repeated = np.repeat(np.asarray(latents), average, axis=0)
    out = sdedit.decode(model, sdedit.regenerate(model, repeated, sigma_start, key, steps=steps,
                                                 sampler=sampler))
    return out.reshape((len(noisy), average) + out.shape[1:]).mean(axis=1)


def _score(clean, restored, border: int) -> tuple[float, float]:
    a, b = _crop(clean, border), _crop(restored, border)
    return float(np.mean(psnr(a, b))), float(np.mean(ssim(a, b)))


def denoise(model: LatentDiffusionModel, clean: np.ndarray, calibration: np.ndarray,
            request: dict, progress: ProgressFn = no_progress,
            border: int = 0) -> tuple[dict, np.ndarray]:
    """Scores every method at every noise level on ``clean`` [N, H, W, C] in [0, 1], each
    method's parameter chosen on ``calibration`` [M, H, W, C]; PSNR and SSIM leave out
    ``border`` pixels on each side (the digits' zero padding: 2).

    Returns (result, picture): result holds ``rows`` (one per noise level and method: mean
    PSNR in dB and SSIM, the chosen parameter), ``latent_sigmas`` and ``markdown``; picture is
    [len(noise_sigmas) × picture_rows × 7, H, W, C], row-major with the columns of
    :data:`PICTURE_COLUMNS`.
    """
    request = check_request(request)
    root = jax.random.PRNGKey(request["seed"])
    steps, sampler, average = request["steps"], request["sampler"], request["average"]
    rows, latent_sigmas, picture = [], {}, []
    total = len(request["noise_sigmas"]) * (len(METHODS) + 1)
    done = 0
    progress("denoise", 0, total, math.nan)
    for level, s in enumerate(request["noise_sigmas"]):
        noise_key = jax.random.fold_in(jax.random.fold_in(root, KEY_PIXEL_NOISE), level)
        noisy = add_noise(clean, s, noise_key)
        noisy_cal = add_noise(calibration, s, jax.random.fold_in(noise_key, 1 << 20))
        sd_key = jax.random.fold_in(jax.random.fold_in(root, KEY_SDEDIT), level)
        sigma_lat = latent_noise(model, calibration, noisy_cal)
        latent_sigmas[str(s)] = sigma_lat
        outputs = {"noisy": noisy}
        chosen = {"noisy": None}
        for method, grid in (("gaussian", GAUSSIAN_SIGMAS), ("tv", TV_WEIGHTS),
                             ("nl_means", NLM_H_FACTORS)):
            if s == 0:
                best = grid[0]
            else:
                best = max(grid, key=lambda p: _score(
                    calibration, _classical(method, noisy_cal, p, s), border)[0])
            chosen[method] = best
            outputs[method] = _classical(method, noisy, best, s) if s > 0 else noisy
            done += 1
            progress("denoise", done, total, math.nan)
        best = max(STRENGTHS, key=lambda k: _score(calibration, restore(
            model, noisy_cal, k * sigma_lat, sd_key, steps=steps, sampler=sampler), border)[0])
        chosen["ours"] = chosen["ours_mean"] = best
        outputs["ours"] = restore(model, noisy, best * sigma_lat, sd_key, steps=steps,
                                  sampler=sampler)
        done += 1
        progress("denoise", done, total, math.nan)
        outputs["ours_mean"] = restore(model, noisy, best * sigma_lat, sd_key, steps=steps,
                                       sampler=sampler, average=average)
        done += 2
        progress("denoise", done, total, math.nan)
        for method in METHODS:
            p, q = _score(clean, outputs[method], border)
            rows.append({"noise_sigma": s, "method": method, "psnr_db": p, "ssim": q,
                         "parameter": chosen[method]})
        outputs["clean"] = clean
        for i in range(min(request["picture_rows"], len(clean))):
            picture.extend(outputs[c][i] for c in PICTURE_COLUMNS)
    result = {"request": request, "images": int(len(clean)), "calibration_images":
              int(len(calibration)), "latent_sigmas": latent_sigmas, "rows": rows,
              "picture_columns": list(PICTURE_COLUMNS)}
    result["markdown"] = markdown(result)
    picture = np.asarray(picture, np.float32) if picture else np.zeros((0,) + clean.shape[1:],
                                                                      np.float32)
    return result, picture


PARAMETER_NAMES = {"gaussian": "σ_blur", "tv": "weight", "nl_means": "h/S", "ours": "strength",
                   "ours_mean": "strength"}
LABELS = {"noisy": "noisy input", "gaussian": "Gaussian blur", "tv": "total variation",
          "nl_means": "non-local means", "ours": "ours (SDEdit)",
          "ours_mean": "ours (SDEdit, mean of K)"}


def markdown(result: dict) -> str:
    """The table: PSNR / SSIM of each method at each noise level."""
    sigmas = list(dict.fromkeys(r["noise_sigma"] for r in result["rows"]))
    by = {(r["noise_sigma"], r["method"]): r for r in result["rows"]}
    k = result["request"]["average"]
    lines = ["| method | " + " | ".join(f"S = {s}" for s in sigmas) + " |",
             "|---|" + "---:|" * len(sigmas)]
    for method in METHODS:
        label = LABELS[method].replace("mean of K", f"mean of {k}")
        cells = []
        for s in sigmas:
            r = by[(s, method)]
            param = "" if r["parameter"] is None else f" ({PARAMETER_NAMES[method]} {r['parameter']})"
            cells.append(f"{r['psnr_db']:.2f} dB / {r['ssim']:.3f}{param}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _read(path: str, channels: int = 1) -> np.ndarray:
    """The array in an images file (.npy without pickle, or a .png as grey or RGB)."""
    if path.endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"images: cannot read {path} as a .npy array ({e})") from None
    if path.endswith(".png"):
        from PIL import Image
        try:
            with Image.open(path) as image:
                return np.asarray(image.convert("L" if channels == 1 else "RGB"))[None]
        except OSError as e:
            raise ValueError(f"images: cannot read {path} as a PNG ({e})") from None
    raise ValueError(f"images: {path} must be a .npy array or a .png image")


def load_images(path: str, shape: tuple[int, int, int] = (32, 32, 1),
                border: int = 2) -> np.ndarray:
    """Images to denoise from a file: ``.npy`` (no pickle) of [N, H, W] (grey) or
    [N, H, W, C] (uint8 0–255, or float in [0, 1]), or a ``.png`` of one image (converted to
    grey or RGB), where (H, W, C) is ``shape``, the model's input, or H, W less ``border`` on
    each side, zero-padded back (the defaults: the digits, 28×28 or 32×32). Returns model
    inputs [N, H, W, C] float32 in [0, 1].

    Raises:
      ValueError: one line naming the file and what is wrong.
    """
    height, width, channels = shape
    array = _read(path, channels)
    found = list(np.shape(array))
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 3 and channels == 1:
        array = array[..., None]
    sizes = [(height, width)] + ([(height - 2 * border, width - 2 * border)] if border else [])
    if (array.ndim != 4 or array.shape[1:3] not in sizes or array.shape[3] != channels
            or len(array) == 0):
        need = " or ".join(f"[N, {h}, {w}" + ("]" if channels == 1 else f", {channels}]")
                           for h, w in reversed(sizes))
        raise ValueError(f"images: {path} holds shape {found}; need {need} "
                         f"{'digits' if shape == (32, 32, 1) and border == 2 else 'images'}")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    array = np.asarray(array, np.float32)
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise ValueError(f"images: {path} has values outside [0, 1] (uint8 0–255 also works)")
    if array.shape[1:3] != (height, width):
        array = np.pad(array, ((0, 0), (border, border), (border, border), (0, 0)))
    return array


def denoise_run(model: LatentDiffusionModel, data: dict, home: str, request: dict,
                progress: ProgressFn = no_progress) -> tuple[dict, np.ndarray]:
    """:func:`denoise` on a run's data: ``request["heldout"]`` held-out images of the run's
    classes (``data`` is the run's data section, opened in the project ``home``), or the
    images in ``request["images"]`` (see :func:`load_images`); calibration images come from
    the run's training split.

    Raises:
      ValueError: one line, for a bad request, a missing file or too few held-out images.
    """
    request = check_request(request)
    source = run_data.open_data(data, home)
    border = run_data.border(data)
    holdout, classes = data.get("holdout", 0), data.get("classes")
    held = run_data.indices(source, holdout, classes, held_out=True)
    train = run_data.indices(source, holdout, classes, held_out=False)
    if request.get("images"):
        clean = load_images(request["images"], tuple(source.shape), border)
    else:
        count = request.get("heldout", 100)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= len(held):
            raise ValueError(f"heldout: must be in [1, {len(held)}] (the run's held-out "
                             f"{'digits' if run_data.is_digits(data) else 'images'}), got "
                             f"{count!r}")
        clean = run_data.examples(source, held[:count]).images
    if request["calibration"] > len(train):
        raise ValueError(f"calibration: the run has {len(train)} training "
                         f"{'digits' if run_data.is_digits(data) else 'images'}, fewer "
                         f"than {request['calibration']}")
    calibration = run_data.examples(source, train[:request["calibration"]]).images
    result, picture = denoise(model, clean, calibration, request, progress, border)
    noun = "digits" if run_data.is_digits(data) else "images"
    result["source"] = request.get("images") or f"held-out {noun} ({len(clean)})"
    return result, picture
