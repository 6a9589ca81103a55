"""Checking an uploaded file in a child process with resource limits (SECURITY.md "Uploads":
parse/scan in a sandbox, at most `document_parse_cpu_seconds` of CPU and
`document_parse_memory_mb` of address space).

pypdf and Pillow parse hostile bytes; a parser bug that loops, eats memory or crashes must
cost one short-lived child, never the web worker. `check()` here is what the upload path
calls; `validate.check()` stays the pure, in-process function (and is what the child runs).

The child
- is started as ``python -I -B <this file>``: isolated mode (no PYTHON* variables, no user
  site, not the working directory on sys.path), and it loads ``validate.py`` by path, so
  it imports neither the ``idp`` package nor Flask, the database, the keys or the config;
- gets a minimal environment (PATH, LANG, PYTHONDONTWRITEBYTECODE): no IDP_SECRET_*, no S3
  credentials, nothing the worker inherited; no file descriptors besides stdin/out/err;
- has RLIMIT_CPU (soft = the limit: SIGXCPU, hard = limit + 1: SIGKILL), RLIMIT_AS and
  RLIMIT_CORE = 0 set by the parent with ``prlimit(2)`` *before* the file is sent to it
  (not with ``preexec_fn``, which is unsafe in a threaded worker; the untrusted bytes
  are only written after the limits are in place); the parent also kills it after a wall
  clock limit of 3 x CPU + 2 s (a child blocked rather than computing);
- reads ``<JSON header>\\n<file bytes>`` on stdin and writes ``<JSON verdict>\\n<bytes>``
  on stdout: the verdict is "ok" (with content type, pages, pixels; the bytes are what is
  stored: the PDF as sent or the re-encoded image), "refused", "too_large" or
  "too_complex" (MemoryError inside the parser).

Any crash, signal (SIGXCPU, SIGKILL, SIGSEGV), MemoryError, wall-clock timeout or malformed
answer becomes `FileTooComplexError`, a `validate.RefusedFileError`: the view answers 415
with the ordinary "file refused" message (the reason, "too complex to check: ...", goes to
the log) and nothing is stored. 415 rather than 422 because a file whose checks cannot
finish within the limits is, to us, a file of a type we do not accept; it also keeps a
single refusal path (and message) for every upload that is not stored.

Added latency per upload (measured on the development machine, 2 cores, Python 3.11,
median of 20 small files, sandbox vs. in-process `validate.check` at ~1 ms): about
+130 ms for a PNG or JPEG (interpreter and site start ~60 ms, Pillow import ~30 ms) and
about +250 ms for a PDF (the pypdf import alone is ~190 ms of CPU, which also counts
against the CPU limit). Memory: under the default 256 MiB, JPEGs of 12 megapixels pass and
from about 16 megapixels up are refused (decoding, orientation and re-encoding each hold a
copy of the pixels). The child is Linux-only (`prlimit`).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys

if __package__:  # the parent (the web worker)
    from idp.documents import validate
    from idp.documents.validate import FileTooComplexError
# The child runs this file as a script: validate.py is loaded by path in main(), without
# the idp package.

HEADER_LIMIT = 4096  # bytes of the JSON header line, either way


# -- parent ---------------------------------------------------------------------------------------
def _command() -> list[str]:
    """The child's command line (tests replace it with a child that misbehaves)."""
    return [sys.executable, "-I", "-B", os.path.abspath(__file__)]


def _wall_seconds(cpu_seconds: int) -> int:
    """Wall-clock limit: a child waiting (not computing) is not stopped by RLIMIT_CPU."""
    return 3 * cpu_seconds + 2


def _environment() -> dict[str, str]:
    return {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def check(filename: str, data: bytes, *, max_bytes: int, cpu_seconds: int, memory_mb: int) -> validate.CheckedFile:
    """`validate.check` in a limited child. Returns the file to store; raises
    validate.FileTooLargeError, validate.RefusedFileError or FileTooComplexError."""
    if len(data) > max_bytes:  # no child for what is refused by its size alone
        raise validate.FileTooLargeError(f"{len(data)} bytes")
    header = json.dumps({"filename": str(filename or "")[:255], "max_bytes": max_bytes}).encode()
    wall = _wall_seconds(cpu_seconds)
    proc = subprocess.Popen(
        _command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_environment(), close_fds=True, cwd="/",
    )
    try:
        memory = memory_mb * 1024 * 1024
        try:
            resource.prlimit(proc.pid, resource.RLIMIT_CORE, (0, 0))
            resource.prlimit(proc.pid, resource.RLIMIT_AS, (memory, memory))
            resource.prlimit(proc.pid, resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        except (OSError, ValueError) as exc:  # the child is already gone, or limits refused
            raise FileTooComplexError(f"limits not applied ({exc.__class__.__name__})") from None
        try:
            out, _err = proc.communicate(header + b"\n" + data, timeout=wall)
        except subprocess.TimeoutExpired:
            raise FileTooComplexError(f"no answer within {wall} s") from None
        except OSError as exc:  # BrokenPipe: the child died while reading
            proc.wait(timeout=wall)
            raise FileTooComplexError(f"child failed ({exc.__class__.__name__}, exit {proc.returncode})") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        code = proc.returncode
        what = signal.Signals(-code).name if code < 0 and -code in signal.valid_signals() else f"exit {code}"
        raise FileTooComplexError(what)
    return _verdict(out, max_bytes)


def _verdict(out: bytes, max_bytes: int) -> validate.CheckedFile:
    line, sep, body = out.partition(b"\n")
    try:
        if not sep or len(line) > HEADER_LIMIT:
            raise ValueError("no header")
        answer = json.loads(line)
        verdict = answer["verdict"]
        reason = str(answer.get("reason", ""))[:200]
    except (ValueError, KeyError, TypeError):
        raise FileTooComplexError("malformed answer") from None
    if verdict == "refused":
        raise validate.RefusedFileError(reason)
    if verdict == "too_large":
        raise validate.FileTooLargeError(reason)
    if verdict == "too_complex":
        raise FileTooComplexError(reason)
    content_type = answer.get("content_type")
    if verdict != "ok" or content_type not in validate.MAGIC or not body.startswith(validate.MAGIC[content_type]):
        raise FileTooComplexError("malformed answer")
    if len(body) > max_bytes:
        raise validate.FileTooLargeError(f"{len(body)} bytes after re-encoding")
    pages, pixels = answer.get("pages"), answer.get("pixels")
    return validate.CheckedFile(content_type, body, pages=pages if isinstance(pages, int) else None,
                                pixels=pixels if isinstance(pixels, int) else None)


# -- child ----------------------------------------------------------------------------------------
def _answer(header: dict, body: bytes = b"") -> None:
    sys.stdout.buffer.write(json.dumps(header).encode() + b"\n" + body)
    sys.stdout.buffer.flush()


def main() -> int:
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("satuakun_validate", os.path.join(here, "validate.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up by name
    spec.loader.exec_module(module)

    raw = sys.stdin.buffer.read()
    line, _, data = raw.partition(b"\n")
    del raw
    request = json.loads(line[:HEADER_LIMIT])
    try:
        checked = module.check(request["filename"], data, max_bytes=int(request["max_bytes"]))
    except module.FileTooLargeError as exc:
        _answer({"verdict": "too_large", "reason": str(exc)[:200]})
    except module.RefusedFileError as exc:
        _answer({"verdict": "refused", "reason": exc.reason[:200]})
    except MemoryError:
        _answer({"verdict": "too_complex", "reason": "MemoryError"})
    else:
        _answer({"verdict": "ok", "content_type": checked.content_type, "pages": checked.pages,
                 "pixels": checked.pixels}, checked.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
