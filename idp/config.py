"""Configuration: every default lives here; ``config.example.toml`` mirrors it.

One TOML file (named by ``IDP_CONFIG``) overrides these defaults. Unknown keys warn;
a bad value stops start-up with a message naming the key. Secrets never live in the
file: it names where they come from (``keys_dir`` files or ``IDP_SECRET_*`` variables).
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _alg(value: Any) -> bool:
    return value in ("ES256", "RS256")


def _signing_algs(value: Any) -> bool:
    return (
        isinstance(value, list) and "RS256" in value and len(set(value)) == len(value)
        and all(v in ("ES256", "RS256", "PS256", "EdDSA") for v in value)
    )


def _locale(value: Any) -> bool:
    return value in ("id", "en")


def _subject_type(value: Any) -> bool:
    return value in ("pairwise", "public")


@dataclass(frozen=True)
class Setting:
    default: Any
    check: Callable[[Any], bool]
    expect: str


SETTINGS: dict[str, Setting] = {
    # Identity of the provider. Discovery, ID tokens and the RFC 9207 `iss` all use it.
    "issuer": Setting("", _str, "an https URL without query or fragment"),
    # Development mode: allows an http issuer and shows the dev banner. Never in production.
    "debug": Setting(False, _bool, "true or false"),
    "database_url": Setting("sqlite:///var/idp.sqlite3", _str, "an SQLAlchemy URL"),
    # Redis is optional; empty means the database serves as the shared store.
    "redis_url": Setting("", _str, "a redis:// URL or empty"),
    "keys_dir": Setting("keys", _str, "a directory path"),
    "clients_dir": Setting("clients", _str, "a directory path"),
    "default_locale": Setting("id", _locale, "'id' or 'en'"),
    # Lifetimes in seconds (../shared/SECURITY.md "Recommended figures").
    "authorization_code_ttl": Setting(60, _positive_int, "a positive number of seconds"),
    "access_token_ttl": Setting(600, _positive_int, "a positive number of seconds"),
    "id_token_ttl": Setting(300, _positive_int, "a positive number of seconds"),
    "refresh_token_absolute_ttl": Setting(43200, _positive_int, "a positive number of seconds"),
    "refresh_token_idle_ttl": Setting(3600, _positive_int, "a positive number of seconds"),
    "offline_refresh_token_absolute_ttl": Setting(2592000, _positive_int, "a positive number of seconds"),
    "offline_refresh_token_idle_ttl": Setting(604800, _positive_int, "a positive number of seconds"),
    "session_absolute_ttl": Setting(43200, _positive_int, "a positive number of seconds"),
    "session_idle_ttl": Setting(1800, _positive_int, "a positive number of seconds"),
    "interaction_ttl": Setting(600, _positive_int, "a positive number of seconds"),
    "consent_ttl": Setting(31536000, _positive_int, "a positive number of seconds"),
    # Default ID token signing algorithm; a client may register RS256.
    "id_token_signing_alg": Setting("ES256", _alg, "'ES256' or 'RS256'"),
    # Algorithms the provider keeps signing keys for (RS256 is required by OIDC Discovery).
    "signing_algs": Setting(["ES256", "RS256"], _signing_algs, "a list from ES256, RS256, PS256, EdDSA including RS256"),
    # A standby key is published this long before it may sign (RP JWKS caches: 24 h max).
    "key_prepublish_seconds": Setting(172800, _positive_int, "a positive number of seconds"),
    # A replaced key stays published this long (>> token lifetimes + RP JWKS cache).
    "key_retire_seconds": Setting(604800, _positive_int, "a positive number of seconds"),
    "default_subject_type": Setting("pairwise", _subject_type, "'pairwise' or 'public'"),
    # argon2id, OWASP profile; never below it.
    "argon2_time_cost": Setting(2, lambda v: _positive_int(v) and v >= 2, "an integer >= 2"),
    "argon2_memory_cost": Setting(19456, lambda v: _positive_int(v) and v >= 19456, "KiB, >= 19456"),
    "argon2_parallelism": Setting(1, _positive_int, "a positive integer"),
    # Concurrent password hashes per process; excess requests get 503 + Retry-After.
    "max_concurrent_hashes": Setting(4, _positive_int, "a positive integer"),
    "max_form_bytes": Setting(65536, _positive_int, "a positive number of bytes"),
    "max_state_length": Setting(2048, _positive_int, "a positive number of characters"),
    # Number of trusted reverse-proxy hops in front of the app (X-Forwarded-For).
    "trusted_proxies": Setting(0, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    # How often a node re-reads signing keys from the database.
    "key_cache_seconds": Setting(30, _positive_int, "a positive number of seconds"),
    # Load clients/ and seed the demo citizen on `idp init` (development only).
    "seed_demo": Setting(False, _bool, "true or false"),
}


def defaults() -> dict[str, Any]:
    return {name: s.default for name, s in SETTINGS.items()}


def load_file(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def build(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``overrides`` (from the TOML file or a test) over the defaults and validate.

    Returns the merged settings. Raises ConfigError naming the first bad key.
    """
    merged = defaults()
    for key, value in (overrides or {}).items():
        if key not in SETTINGS:
            log.warning("config: unknown key %r ignored", key)
            continue
        merged[key] = value
    validate(merged)
    return merged


def validate(cfg: dict[str, Any]) -> None:
    for name, setting in SETTINGS.items():
        if not setting.check(cfg[name]):
            raise ConfigError(f"config key {name!r}: expected {setting.expect}, got {cfg[name]!r}")
    if not cfg["issuer"]:
        raise ConfigError("config key 'issuer': required (the provider's public https URL)")
    issuer = urlsplit(cfg["issuer"])
    if issuer.query or issuer.fragment or not issuer.netloc or cfg["issuer"].endswith("/"):
        raise ConfigError("config key 'issuer': expected an URL without query, fragment or trailing slash")
    if issuer.scheme != "https" and not (cfg["debug"] and issuer.scheme == "http"):
        raise ConfigError("config key 'issuer': must be https (http only with debug = true)")
    if cfg["id_token_signing_alg"] not in cfg["signing_algs"]:
        raise ConfigError("config key 'id_token_signing_alg': must be one of signing_algs")
    if cfg["session_idle_ttl"] > cfg["session_absolute_ttl"]:
        raise ConfigError("config key 'session_idle_ttl': must not exceed session_absolute_ttl")


def from_environment() -> dict[str, Any]:
    """Settings from the file named by IDP_CONFIG, or the defaults."""
    path = os.environ.get("IDP_CONFIG")
    return build(load_file(path) if path else {})


def resolve_path(value: str) -> Path:
    """Relative paths in the configuration are relative to the project root."""
    p = Path(value)
    return p if p.is_absolute() else PROJECT_ROOT / p
