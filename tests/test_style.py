"""WCAG 2.1 AA 1.4.3 / 1.4.11: every text colour in static/style.css against every
background it can sit on has a contrast ratio of at least 4.5:1 (3:1 for borders that
carry meaning), computed with the WCAG relative-luminance formula."""

from __future__ import annotations

import re
from pathlib import Path

CSS = (Path(__file__).resolve().parent.parent / "static" / "style.css").read_text(encoding="utf-8")
HEX = re.compile(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")
# Backgrounds a rule without its own background may sit on: the page and the message boxes.
LIGHT = ("#fff", "#e8f0fe", "#fdecea")
# Rules nested in a coloured bar: their background is the bar's.
NESTED = {".lang a": "#0b3d91", ".lang a[aria-current]": "#0b3d91"}


def _rgb(value: str) -> tuple[float, float, float]:
    h = value.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return tuple(int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))


def luminance(value: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(value))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def rules() -> list[tuple[str, dict[str, str]]]:
    out = []
    for block in CSS.split("}"):
        if "{" not in block:
            continue
        selector, body = block.rsplit("{", 1)
        decls = {}
        for decl in body.split(";"):
            if ":" in decl:
                k, v = decl.split(":", 1)
                decls[k.strip()] = v.strip()
        out.append((selector.strip().split("}")[-1].strip(), decls))
    return out


def test_formula_matches_known_values():
    assert round(contrast("#000", "#fff"), 1) == 21.0
    assert round(contrast("#777", "#fff"), 2) == 4.48  # the classic just-failing grey


def test_every_text_colour_has_enough_contrast():
    checked = 0
    for selector, decls in rules():
        colour = decls.get("color")
        if not colour or not HEX.fullmatch(colour):
            continue
        background = decls.get("background") if HEX.fullmatch(decls.get("background", "")) else None
        grounds = [NESTED[selector]] if selector in NESTED else [background] if background else list(LIGHT)
        for ground in grounds:
            ratio = contrast(colour, ground)
            assert ratio >= 4.5, f"{selector}: {colour} on {ground} is {ratio:.2f}:1"
            checked += 1
    # Body text on every light background too.
    for ground in LIGHT:
        assert contrast("#1a1a1a", ground) >= 4.5
    assert checked >= 10


def test_meaningful_borders_have_enough_contrast():
    for selector, decls in rules():
        for key in ("border", "border-left"):
            m = HEX.search(decls.get(key, ""))
            if m and "solid" in decls[key]:
                # A border is a non-text UI component boundary against the page (1.4.11).
                assert contrast(m.group(0), "#fff") >= 3, f"{selector}: border {m.group(0)}"
