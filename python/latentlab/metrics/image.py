"""Per-image quality metrics in float64 numpy: PSNR and SSIM (Wang et al. 2004).

SSIM follows scikit-image's ``structural_similarity`` defaults, so the two agree to rounding
(a test checks): a uniform 7×7 window, K1 = 0.01, K2 = 0.03, sample covariances (N/(N-1)),
reflected borders, and the mean taken over the image less a 3-pixel border. Colour images
[N, H, W, C]: PSNR over every channel's pixels, SSIM the mean of each channel's (as
``structural_similarity(..., channel_axis=-1)``).
"""

import numpy as np

SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _images(reference, estimate) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 [N, H, W] (grey: a trailing channel of 1 is dropped) or [N, H, W, C]
    (colour)."""
    a, b = (np.asarray(x, np.float64) for x in (reference, estimate))
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} and {b.shape}")
    if a.ndim == 4 and a.shape[-1] == 1:
        a, b = a[..., 0], b[..., 0]
    if a.ndim == 2:
        a, b = a[None], b[None]
    if a.ndim not in (3, 4):
        raise ValueError(f"need images [N, H, W] or [N, H, W, C], got shape {a.shape}")
    return a, b


def psnr(reference, estimate, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio of each image, in dB: 10 log10(range² / MSE). [N] float64;
    the MSE is floored at 1e-12 range² (as :func:`latentlab.metrics.psnr` does), so identical
    images score 120 dB rather than infinity, which JSON cannot carry."""
    a, b = _images(reference, estimate)
    mse = np.mean(np.square(a - b), axis=tuple(range(1, a.ndim)))
    return 10.0 * np.log10(data_range ** 2 / np.maximum(mse, 1e-12 * data_range ** 2))


def _box_mean(x: np.ndarray, size: int) -> np.ndarray:
    """The mean over a size×size window around every pixel of [N, H, W], borders reflected
    about the edge pixel's outer side (numpy ``symmetric``, scipy's ``reflect``)."""
    pad = size // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))
    return windows.mean(axis=(-2, -1))


def ssim(reference, estimate, data_range: float = 1.0) -> np.ndarray:
    """Mean structural similarity of each image. [N] float64 in [-1, 1]; 1 for identical."""
    a, b = _images(reference, estimate)
    if a.ndim == 4:  # each channel as a grey image, then the mean over channels
        count, channels = a.shape[0], a.shape[3]
        planes = [x.transpose(0, 3, 1, 2).reshape((-1,) + x.shape[1:3]) for x in (a, b)]
        return ssim(*planes, data_range=data_range).reshape(count, channels).mean(axis=1)
    n = SSIM_WINDOW * SSIM_WINDOW
    norm = n / (n - 1)
    mu_a, mu_b = _box_mean(a, SSIM_WINDOW), _box_mean(b, SSIM_WINDOW)
    var_a = norm * (_box_mean(a * a, SSIM_WINDOW) - mu_a * mu_a)
    var_b = norm * (_box_mean(b * b, SSIM_WINDOW) - mu_b * mu_b)
    cov = norm * (_box_mean(a * b, SSIM_WINDOW) - mu_a * mu_b)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    border = (SSIM_WINDOW - 1) // 2
    return s[:, border:-border, border:-border].mean(axis=(1, 2))
