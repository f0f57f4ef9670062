"""From any image file to what a model sees: uint8 [H, W, C] at the config's resolution.

The ``data`` section says how (see :class:`Preprocessing`): ``resolution`` (an int or
[h, w]), ``channels`` (1 or 3), ``resize`` (``crop``: shorter side to size, then the centre;
``stretch``; ``pad``: longer side to size, then the border in ``background``) and
``background`` (the colour that transparent pixels are composited on; default white).
Every Pillow mode is converted (L, LA, P, RGBA, CMYK, I;16, ...), not refused. Random flips
are not here: the loader draws them per step from the seed.

:func:`decode` opens encoded bytes or a file with Pillow's decompression-bomb limit in force:
an image of more than ``Image.MAX_IMAGE_PIXELS`` pixels is refused in one line naming it.
"""

import dataclasses
import io
import os
import warnings

import numpy as np
from PIL import Image, ImageColor, ImageOps

RESIZE_MODES = ("crop", "stretch", "pad")
# data.flip: none, or a horizontal flip of each training image drawn from the seed and the step
FLIPS = ("none", "horizontal")
CHANNELS = (1, 3)
DEFAULT_RESOLUTION = 32
DEFAULT_CHANNELS = 3
DEFAULT_BACKGROUND = "white"
# Pillow's own default limit (about 89 megapixels), used if a library turned the limit off
# (Image.MAX_IMAGE_PIXELS = None): images from a data set are untrusted input.
DEFAULT_MAX_PIXELS = 89_478_485
# Resampling for every resize: Lanczos is the sharpest of Pillow's filters when shrinking,
# and deterministic.
RESAMPLE = Image.Resampling.LANCZOS
# What Pillow raises for a broken or unreadable file, besides its bomb error.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                 Image.DecompressionBombError)


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How every image of a data set is turned into the model's input."""

    height: int
    width: int
    channels: int                          # 1 (grey) or 3 (RGB)
    resize: str = "crop"                   # one of RESIZE_MODES
    background: tuple[int, int, int] = (255, 255, 255)  # RGB under transparent pixels

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def parse_colour(value, key: str = "data.background") -> tuple[int, int, int]:
    """An RGB triple from "#rrggbb", "#rgb" or a colour name (Pillow's list: white, black...).

    Raises:
      ValueError: one line naming ``key``.
    """
    if not isinstance(value, str):
        raise ValueError(f"{key}: must be a colour such as \"#rrggbb\" or white, got {value!r}")
    try:
        rgb = ImageColor.getrgb(value)
    except ValueError:
        raise ValueError(f"{key}: unknown colour {value!r}; use \"#rrggbb\" or a name such as "
                         "white or black") from None
    return tuple(int(c) for c in rgb[:3])


def from_section(section: dict, default_resolution: int = DEFAULT_RESOLUTION,
                 default_channels: int = DEFAULT_CHANNELS) -> Preprocessing:
    """The preprocessing a ``data`` section asks for, its keys checked.

    Raises:
      ValueError: ``data.key: what is wrong; what is allowed`` for the first bad key.
    """
    resolution = section.get("resolution")
    if resolution is None:
        resolution = default_resolution
    if _positive_int(resolution):
        height = width = resolution
    elif (isinstance(resolution, (list, tuple)) and len(resolution) == 2
          and all(_positive_int(v) for v in resolution)):
        height, width = resolution
    else:
        raise ValueError(f"data.resolution: must be a positive int or [height, width], got "
                         f"{resolution!r}")
    channels = section.get("channels")
    channels = default_channels if channels is None else channels
    if channels not in CHANNELS or isinstance(channels, bool):
        raise ValueError(f"data.channels: must be 1 (grey) or 3 (RGB), got {channels!r}")
    resize = section.get("resize") or "crop"
    if resize not in RESIZE_MODES:
        raise ValueError(f"data.resize: unknown value {resize!r}; allowed: "
                         f"{', '.join(RESIZE_MODES)}")
    background = parse_colour(section.get("background") or DEFAULT_BACKGROUND)
    return Preprocessing(int(height), int(width), int(channels), resize, background)


def decode(data: bytes | str | os.PathLike, name: str) -> Image.Image:
    """Opens and decodes an image (encoded bytes or a file); ``name`` says where it came from.

    Raises:
      ValueError: ``name: what is wrong; fix`` for a file Pillow cannot read, a truncated or
        corrupt one, or a decompression bomb.
    """
    image = open_checked(data, name)
    try:
        image.load()
    except DECODE_ERRORS as e:
        raise ValueError(f"{name}: cannot decode the image ({_reason(e)}); replace or remove "
                         "it, or set data.on_error: skip") from None
    return image


def open_checked(data: bytes | str | os.PathLike, name: str) -> Image.Image:
    """Reads an image's header (not its pixels), refusing images over the pixel limit."""
    limit = Image.MAX_IMAGE_PIXELS or DEFAULT_MAX_PIXELS
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        with warnings.catch_warnings():
            # Pillow only warns between the limit and twice the limit; a data set is untrusted.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{name}: the image has more pixels than Pillow's limit of {limit} "
                         "(a decompression bomb?); remove it, or shrink it") from None
    except DECODE_ERRORS as e:
        raise ValueError(f"{name}: not an image Pillow can read ({_reason(e)}); replace or "
                         "remove it, or set data.on_error: skip") from None
    if image.width * image.height > limit:
        raise ValueError(f"{name}: {image.width}×{image.height} pixels is more than Pillow's "
                         f"limit of {limit} (a decompression bomb?); remove it, or shrink it")
    return image


def verify(data: bytes | str | os.PathLike, name: str) -> None:
    """A cheap check that an image decodes, made before training: the header and pixel
    limit always; PNG chunks' checksums (Pillow's ``verify``); a JPEG decoded at 1/8 scale
    (which still reads every byte of it); other formats decoded whole.

    Raises:
      ValueError: one line naming ``name``, as :func:`decode`.
    """
    try:
        with open_checked(data, name) as image:
            if image.format == "PNG":
                image.verify()
            else:
                if image.format == "JPEG":
                    image.draft(image.mode, (1, 1))
                image.load()
    except DECODE_ERRORS as e:
        raise ValueError(f"{name}: cannot decode the image ({_reason(e)}); replace or remove "
                         "it, or set data.on_error: skip") from None


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def _to_8_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grey (I;16, I, F) → L, keeping the whole range (Pillow's own convert
    clips values above 255 instead of scaling them)."""
    values = np.asarray(image)
    if image.mode == "F":
        values = np.nan_to_num(values.astype(np.float64))
        scaled = values * 255 if values.max(initial=0) <= 1 else values
    else:
        values = values.astype(np.int64)
        wide = image.mode.startswith("I;16") or values.max(initial=0) > 255
        scaled = values / 257 if wide else values
    return Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), "L")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def to_array(image: Image.Image, prep: Preprocessing) -> np.ndarray:
    """Converts ``image`` (any mode, any size) to uint8 [H, W, C] as ``prep`` says."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _to_8_bit(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, prep.background + (255,))
        image = Image.alpha_composite(ground, rgba).convert("RGB")
    if prep.channels == 1:
        image = image.convert("L")
    elif image.mode != "RGB":
        image = image.convert("RGB")  # L, P, CMYK, YCbCr, 1, ...
    size = (prep.width, prep.height)
    if image.size != size:
        if prep.resize == "crop":
            image = ImageOps.fit(image, size, RESAMPLE, centering=(0.5, 0.5))
        elif prep.resize == "stretch":
            image = image.resize(size, RESAMPLE)
        else:
            fill = prep.background if prep.channels == 3 else _grey(prep.background)
            image = ImageOps.pad(image, size, RESAMPLE, color=fill, centering=(0.5, 0.5))
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def _grey(rgb: tuple[int, int, int]) -> int:
    """The grey level Pillow's RGB → L conversion gives ``rgb`` (ITU-R 601-2 luma)."""
    return int(Image.new("RGB", (1, 1), rgb).convert("L").getpixel((0, 0)))


def load(data: bytes | str | os.PathLike, name: str, prep: Preprocessing) -> np.ndarray:
    """Decodes and preprocesses one image: uint8 [H, W, C]."""
    with decode(data, name) as image:
        return to_array(image, prep)
