"""The document types registry: configuration, not code.

``idp/documents/types.toml`` (shipped) or the file named by ``document_types_file`` lists
each type with its attribute schema, its scope (``doc:<code>``), who issues it and the
assurance level an officer's session needs to mark it verified. The file is validated
strictly at start-up: a bad file stops the provider with the file, the field and the reason
(as clients/*.toml, node-oidc-provider `client_schema.js`).
"""

from __future__ import annotations

import datetime
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).resolve().parent / "types.toml"
CODE_RE = re.compile(r"[a-z][a-z0-9_]{1,31}")
ATTRIBUTE_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
ATTRIBUTE_TYPES = ("string", "date", "list")
TYPE_FIELDS = {"name", "name_en", "issuer", "verifiable_at", "expires", "attributes"}
ATTRIBUTE_FIELDS = {"name", "type", "required", "label", "label_en"}
SCOPE_PREFIX = "doc:"
MAX_TYPES = 100
MAX_ATTRIBUTES = 30
# Limits on what a citizen may type into one attribute.
MAX_VALUE = 200
MAX_LIST_ITEMS = 20


class DocumentTypesError(ValueError):
    """The types file is invalid. ``str()`` names the file, field and reason."""

    def __init__(self, source: str, field: str, reason: str):
        super().__init__(f"{source}: {field}: {reason}")
        self.source, self.field, self.reason = source, field, reason


class AttributeError_(ValueError):
    """A submitted attribute value is invalid (named to avoid shadowing the builtin)."""

    def __init__(self, attribute: str, reason: str):
        super().__init__(f"{attribute}: {reason}")
        self.attribute, self.reason = attribute, reason


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    required: bool
    label: str
    label_en: str


@dataclass(frozen=True)
class DocumentType:
    code: str
    name: str
    name_en: str
    issuer: str
    verifiable_at: int
    expires: bool
    attributes: tuple[Attribute, ...]

    @property
    def scope(self) -> str:
        return SCOPE_PREFIX + self.code

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)

    def clean(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Validate submitted values (strings; lists as one item per line). Returns the
        normalised attributes (absent optional ones left out). Raises AttributeError_."""
        out: dict[str, Any] = {}
        for attr in self.attributes:
            value = raw.get(attr.name)
            if isinstance(value, str):
                value = value.strip()
            if value in (None, "", []):
                if attr.required:
                    raise AttributeError_(attr.name, "required")
                continue
            if attr.type == "list":
                items = value if isinstance(value, list) else [v.strip() for v in str(value).splitlines()]
                items = [str(v).strip() for v in items if str(v).strip()]
                if len(items) > MAX_LIST_ITEMS or any(len(v) > MAX_VALUE for v in items):
                    raise AttributeError_(attr.name, "too long")
                if not items and attr.required:
                    raise AttributeError_(attr.name, "required")
                if items:
                    out[attr.name] = items
                continue
            if not isinstance(value, str) or len(value) > MAX_VALUE or any(ord(c) < 32 for c in value):
                raise AttributeError_(attr.name, "too long or not text")
            if attr.type == "date":
                try:
                    value = datetime.date.fromisoformat(value).isoformat()
                except ValueError:
                    raise AttributeError_(attr.name, "not a date (YYYY-MM-DD)") from None
            out[attr.name] = value
        return out


def _check(cond: bool, source: str, field: str, reason: str) -> None:
    if not cond:
        raise DocumentTypesError(source, field, reason)


def _nonempty_str(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip()) and len(v) <= 200


def parse(raw: dict[str, Any], source: str) -> dict[str, DocumentType]:
    """Validate the parsed TOML of a types file. Returns {code: DocumentType}."""
    _check(set(raw) == {"types"}, source, "(file)", "must hold only [types.<code>] tables")
    types = raw["types"]
    _check(isinstance(types, dict) and 0 < len(types) <= MAX_TYPES, source, "types", f"1 to {MAX_TYPES} types")
    out: dict[str, DocumentType] = {}
    for code, spec in types.items():
        where = f"types.{code}"
        _check(bool(CODE_RE.fullmatch(code)), source, where, "code: 2-32 characters a-z 0-9 _, starting with a letter")
        _check(isinstance(spec, dict), source, where, "must be a table")
        unknown = set(spec) - TYPE_FIELDS
        _check(not unknown, source, f"{where}.{min(unknown) if unknown else ''}", "unknown field")
        for f in ("name", "issuer"):
            _check(_nonempty_str(spec.get(f)), source, f"{where}.{f}", "required text of at most 200 characters")
        _check("name_en" not in spec or _nonempty_str(spec["name_en"]), source, f"{where}.name_en", "text of at most 200 characters")
        level = spec.get("verifiable_at")
        _check(level in (1, 2, 3) and not isinstance(level, bool), source, f"{where}.verifiable_at", "required: 1, 2 or 3")
        expires = spec.get("expires", False)
        _check(isinstance(expires, bool), source, f"{where}.expires", "must be true or false")
        attrs = spec.get("attributes")
        _check(isinstance(attrs, list) and 0 < len(attrs) <= MAX_ATTRIBUTES, source, f"{where}.attributes",
               f"required: 1 to {MAX_ATTRIBUTES} attributes")
        parsed: list[Attribute] = []
        for i, a in enumerate(attrs):
            aw = f"{where}.attributes[{i}]"
            _check(isinstance(a, dict), source, aw, "must be a table")
            unknown = set(a) - ATTRIBUTE_FIELDS
            _check(not unknown, source, f"{aw}.{min(unknown) if unknown else ''}", "unknown field")
            name = a.get("name")
            _check(isinstance(name, str) and bool(ATTRIBUTE_RE.fullmatch(name)), source, f"{aw}.name",
                   "required: 1-32 characters a-z 0-9 _, starting with a letter")
            _check(all(p.name != name for p in parsed), source, f"{aw}.name", f"duplicate attribute {name!r}")
            _check(a.get("type", "string") in ATTRIBUTE_TYPES, source, f"{aw}.type", f"one of {', '.join(ATTRIBUTE_TYPES)}")
            _check(isinstance(a.get("required", False), bool), source, f"{aw}.required", "must be true or false")
            _check(_nonempty_str(a.get("label")), source, f"{aw}.label", "required text of at most 200 characters")
            _check("label_en" not in a or _nonempty_str(a["label_en"]), source, f"{aw}.label_en", "text of at most 200 characters")
            parsed.append(Attribute(name, a.get("type", "string"), a.get("required", False), a["label"],
                                    a.get("label_en") or a["label"]))
        names = {p.name for p in parsed}
        _check("number" in names, source, f"{where}.attributes", "must include the document's 'number'")
        if expires:
            exp = next((p for p in parsed if p.name == "expires_on"), None)
            _check(exp is not None and exp.type == "date", source, f"{where}.attributes",
                   "a type that expires needs an 'expires_on' date attribute")
        out[code] = DocumentType(code, spec["name"].strip(), (spec.get("name_en") or spec["name"]).strip(),
                                 spec["issuer"].strip(), level, expires, tuple(parsed))
    return out


def load(path: str | Path | None = None) -> dict[str, DocumentType]:
    """Read and validate a types file (default: the shipped one). Raises DocumentTypesError."""
    p = Path(path) if path else DEFAULT_FILE
    source = str(p)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DocumentTypesError(source, "(file)", f"cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DocumentTypesError(source, "(file)", f"not valid TOML: {exc}") from None
    return parse(raw, source)


_default: dict[str, DocumentType] | None = None


def current() -> dict[str, DocumentType]:
    """The running provider's types (loaded at start-up), or the shipped ones outside an app."""
    global _default
    from flask import current_app, has_app_context

    if has_app_context() and "idp_document_types" in current_app.extensions:
        return current_app.extensions["idp_document_types"]
    if _default is None:
        _default = load()
    return _default


def get(code: str) -> DocumentType | None:
    return current().get(code) if isinstance(code, str) else None


def codes_in_scopes(scopes) -> set[str]:
    """Document type codes named by ``doc:<code>`` scopes (unknown codes left out)."""
    types = current()
    return {s[len(SCOPE_PREFIX):] for s in scopes if s.startswith(SCOPE_PREFIX) and s[len(SCOPE_PREFIX):] in types}
