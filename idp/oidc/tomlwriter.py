"""Write client registration files. TOML has no writer in the standard library and the
registrations are flat (strings, booleans, lists of strings), so this stays tiny."""

from __future__ import annotations

import json
import re
from pathlib import Path

ORDER = [
    "client_id", "name", "region_code", "purpose", "purpose_en", "logo", "redirect_uris",
    "post_logout_redirect_uris", "token_endpoint_auth_method", "client_secret_hash", "grant_types",
    "scopes", "claims", "subject_type", "sector_identifier", "id_token_signed_response_alg", "disabled",
]


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__}")


def dump_registration(data: dict) -> str:
    keys = [k for k in ORDER if k in data and data[k] not in (None, "")]
    return "".join(f"{k} = {_value(data[k])}\n" for k in keys)


def set_field(path: Path, key: str, value) -> None:
    """Replace (or append) one top-level ``key = value`` line, atomically."""
    text = path.read_text(encoding="utf-8")
    line = f"{key} = {_value(value)}"
    pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
    text = pattern.sub(line, text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n" + line + "\n"
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
