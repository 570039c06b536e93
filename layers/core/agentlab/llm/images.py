"""A conversation's images fitted to a provider's limits before a request is sent.

`fit_images` is a pure function over the provider-neutral messages: over the count, the conversation's most recent
images are kept and each older one becomes a short note in its message; an image over the byte or pixel limit is
downscaled (and re-encoded, as JPEG where a lossless format cannot fit); an image that cannot be decoded becomes a
note. Images within the limits are recognized from their headers alone and pass through byte for byte, so Pillow is
imported only when an image needs work: a cold step that sends a chart within limits never loads it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import struct
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentlab.llm.types import ImageBlock, ImageMediaType, Message, ToolResult

if TYPE_CHECKING:
    from PIL import Image as PILImage

logger = logging.getLogger(__name__)

# Decoding holds about three or four bytes a pixel in memory: above Pillow's own decompression-bomb threshold
# (about 89 megapixels, 0.25 GiB at 24 bits a pixel) an image is left out rather than decoded. A JPEG is decoded at
# a reduced scale when it is to be downscaled anyway, so this applies to the reduced size.
MAX_DECODE_PIXELS = 1024 * 1024 * 1024 // 4 // 3
# Only the formats a provider accepts are decoded: Pillow's other plugins never see untrusted bytes.
DECODABLE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
LOSSY_QUALITIES = (85, 70)
MAX_FIT_ROUNDS = 8
# Every turn sends the conversation's images again: a warm process keeps the last refitted ones (up to this many
# bytes of output) rather than decode and encode the same picture on every turn.
REFIT_CACHE_BYTES = 32 * 1024 * 1024

COUNT_NOTE = "[An image was left out here: only the {limit} most recent images are sent to the model.]"
UNREADABLE_NOTE = "[An image was left out here: {reason}.]"


@dataclass(frozen=True)
class ImageLimits:
    """What one request to a provider may carry."""

    max_images: int
    max_bytes: int
    max_side_px: int


class ImageNotFitted(ValueError):
    """The image cannot be sent; the message says why, in words the model reads in the note."""


def fit_images(messages: list[Message], limits: ImageLimits) -> list[Message]:
    """The messages with every image within `limits`; the input is left unchanged.

    The kept images are the last ones in conversation order, where a message's tool-result images come before its
    own (the order both providers send them); an image that cannot be fitted does not take a place among them.
    """
    slots = [
        (m, r, i)
        for m, message in enumerate(messages)
        for r, images in _image_lists(message)
        for i in range(len(images))
    ]
    outcomes: dict[tuple[int, int, int], ImageBlock | str] = {}
    kept = 0
    for slot in reversed(slots):
        image = _image_at(messages, slot)
        if kept >= limits.max_images:
            outcomes[slot] = COUNT_NOTE.format(limit=limits.max_images)
            continue
        try:
            outcomes[slot] = fit_image(image, limits)
        except ImageNotFitted as exc:
            logger.warning("image left out of the request: %s", exc)
            outcomes[slot] = UNREADABLE_NOTE.format(reason=exc)
            continue
        kept += 1
    dropped = len(slots) - kept
    if dropped:
        logger.warning("%d of %d images left out of the request (limit %d)", dropped, len(slots), limits.max_images)
    if all(outcomes[slot] is _image_at(messages, slot) for slot in slots):
        return list(messages)
    return [_with_outcomes(message, m, outcomes) for m, message in enumerate(messages)]


def fit_image(image: ImageBlock, limits: ImageLimits) -> ImageBlock:
    """`image` itself when it is within the limits (with its real media type), else a downscaled copy.

    Raises ImageNotFitted when the bytes are not a decodable PNG, JPEG, GIF or WebP image, or too large to decode.
    """
    header = read_image_header(image.data)
    if header is not None:
        media_type, width, height = header
        if len(image.data) <= limits.max_bytes and max(width, height) <= limits.max_side_px:
            if media_type == image.media_type:
                return image
            return ImageBlock(media_type=media_type, data=image.data)
    key = (hashlib.sha256(image.data).digest(), limits)
    fitted = _REFITTED.get(key)
    if fitted is None:
        fitted = _refitted(image.data, limits)
        _REFITTED.put(key, fitted)
        logger.info(
            "image refitted for the request: %s, %d bytes -> %s, %d bytes",
            image.media_type,
            len(image.data),
            fitted.media_type,
            len(fitted.data),
        )
    return fitted


class _RefitCache:
    """The most recently refitted images, least recently used out first, within a budget of bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[bytes, ImageLimits], ImageBlock] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[bytes, ImageLimits]) -> ImageBlock | None:
        with self._lock:
            fitted = self._entries.get(key)
            if fitted is not None:
                self._entries.move_to_end(key)
            return fitted

    def put(self, key: tuple[bytes, ImageLimits], fitted: ImageBlock) -> None:
        if len(fitted.data) > self._max_bytes:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = fitted
            self._bytes += len(fitted.data)
            while self._bytes > self._max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.data)


_REFITTED = _RefitCache(REFIT_CACHE_BYTES)


def read_image_header(data: bytes) -> tuple[ImageMediaType, int, int] | None:
    """The format and the size in pixels (width, height) an image's header declares, without decoding it.

    None when the bytes do not start like a PNG, JPEG, GIF or WebP image or the header is cut short.
    """
    try:
        header = _header(data)
    except (struct.error, IndexError):
        return None
    if header is None or header[1] <= 0 or header[2] <= 0:
        return None
    return header


def _header(data: bytes) -> tuple[ImageMediaType, int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if data[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return "image/png", width, height
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return "image/gif", width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp_size(data)
        return ("image/webp", *size) if size else None
    if data.startswith(b"\xff\xd8\xff"):
        size = _jpeg_size(data)
        return ("image/jpeg", *size) if size else None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


# Start-of-frame markers carry the size; 0xC4, 0xC8 and 0xCC share the range but are tables and extensions.
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:
            offset += 1
        elif marker in _JPEG_STANDALONE_MARKERS:
            offset += 2
        elif marker in (0xD9, 0xDA):
            # The image ends or its scan starts before any frame header: not a JPEG we can size.
            return None
        elif marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return width, height
        else:
            (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
            offset += 2 + length
    return None


def _refitted(data: bytes, limits: ImageLimits) -> ImageBlock:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # MAX_DECODE_PIXELS is checked before anything is decoded; Pillow's DecompressionBombError still
            # refuses the absurd sizes at open.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            source = PILImage.open(io.BytesIO(data), formats=DECODABLE_FORMATS)
        with source:
            source_format = str(source.format)
            picture = _decoded(source, limits)
        return _encoded_within(picture, source_format, len(data), limits)
    except ImageNotFitted:
        raise
    except PILImage.DecompressionBombError as exc:
        raise ImageNotFitted(f"it is too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageNotFitted("it is not a PNG, JPEG, GIF or WebP image") from exc
    except Exception as exc:
        # Decoders fail on untrusted bytes in many ways (OSError, ValueError, SyntaxError, struct.error, ...);
        # none of them may fail a run.
        raise ImageNotFitted(f"it could not be read as an image ({type(exc).__name__}: {exc})") from exc


def _decoded(source: PILImage.Image, limits: ImageLimits) -> PILImage.Image:
    from PIL import ImageOps

    target = _scaled_size(source.size, limits.max_side_px)
    if source.format in ("JPEG", "MPO") and target != source.size:
        # Decode at 1/2, 1/4 or 1/8 of the size where that still covers the target: less memory, much faster.
        source.draft(None, target)
    width, height = source.size
    if width * height > MAX_DECODE_PIXELS:
        raise ImageNotFitted(f"at {width}x{height} px it is too large to decode safely")
    source.load()
    # Re-encoding drops EXIF, so its orientation is applied to the pixels; animations keep their first frame.
    picture = ImageOps.exif_transpose(source)
    return _with_usable_mode(picture)


def _with_usable_mode(picture: PILImage.Image) -> PILImage.Image:
    """A mode every output format can encode and LANCZOS can resample: RGB, RGBA, L or LA."""
    if picture.mode in ("RGB", "RGBA", "L", "LA"):
        return picture
    if picture.mode in ("P", "PA"):
        return picture.convert("RGBA" if picture.has_transparency_data else "RGB")
    if picture.mode.startswith("I"):
        # 16-bit greys: converting straight to 8 bits would clip everything above 255 to white.
        wide = picture.convert("I")
        _, highest = wide.getextrema()
        if isinstance(highest, int | float) and highest > 255:
            wide = wide.point(lambda value: value * (1 / 256))
        return wide.convert("L")
    return picture.convert("RGB")


def _scaled_size(size: tuple[int, int], max_side_px: int, factor: float = 1.0) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, max_side_px / max(width, height)) * factor
    if scale >= 1.0:
        return size
    return max(1, min(max_side_px, round(width * scale))), max(1, min(max_side_px, round(height * scale)))


# (Pillow format, media type, save options), tried in order at each size.
_Encoding = tuple[str, ImageMediaType, dict[str, Any]]


def _encodings(source_format: str, lossless_may_fit: bool) -> list[_Encoding]:
    jpeg: list[_Encoding] = [("JPEG", "image/jpeg", {"quality": quality}) for quality in LOSSY_QUALITIES]
    if source_format in ("JPEG", "MPO"):
        return jpeg
    if source_format == "WEBP":
        return [("WEBP", "image/webp", {"quality": quality}) for quality in LOSSY_QUALITIES]
    # PNG, and a GIF's first frame: lossless first; a photo saved as PNG may only fit as JPEG.
    return [("PNG", "image/png", {}), *jpeg] if lossless_may_fit else jpeg


def _encoded_within(picture: PILImage.Image, source_format: str, source_bytes: int, limits: ImageLimits) -> ImageBlock:
    from PIL import Image as PILImage

    size = _scaled_size(picture.size, limits.max_side_px)
    for _ in range(MAX_FIT_ROUNDS):
        resized = (
            picture if size == picture.size else picture.resize(size, PILImage.Resampling.LANCZOS, reducing_gap=3.0)
        )
        # A lossless encoding is about as large per pixel as the source's; encoding a large picture only to find
        # it too big costs seconds, so it is tried only where it has a chance.
        lossless_bytes = source_bytes * (size[0] * size[1]) / (picture.width * picture.height)
        smallest = math.inf
        for pil_format, media_type, options in _encodings(source_format, lossless_bytes <= 2 * limits.max_bytes):
            data = _encode(resized, pil_format, options)
            if len(data) <= limits.max_bytes:
                return ImageBlock(media_type=media_type, data=data)
            smallest = min(smallest, len(data))
        # Bytes grow with the pixel count: shrink both sides by the square root of the excess, within bounds.
        shrink = min(0.9, max(0.3, 0.95 * math.sqrt(limits.max_bytes / smallest)))
        size = _scaled_size(size, max(size), shrink)
    raise ImageNotFitted(f"it could not be brought under {limits.max_bytes} bytes")


def _encode(picture: PILImage.Image, pil_format: str, options: dict[str, Any]) -> bytes:
    if pil_format == "JPEG":
        picture = _flattened(picture)
    elif pil_format == "WEBP" and picture.mode in ("L", "LA"):
        picture = picture.convert("RGBA" if picture.mode == "LA" else "RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def _flattened(picture: PILImage.Image) -> PILImage.Image:
    """The picture on a white background: JPEG has no transparency."""
    from PIL import Image as PILImage

    if picture.mode not in ("RGBA", "LA"):
        return picture
    opaque_mode = "RGB" if picture.mode == "RGBA" else "L"
    background = PILImage.new(opaque_mode, picture.size, "white")
    background.paste(picture.convert(opaque_mode), mask=picture.getchannel("A"))
    return background


def _image_lists(message: Message) -> list[tuple[int, list[ImageBlock]]]:
    """A message's image lists in the order a provider sends them; -1 stands for the message's own images."""
    return [*((r, result.images) for r, result in enumerate(message.tool_results)), (-1, message.images)]


def _image_at(messages: list[Message], slot: tuple[int, int, int]) -> ImageBlock:
    m, r, i = slot
    message = messages[m]
    return (message.images if r < 0 else message.tool_results[r].images)[i]


def _with_outcomes(message: Message, m: int, outcomes: dict[tuple[int, int, int], ImageBlock | str]) -> Message:
    def split(r: int, count: int) -> tuple[list[ImageBlock], list[str]]:
        results = [outcomes[(m, r, i)] for i in range(count)]
        return [o for o in results if isinstance(o, ImageBlock)], [o for o in results if isinstance(o, str)]

    if not message.images and not any(result.images for result in message.tool_results):
        return message
    tool_results: list[ToolResult] = []
    for r, result in enumerate(message.tool_results):
        images, notes = split(r, len(result.images))
        tool_results.append(result.model_copy(update={"images": images, "content": _with_notes(result.content, notes)}))
    images, notes = split(-1, len(message.images))
    return message.model_copy(
        update={"images": images, "text": _with_notes(message.text, notes), "tool_results": tool_results}
    )


def _with_notes(text: str | None, notes: list[str]) -> str | None:
    if not notes:
        return text
    return "\n".join([text, *notes] if text else notes)
