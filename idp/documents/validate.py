"""What an uploaded file is, decided from its content (SECURITY.md T70/T71, "Uploads").

Accepted: PDF, JPEG, PNG, only when the file name's extension, the magic bytes and a full
parse agree. The `Content-Type` the browser sent is never consulted. Everything else (ZIP,
Office, SVG, HTML, HEIC, ...) is refused without being opened further; archives are never
extracted (ASVS 5.2.2/5.2.3).

- PDF (pypdf): at most 50 pages; refused when encrypted or carrying JavaScript, automatic
  actions (/OpenAction, /AA), launch/submit/import actions, embedded files, XFA forms or
  rich media, looked up both in the parsed object graph (names decoded) and in the raw
  bytes. PDFs are stored as sent (nothing here rewrites them).
- JPEG/PNG (Pillow): at most 40 megapixels and 10,000 px per side, checked from the
  header before any pixel is decoded (decompression bombs); verified, fully decoded, then
  re-encoded from the pixels alone, so EXIF (GPS position, camera serial), comments, ICC
  profiles and anything smuggled in metadata or after the image is gone.
- Any file holding HTML/SVG markup is refused (polyglots a browser could sniff as a page).

Uploads run `check` in a child process with CPU and memory limits (documents/sandbox.py);
calling it in-process is for tests of these functions only.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass

MAX_PAGES = 50
MAX_PIXELS = 40_000_000
# JPEGs above this are decoded at half size (a quarter of the pixels) before re-encoding.
DRAFT_ABOVE_PIXELS = 16_000_000
MAX_SIDE = 10_000
MAX_PDF_OBJECTS = 200_000

EXTENSIONS = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
MAGIC = {"application/pdf": b"%PDF-", "image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
ACCEPT = "application/pdf,image/jpeg,image/png"
MARKUP = re.compile(rb"<(?:html|script|svg|!doctype|iframe|body|object|embed)[\s>/]", re.IGNORECASE)

# PDF features that run code, act by themselves, or carry other files.
PDF_FORBIDDEN_KEYS = {"/JavaScript", "/JS", "/OpenAction", "/AA", "/EmbeddedFiles", "/EmbeddedFile", "/XFA",
                      "/RichMediaContent", "/RichMediaSettings", "/Launch"}
PDF_FORBIDDEN_ACTIONS = {"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/GoToE", "/GoToR", "/Rendition",
                         "/RichMediaExecute", "/Movie", "/Sound", "/Hide", "/SetOCGState"}
PDF_FORBIDDEN_SUBTYPES = {"/FileAttachment", "/RichMedia", "/Movie", "/Sound", "/Screen", "/3D"}
PDF_FORBIDDEN_TYPES = {"/EmbeddedFile"}
_DELIM = rb"(?=[\s/\[\]<>(){}%]|$)"
PDF_RAW = re.compile(rb"/(?:JavaScript|JS|OpenAction|AA|Launch|EmbeddedFiles?|XFA|RichMedia\w*)" + _DELIM)
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


class RefusedFileError(ValueError):
    """Not an acceptable file (the view answers 415). ``reason`` is for the log only."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class FileTooLargeError(ValueError):
    """Bigger than the limit, in bytes (413)."""


class FileTooComplexError(RefusedFileError):
    """The checks could not finish within the sandbox's CPU, memory or time limits, or the
    checking process died (documents/sandbox.py). A refused file: 415, nothing stored."""

    def __init__(self, reason: str):
        super().__init__(f"too complex to check: {reason}")


@dataclass
class CheckedFile:
    content_type: str
    data: bytes  # what is stored: the PDF as sent, or the re-encoded image
    pages: int | None = None
    pixels: int | None = None

    @property
    def extension(self) -> str:
        return {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}[self.content_type]


def check(filename: str, data: bytes, *, max_bytes: int) -> CheckedFile:
    """Decide what ``data`` is. Returns the file to store. Raises RefusedFileError or
    FileTooLargeError."""
    if len(data) > max_bytes:
        raise FileTooLargeError(f"{len(data)} bytes")
    if not data:
        raise RefusedFileError("empty file")
    name = (filename or "").strip().lower()
    ext = name[name.rfind("."):] if "." in name else ""
    content_type = EXTENSIONS.get(ext)
    if content_type is None:
        raise RefusedFileError(f"extension {ext[:10]!r} not accepted")
    sniffed = next((ct for ct, magic in MAGIC.items() if data.startswith(magic)), None)
    if sniffed != content_type:
        raise RefusedFileError(f"content is {sniffed or 'unknown'}, extension says {content_type}")
    if MARKUP.search(data):
        raise RefusedFileError("markup inside (polyglot)")
    if content_type == "application/pdf":
        return CheckedFile(content_type, data, pages=_check_pdf(data))
    out, pixels = _reencode_image(data, content_type)
    if len(out) > max_bytes:
        raise FileTooLargeError(f"{len(out)} bytes after re-encoding")
    return CheckedFile(content_type, out, pixels=pixels)


# -- PDF ----------------------------------------------------------------------------------------
def _check_pdf(data: bytes) -> int:
    import logging

    from pypdf import PdfReader
    from pypdf.generic import ArrayObject, DictionaryObject

    raw = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
    if PDF_RAW.search(raw):
        raise RefusedFileError("PDF with active content (raw)")
    # pypdf logs every repair it makes of a damaged file; our answer is enough.
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                raise RefusedFileError("encrypted PDF")
            pages = len(reader.pages)
            if pages == 0:
                raise RefusedFileError("PDF without pages")
            if pages > MAX_PAGES:
                raise RefusedFileError(f"PDF with {pages} pages")
            numbers: set[int] = set()
            for table in reader.xref.values():
                numbers.update(table)
            numbers.update(getattr(reader, "xref_objStm", {}))
            if len(numbers) > MAX_PDF_OBJECTS:
                raise RefusedFileError("PDF with too many objects")
            seen: set[int] = set()

            def visit(obj, depth: int = 0) -> None:
                if depth > 64:
                    raise RefusedFileError("PDF nested too deeply")
                if isinstance(obj, DictionaryObject):
                    if id(obj) in seen:
                        return
                    seen.add(id(obj))
                    keys = set(obj.keys())
                    if keys & PDF_FORBIDDEN_KEYS:
                        raise RefusedFileError(f"PDF with {min(keys & PDF_FORBIDDEN_KEYS)}")
                    if obj.get("/S") in PDF_FORBIDDEN_ACTIONS:
                        raise RefusedFileError(f"PDF with action {obj.get('/S')}")
                    if obj.get("/Subtype") in PDF_FORBIDDEN_SUBTYPES:
                        raise RefusedFileError(f"PDF with {obj.get('/Subtype')}")
                    if obj.get("/Type") in PDF_FORBIDDEN_TYPES or "/EF" in keys:
                        raise RefusedFileError("PDF with an embedded file")
                    for key in keys:
                        value = obj.raw_get(key) if hasattr(obj, "raw_get") else obj[key]
                        if not hasattr(value, "idnum"):  # indirect objects are visited on their own
                            visit(value, depth + 1)
                elif isinstance(obj, ArrayObject):
                    for value in obj:
                        if not hasattr(value, "idnum"):
                            visit(value, depth + 1)

            visit(reader.trailer)
            for num in sorted(numbers):
                try:
                    obj = reader.get_object(num)
                except (RefusedFileError, MemoryError):
                    raise
                except Exception:  # noqa: BLE001, S112 - unreadable here; the raw-bytes scan above still covered it
                    continue
                visit(obj)
            return pages
    except (RefusedFileError, MemoryError):  # MemoryError: over the sandbox's limit
        raise
    except Exception as exc:  # noqa: BLE001 - anything pypdf cannot parse is refused
        raise RefusedFileError(f"PDF does not parse: {exc.__class__.__name__}") from None
    finally:
        pypdf_log.setLevel(level)


# -- images -------------------------------------------------------------------------------------
def _png_chunks_end(data: bytes) -> int:
    """Offset just after the IEND chunk (the image ends there; more bytes are smuggled)."""
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos
    raise RefusedFileError("PNG without IEND")


def _reencode_image(data: bytes, content_type: str) -> tuple[bytes, int]:
    from PIL import Image, ImageOps

    fmt = "JPEG" if content_type == "image/jpeg" else "PNG"
    if fmt == "PNG" and _png_chunks_end(data) != len(data):
        raise RefusedFileError("data after the PNG image (polyglot)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
                width, height = probe.size
                if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
                    raise RefusedFileError(f"image of {width}x{height} pixels")
                probe.verify()
            with Image.open(io.BytesIO(data), formats=[fmt]) as im:
                if fmt == "JPEG" and width * height > DRAFT_ABOVE_PIXELS:
                    # Phone photos of 16-40 MP: decode at half size (JPEG's own scaled
                    # decoding), which keeps a document legible and the sandbox's memory
                    # (256 MiB) enough for every accepted photo.
                    im.draft(im.mode, (width // 2, height // 2))
                im.load()
                im = ImageOps.exif_transpose(im, in_place=False) or im
                has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
                if fmt == "JPEG":
                    mode = "L" if im.mode in ("1", "L") else "RGB"
                else:
                    mode = im.mode if im.mode in ("1", "L", "RGB", "RGBA") else ("RGBA" if has_alpha else "RGB")
                clean = im if im.mode == mode else im.convert(mode)  # no extra copy when nothing changes
                # Only the pixels go out: no EXIF, ICC profile, comment or text chunk.
                clean.info = {}
                out = io.BytesIO()
                if fmt == "JPEG":
                    clean.save(out, "JPEG", quality=90, optimize=True)
                else:
                    clean.save(out, "PNG", optimize=False)
                return out.getvalue(), width * height
    except (RefusedFileError, MemoryError):  # MemoryError: over the sandbox's limit
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RefusedFileError("decompression bomb") from None
    except Exception as exc:  # noqa: BLE001 - anything Pillow cannot decode is refused
        raise RefusedFileError(f"image does not decode: {exc.__class__.__name__}") from None
