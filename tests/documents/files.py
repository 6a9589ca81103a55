"""Real files built in the tests (Pillow, pypdf), including hostile ones."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject


def pdf(pages: int = 1, *, js=False, open_action=False, encrypted=False, embedded=False, xfa=False,
        launch=False, page_aa=False) -> bytes:
    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(width=595, height=842)
    if js:  # a document-level script in the /Names tree (PDF 1.7 §12.6.4.16)
        action = w._add_object(DictionaryObject(
            {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert('x');")}))
        w._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): DictionaryObject(
            {NameObject("/Names"): ArrayObject([TextStringObject("x"), action])})})
    if open_action:
        w._root_object[NameObject("/OpenAction")] = DictionaryObject(
            {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})
    if launch:
        action = DictionaryObject({NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("cmd.exe")})
        w._root_object[NameObject("/Extra")] = w._add_object(action)
    if page_aa:
        w.pages[0][NameObject("/AA")] = DictionaryObject(
            {NameObject("/O"): DictionaryObject({NameObject("/S"): NameObject("/URI"), NameObject("/URI"): TextStringObject("https://x")})})
    if embedded:
        w.add_attachment("payload.exe", b"MZ not really")
    if xfa:
        w._root_object[NameObject("/AcroForm")] = DictionaryObject({NameObject("/XFA"): TextStringObject("<xdp/>")})
    if encrypted:
        w.encrypt("rahasia", algorithm="AES-128")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def png(size=(64, 48), *, mode="RGB", text: str | None = None) -> bytes:
    from PIL import PngImagePlugin

    im = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 128)
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", text)
    out = io.BytesIO()
    im.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg(size=(64, 48), *, gps=True) -> bytes:
    im = Image.new("RGB", size, (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "KameraMerek"  # Make
    exif[0x0131] = "Software-Rahasia"
    if gps:
        exif[0x8825] = {1: "S", 2: (6.0, 10.0, 0.0), 3: "E", 4: (106.0, 49.0, 0.0)}
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes(), comment=b"komentar-rahasia")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with a tiny IDAT: a decompression bomb
    as far as any decoder that trusts the header is concerned."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b"")


def zip_file() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.txt", "isi")
    return out.getvalue()


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
# HEIC: an ISO-BMFF 'ftyp' box with brand heic.
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
