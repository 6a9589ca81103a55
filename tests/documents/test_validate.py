"""Upload content checks (SECURITY.md T70, T71, "Uploads"): extension, magic bytes and a
full parse must agree; hostile PDFs and images are refused; images lose their metadata."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from idp.documents import validate
from tests.documents import files

MAX = 10 * 1024 * 1024


@pytest.mark.parametrize(
    "name,data,content_type",
    [
        ("ktp.pdf", files.pdf(), "application/pdf"),
        ("KTP.PDF", files.pdf(3), "application/pdf"),
        ("foto.jpg", files.jpeg(), "image/jpeg"),
        ("foto.jpeg", files.jpeg(), "image/jpeg"),
        ("scan.png", files.png(), "image/png"),
        ("scan.png", files.png(mode="L"), "image/png"),
        ("scan.png", files.png(mode="RGBA"), "image/png"),
        ("pdf-with-uri-action-on-page.pdf", files.pdf(), "application/pdf"),
    ],
)
def test_accepted(name, data, content_type):
    checked = validate.check(name, data, max_bytes=MAX)
    assert checked.content_type == content_type


def _obfuscated_js_pdf() -> bytes:
    # "/J#61vaScript" is "/JavaScript" once the name escape is decoded (PDF 1.7 §7.3.5).
    return files.pdf().replace(b"/Producer", b"/J#61vaScript", 1)


@pytest.mark.parametrize(
    "name,data",
    [
        ("ktp.pdf", files.pdf(js=True)),
        ("ktp.pdf", files.pdf(open_action=True)),
        ("ktp.pdf", files.pdf(encrypted=True)),
        ("ktp.pdf", files.pdf(embedded=True)),
        ("ktp.pdf", files.pdf(xfa=True)),
        ("ktp.pdf", files.pdf(launch=True)),
        ("ktp.pdf", files.pdf(page_aa=True)),
        ("ktp.pdf", files.pdf(51)),
        ("ktp.pdf", _obfuscated_js_pdf()),
        ("ktp.pdf", b"%PDF-1.7\n garbage that never parses"),
        # T70: the extension, the magic bytes and the parse must agree.
        ("ktp.pdf", files.HTML),
        ("ktp.pdf", files.SVG),
        ("ktp.pdf", files.png()),
        ("ktp.pdf.html", files.pdf()),
        ("ktp.png", files.jpeg()),
        ("ktp.jpg", files.png()),
        ("ktp", files.pdf()),
        ("ktp.svg", files.SVG),
        ("ktp.html", files.HTML),
        # Polyglots: a valid image that is also a page or an archive.
        ("ktp.png", files.png() + files.HTML),
        ("ktp.png", files.png() + files.zip_file()),
        ("ktp.jpg", files.jpeg()[:-2] + b"<html><script>alert(1)</script></html>" + b"\xff\xd9"),
        ("ktp.pdf", files.pdf().replace(b"%PDF-1.3", b"%PDF-1.3\n%<html><script>alert(1)</script>", 1)),
        ("ktp.png", files.png(text="<svg onload=alert(1)>")),
        # T71: archives, Office, HEIC are never opened.
        ("ktp.zip", files.zip_file()),
        ("ktp.pdf", files.zip_file()),
        ("ktp.docx", files.docx()),
        ("ktp.heic", files.HEIC),
        ("ktp.jpg", files.HEIC),
        # Decompression bombs and oversize images: refused from the header, never decoded.
        ("bom.png", files.png_header_only(50_000, 50_000)),
        ("bom.png", files.png_header_only(8_000, 8_000)),
        ("wide.png", files.png((10_001, 1))),
        ("truncated.png", files.png()[:60]),
        ("empty.pdf", b""),
    ],
)
def test_refused(name, data):
    with pytest.raises(validate.RefusedFileError):
        validate.check(name, data, max_bytes=MAX)


def test_oversize_file():
    with pytest.raises(validate.FileTooLargeError):
        validate.check("ktp.pdf", b"%PDF-" + b"0" * MAX, max_bytes=MAX)


def test_jpeg_is_reencoded_without_exif_or_comment():
    original = files.jpeg()
    assert b"KameraMerek" in original and b"komentar-rahasia" in original
    checked = validate.check("foto.jpg", original, max_bytes=MAX)
    assert b"KameraMerek" not in checked.data and b"komentar-rahasia" not in checked.data
    with Image.open(io.BytesIO(checked.data)) as im:
        assert im.format == "JPEG" and im.size == (64, 48)
        assert not im.getexif()
        assert "comment" not in im.info
    assert checked.pixels == 64 * 48


def test_png_text_chunks_are_dropped():
    checked = validate.check("scan.png", files.png(text="nomor-rahasia"), max_bytes=MAX)
    assert b"nomor-rahasia" not in checked.data
    assert checked.data.startswith(b"\x89PNG")


def test_exif_orientation_is_applied_before_stripping():
    im = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes())
    checked = validate.check("foto.jpg", out.getvalue(), max_bytes=MAX)
    with Image.open(io.BytesIO(checked.data)) as shown:
        assert shown.size == (20, 40)


def test_pdf_pages_counted():
    assert validate.check("ktp.pdf", files.pdf(50), max_bytes=MAX).pages == 50
