"""Images fitted to each provider's limits before a request is built: count, bytes, pixels, undecodable bytes."""

import base64
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from typing import Any

import httpx
import pytest
from PIL import Image

from agentlab.llm import bedrock, openai
from agentlab.llm.bedrock import BedrockProvider
from agentlab.llm.images import MAX_DECODE_PIXELS, ImageLimits, fit_image, fit_images, read_image_header
from agentlab.llm.openai import OpenAICompatibleProvider
from agentlab.llm.types import ImageBlock, Message, ToolCall, ToolResult

BEDROCK_LIMITS = bedrock.IMAGE_LIMITS
OPENAI_LIMITS = openai.IMAGE_LIMITS
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def encoded(picture: Image.Image, pil_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def png(width: int, height: int, color: Any = (30, 120, 200)) -> ImageBlock:
    return ImageBlock(media_type="image/png", data=encoded(Image.new("RGB", (width, height), color), "PNG"))


def striped(width: int, height: int) -> Image.Image:
    """A chart-like picture: vertical stripes, so a resized copy still shows structure."""
    picture = Image.new("RGB", (width, height), "white")
    for x in range(0, width, 50):
        picture.paste((200, 40, 40), (x, 0, min(width, x + 10), height))
    return picture


def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    # Random pixels do not compress: the PNG is about as large as the raw pixels.
    return Image.frombytes(mode, (width, height), os.urandom(width * height * len(mode)))


def decoded(image: ImageBlock) -> Image.Image:
    picture = Image.open(io.BytesIO(image.data))
    picture.load()
    return picture


def media_type_of(picture: Image.Image) -> str:
    return Image.MIME[str(picture.format)]


def all_images(messages: list[Message]) -> list[ImageBlock]:
    return [image for m in messages for image in [*(i for r in m.tool_results for i in r.images), *m.images]]


def handmade_png(width: int, height: int, rows: bytes) -> bytes:
    """An 8-bit grey PNG written without Pillow: for a process that must not import it, or a header that lies."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def png_without_pillow(width: int, height: int) -> bytes:
    return handmade_png(width, height, b"".join(b"\x00" + b"\x80" * width for _ in range(height)))


def test_over_the_count_the_newest_images_are_kept_and_the_others_noted() -> None:
    # Given 25 images, alternately attached by the user and produced by a tool, each of its own width
    messages: list[Message] = []
    for n in range(25):
        image = png(10 + n, 10)
        if n % 2 == 0:
            messages.append(Message(role="user", text=f"picture {n}", images=[image]))
        else:
            messages.append(Message(role="assistant", tool_calls=[ToolCall(id=f"c{n}", name="python", arguments={})]))
            messages.append(
                Message(role="user", tool_results=[ToolResult(tool_call_id=f"c{n}", content="plotted", images=[image])])
            )
    original = all_images(messages)

    # When they are fitted to Bedrock's limits
    fitted = fit_images(messages, BEDROCK_LIMITS)

    # Then the 20 most recent are kept as they were, and the 5 oldest leave a note where each one was
    assert all_images(fitted) == original[5:]
    noted = [m for m in fitted if "left out" in (m.text or "") + "".join(r.content for r in m.tool_results)]
    assert len(noted) == 5
    assert (
        fitted[0].text
        == "picture 0\n[An image was left out here: only the 20 most recent images are sent to the model.]"
    )
    assert fitted[2].tool_results[0].content.startswith("plotted\n[An image was left out here")
    assert fitted[2].tool_results[0].images == []
    # The caller's conversation is untouched.
    assert all_images(messages) == original
    assert messages[0].text == "picture 0"


def test_an_image_that_cannot_be_fitted_does_not_take_a_place() -> None:
    limits = ImageLimits(max_images=2, max_bytes=1_000_000, max_side_px=1_000)
    oldest, older = png(11, 11), png(12, 12)
    broken = ImageBlock(media_type="image/png", data=b"not an image at all")
    messages = [Message(role="user", images=[oldest, older, broken])]

    [fitted] = fit_images(messages, limits)

    assert fitted.images == [oldest, older]
    assert fitted.text is not None and "not a PNG, JPEG, GIF or WebP image" in fitted.text


def test_a_png_wider_than_8000_px_is_downscaled_keeping_its_aspect_ratio() -> None:
    wide = ImageBlock(media_type="image/png", data=encoded(striped(9_000, 300), "PNG"))

    fitted = fit_image(wide, BEDROCK_LIMITS)

    picture = decoded(fitted)
    assert picture.size == (8_000, 267)
    assert picture.format == "PNG"
    assert fitted.media_type == "image/png"
    assert len(fitted.data) <= BEDROCK_LIMITS.max_bytes


def test_an_image_refitted_once_is_reused_on_the_next_turn() -> None:
    chart = encoded(striped(8_500, 200), "PNG")

    first = fit_image(ImageBlock(media_type="image/png", data=chart), BEDROCK_LIMITS)
    again = fit_image(ImageBlock(media_type="image/png", data=bytes(bytearray(chart))), BEDROCK_LIMITS)
    other_limits = fit_image(ImageBlock(media_type="image/png", data=chart), OPENAI_LIMITS)

    assert again is first
    assert decoded(first).size == (8_000, 188)
    assert decoded(other_limits).size == (2_048, 48)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_6_mb_noisy_png_is_brought_under_3_75_mb(mode: str) -> None:
    big = ImageBlock(media_type="image/png", data=encoded(noise(1_500, 1_350 if mode == "RGB" else 1_000, mode), "PNG"))
    assert len(big.data) > 5_500_000

    fitted = fit_image(big, BEDROCK_LIMITS)

    assert len(fitted.data) <= 3_750_000
    picture = decoded(fitted)
    # No lossless encoding of noise fits: it becomes a JPEG (transparency flattened) and says so.
    assert (picture.format, fitted.media_type, picture.mode) == ("JPEG", "image/jpeg", "RGB")
    assert max(picture.size) <= BEDROCK_LIMITS.max_side_px


def test_a_large_jpeg_is_decoded_at_reduced_scale_and_stays_a_jpeg() -> None:
    photo = ImageBlock(media_type="image/jpeg", data=encoded(striped(16_100, 100), "JPEG", quality=90))

    fitted = fit_image(photo, BEDROCK_LIMITS)

    picture = decoded(fitted)
    assert picture.format == "JPEG"
    assert picture.size == (8_000, 50)


def test_an_animated_gif_over_the_limit_sends_its_first_frame_as_png() -> None:
    frames = [Image.new("RGB", (3_000, 20), color) for color in ("red", "blue")]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert getattr(Image.open(io.BytesIO(gif)), "n_frames", 1) == 2

    fitted = fit_image(ImageBlock(media_type="image/gif", data=gif), OPENAI_LIMITS)

    picture = decoded(fitted)
    assert (picture.format, fitted.media_type) == ("PNG", "image/png")
    assert picture.size == (2_048, 14)
    assert picture.convert("RGB").getpixel((100, 5)) == (255, 0, 0)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x00\x01 random garbage \xff" * 10, id="garbage"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x13" * 200, id="png-signature-then-garbage"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 10, id="jpeg-cut-before-its-frame"),
        pytest.param(encoded(striped(9_000, 300), "PNG")[:600], id="png-cut-short-over-the-size-limit"),
        pytest.param(b"", id="empty"),
    ],
)
def test_an_undecodable_image_becomes_a_note_not_an_exception(data: bytes) -> None:
    messages = [
        Message(role="assistant", tool_calls=[ToolCall(id="c1", name="read_file", arguments={"path": "a.png"})]),
        Message(
            role="user",
            tool_results=[ToolResult(tool_call_id="c1", content="a.png: image attached", images=[])],
            images=[ImageBlock(media_type="image/png", data=data)],
        ),
    ]

    fitted = fit_images(messages, BEDROCK_LIMITS)

    assert fitted[1].images == []
    assert fitted[1].text is not None
    assert fitted[1].text.startswith("[An image was left out here: ")


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    # Given a PNG whose header declares 10,000 x 10,000 px (over the decode budget, under Pillow's hard refusal)
    bomb = handmade_png(10_000, 10_000, b"\x00" * 10_001)
    assert MAX_DECODE_PIXELS < 10_000 * 10_000
    messages = [Message(role="user", images=[ImageBlock(media_type="image/png", data=bomb)])]

    [fitted] = fit_images(messages, BEDROCK_LIMITS)

    assert fitted.images == []
    assert fitted.text == "[An image was left out here: at 10000x10000 px it is too large to decode safely.]"


def camera_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "a camera model long enough to push the frame header further along" * 4
    return exif.tobytes()


def within_limit_images() -> list[Any]:
    rgba = Image.new("RGBA", (40, 30), (10, 200, 10, 128))
    photo = striped(640, 480)
    return [
        pytest.param("image/png", encoded(photo, "PNG"), id="png"),
        pytest.param("image/jpeg", encoded(photo, "JPEG", quality=80), id="jpeg"),
        pytest.param("image/jpeg", encoded(photo, "JPEG", progressive=True), id="progressive-jpeg"),
        pytest.param("image/jpeg", encoded(photo, "JPEG", exif=camera_exif()), id="jpeg-with-exif"),
        pytest.param("image/gif", encoded(photo, "GIF"), id="gif"),
        pytest.param("image/webp", encoded(photo, "WEBP", quality=80), id="webp-lossy"),
        pytest.param("image/webp", encoded(photo, "WEBP", lossless=True), id="webp-lossless"),
        pytest.param("image/webp", encoded(rgba, "WEBP", quality=80), id="webp-with-alpha"),
        pytest.param("image/png", encoded(Image.new("L", (2_048, 1), 7), "PNG"), id="png-at-the-limit"),
    ]


@pytest.mark.parametrize(("media_type", "data"), within_limit_images())
def test_images_within_the_limits_pass_through_byte_identical(media_type: Any, data: bytes) -> None:
    image = ImageBlock(media_type=media_type, data=data)
    messages = [Message(role="user", text="look", images=[image])]

    fitted = fit_images(messages, OPENAI_LIMITS)

    assert fitted == messages
    assert (fitted[0].images[0].media_type, fitted[0].images[0].data) == (media_type, data)


@pytest.mark.parametrize(("media_type", "data"), within_limit_images())
def test_the_header_reader_agrees_with_pillow(media_type: str, data: bytes) -> None:
    assert read_image_header(data) == (media_type, *Image.open(io.BytesIO(data)).size)


def test_a_mislabelled_image_keeps_its_bytes_and_gets_its_real_media_type() -> None:
    jpeg = encoded(striped(100, 80), "JPEG")

    fitted = fit_image(ImageBlock(media_type="image/png", data=jpeg), BEDROCK_LIMITS)

    assert (fitted.media_type, fitted.data) == ("image/jpeg", jpeg)


def test_importing_a_provider_or_fitting_images_within_limits_does_not_load_pillow() -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import agentlab.llm.bedrock as bedrock
        import agentlab.llm.openai
        from agentlab.llm.images import fit_images
        from agentlab.llm.types import ImageBlock, Message
        assert "PIL" not in sys.modules, "importing a provider loaded Pillow"
        image = ImageBlock(media_type="image/png", data={png_without_pillow(64, 48)!r})
        [message] = fit_images([Message(role="user", images=[image])], bedrock.IMAGE_LIMITS)
        assert message.images == [image]
        assert "PIL" not in sys.modules, "fitting an image within the limits loaded Pillow"
        """
    )

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr


class FakeBedrockClient:
    """Records the Converse requests it is given and answers each with a short text."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def converse(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": "seen"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1},
        }


def oversized_conversation() -> list[Message]:
    """22 images: 20 small ones, then a 9,000 px wide chart attached by the user and a noisy 6 MB plot from a tool."""
    messages = [Message(role="user", text=f"picture {n}", images=[png(20 + n, 20)]) for n in range(20)]
    messages.append(
        Message(
            role="user",
            text="and this chart",
            images=[ImageBlock(media_type="image/png", data=encoded(striped(9_000, 300), "PNG"))],
        )
    )
    messages.append(Message(role="assistant", tool_calls=[ToolCall(id="c1", name="python", arguments={"code": "p"})]))
    noisy = ImageBlock(media_type="image/png", data=encoded(noise(1_500, 1_350), "PNG"))
    messages.append(Message(role="user", tool_results=[ToolResult(tool_call_id="c1", content="saved", images=[noisy])]))
    return messages


def test_the_converse_request_carries_the_fitted_images() -> None:
    client = FakeBedrockClient()
    provider = BedrockProvider(lambda: client)

    response = provider.complete(model_id=SONNET, system="", messages=oversized_conversation(), tools=[])

    assert response.text == "seen"
    [request] = client.requests
    blocks = [b for m in request["messages"] for b in m["content"]]
    attached = [b["image"] for b in blocks if "image" in b]
    produced = [c["image"] for b in blocks if "toolResult" in b for c in b["toolResult"]["content"] if "image" in c]
    images = attached + produced
    assert len(images) == 20
    for image in images:
        data = image["source"]["bytes"]
        picture = Image.open(io.BytesIO(data))
        assert len(data) <= 3_750_000
        assert max(picture.size) <= 8_000
        assert image["format"] == str(picture.format).lower()
    # The two oldest pictures were left out with a note; the chart was narrowed; the plot became a JPEG.
    texts = [b["text"] for b in blocks if "text" in b]
    assert sum("left out" in text for text in texts) == 2
    assert "picture 0\n[An image was left out here" in texts[0]
    assert Image.open(io.BytesIO(attached[-1]["source"]["bytes"])).size == (8_000, 267)
    assert [image["format"] for image in produced] == ["jpeg"]


def test_the_chat_request_carries_the_fitted_images() -> None:
    bodies: list[dict[str, Any]] = []

    def server(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        reply = {"choices": [{"message": {"role": "assistant", "content": "seen"}, "finish_reason": "stop"}]}
        return httpx.Response(200, json=reply)

    http = httpx.Client(transport=httpx.MockTransport(server))
    provider = OpenAICompatibleProvider("http://llm.local/v1", None, timeout_s=5.0, http_client=http)

    response = provider.complete(model_id="llava:7b", system="", messages=oversized_conversation(), tools=[])

    assert response.text == "seen"
    [body] = bodies
    parts = [p for m in body["messages"] if isinstance(m["content"], list) for p in m["content"]]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert len(urls) == 10
    for url in urls:
        header, _, payload = url.partition(",")
        data = base64.b64decode(payload)
        picture = Image.open(io.BytesIO(data))
        assert len(data) <= 5_000_000
        assert max(picture.size) <= 2_048
        assert header == f"data:{media_type_of(picture)};base64"
    texts = [m["content"] for m in body["messages"] if isinstance(m["content"], str)]
    texts += [p["text"] for p in parts if p["type"] == "text"]
    assert sum("only the 10 most recent images" in text for text in texts) == 12
