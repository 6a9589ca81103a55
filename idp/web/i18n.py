"""Compile translation catalogs (.po -> .mo) when missing or stale, so a fresh clone
shows Bahasa Indonesia without a separate build step."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def compile_catalogs() -> None:
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh)
        tmp = mo.with_suffix(f".mo.{os.getpid()}")
        try:
            with tmp.open("wb") as fh:
                write_mo(fh, catalog)
            tmp.replace(mo)  # atomic: workers starting together never see half a file
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot compile %s: %s (pages fall back to English)", po, exc)
