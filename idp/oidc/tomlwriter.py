"""Write client registration files. TOML has no writer in the standard library and the
registrations are flat (strings, booleans, lists of strings, one inline table), so this
stays tiny."""

from __future__ import annotations

import json
import re
from pathlib import Path

ORDER = [
    "client_id", "name", "region_code", "purpose", "purpose_en", "logo", "redirect_uris",
    "post_logout_redirect_uris", "token_endpoint_auth_method", "client_secret_hash", "grant_types",
    "scopes", "claims", "subject_type", "sector_identifier", "id_token_signed_response_alg", "disabled",
    "identity_assurance", "document_types", "document_file", "backchannel_logout_uri",
    "backchannel_logout_session_required", "dpop_bound_access_tokens", "document_purposes",
]
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table of bare keys (document_purposes)
        if not all(isinstance(k, str) and BARE_KEY.fullmatch(k) for k in v):
            raise TypeError("table keys must be bare TOML keys")
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__}")


def dump_registration(data: dict) -> str:
    """The registration as TOML, keys in ORDER; empty strings and None are left out.
    Raises ValueError for a key it cannot place, rather than drop it from the file."""
    unknown = set(data) - set(ORDER)
    if unknown:
        raise ValueError(f"cannot write {', '.join(sorted(unknown))}")
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
