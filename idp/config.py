"""Configuration: every default lives here; ``config.example.toml`` mirrors it.

One TOML file (named by ``IDP_CONFIG``) overrides these defaults. Unknown keys warn;
a bad value stops start-up with a message naming the key. Secrets never live in the
file: it names where they come from (``keys_dir`` files or ``IDP_SECRET_*`` variables).
"""

from __future__ import annotations

import logging
import os
import re
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


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


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


def _env_name(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) is not None


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
    # One-time codes sent to a phone or e-mail (registration, password reset): lifetime and tries.
    "otp_ttl": Setting(300, _positive_int, "a positive number of seconds"),
    "otp_max_attempts": Setting(5, _positive_int, "a positive integer"),
    # Password-reset codes (idp/recovery): lifetime by SMS and by e-mail (SECURITY.md
    # "Reset links / enrollment": 10 min by SMS, 30 min by e-mail); tries: otp_max_attempts.
    "reset_code_ttl_sms": Setting(600, _positive_int, "a positive number of seconds"),
    "reset_code_ttl_email": Setting(1800, _positive_int, "a positive number of seconds"),
    # Activation codes an MPP officer hands over (printed, or sent to a contact the citizen
    # gives at the counter): lifetime in seconds. 24 h lets the citizen get home to a device.
    "activation_code_ttl": Setting(86400, _positive_int, "a positive number of seconds"),
    # Where messages go. "outbox" keeps them in the database (development, pilots:
    # shown at /dev/outbox in debug mode); "smtp" and "gateway" deliver them.
    "notify_email_backend": Setting("outbox", lambda v: v in ("outbox", "smtp"), "'outbox' or 'smtp'"),
    "notify_sms_backend": Setting("outbox", lambda v: v in ("outbox", "gateway"), "'outbox' or 'gateway'"),
    "notify_timeout": Setting(5, _positive_int, "a positive number of seconds"),
    "smtp_host": Setting("localhost", _str, "a host name"),
    "smtp_port": Setting(587, _positive_int, "a port number"),
    "smtp_starttls": Setting(True, _bool, "true or false"),
    "smtp_user": Setting("", _str, "a user name or empty"),
    # Name of the environment variable holding the SMTP password (never the password).
    "smtp_password_env": Setting("IDP_SMTP_PASSWORD", _str, "an environment variable name"),
    "mail_from": Setting("SatuAkun <no-reply@satuakun.go.id>", _str, "an e-mail From header"),
    # SMS/WhatsApp gateway: POST {"channel", "to", "text"} with a bearer token.
    "sms_gateway_url": Setting("", _str, "an https URL or empty"),
    "sms_gateway_token_env": Setting("IDP_SMS_GATEWAY_TOKEN", _str, "an environment variable name"),
    # Number of trusted reverse-proxy hops in front of the app (X-Forwarded-For).
    "trusted_proxies": Setting(0, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    # How often a node re-reads signing keys from the database.
    "key_cache_seconds": Setting(30, _positive_int, "a positive number of seconds"),
    # Load clients/ and seed the demo citizen on `idp init` (development only).
    "seed_demo": Setting(False, _bool, "true or false"),
    # Population registry (idp/registry): "local" (table imported with `idp registry import`)
    # or "http" (Dukcapil-style verification web service, contract in idp/registry/http.py).
    "registry_backend": Setting("local", lambda v: v in ("local", "http"), "'local' or 'http'"),
    "registry_url": Setting("", _str, "the service's https endpoint URL or empty"),
    "registry_user": Setting("", _str, "the service's user id or empty"),
    # Name of the environment variable holding the registry password (never the password).
    "registry_password_env": Setting("IDP_REGISTRY_PASSWORD", _env_name, "an environment variable name"),
    # The caller address the registry has on file for us (its IP_USER element).
    "registry_ip_user": Setting("", _str, "an IP address or empty"),
    # Mutual TLS: our client certificate and key (PEM paths), and the CA bundle that
    # signs the registry's certificate (empty: the system CAs).
    "registry_client_cert": Setting("", _str, "a file path or empty"),
    "registry_client_key": Setting("", _str, "a file path or empty"),
    "registry_ca_bundle": Setting("", _str, "a file path or empty"),
    "registry_connect_timeout": Setting(2, _positive_int, "a positive number of seconds"),
    "registry_read_timeout": Setting(5, _positive_int, "a positive number of seconds"),
    # Retries after a connection error, timeout or 502/503/504 (backoff with jitter).
    "registry_retries": Setting(2, lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 5, "0 to 5"),
    # Circuit breaker: this many consecutive failures stop calls for registry_breaker_seconds.
    "registry_breaker_failures": Setting(5, _positive_int, "a positive integer"),
    "registry_breaker_seconds": Setting(30, _positive_int, "a positive number of seconds"),
    # Allow an http registry_url (a local stand-in). Development only: needs debug = true.
    "registry_allow_http": Setting(False, _bool, "true or false"),
    # Document vault (idp/documents). Types registry: empty = the shipped idp/documents/types.toml.
    "document_types_file": Setting("", _str, "a TOML file path or empty"),
    # Where encrypted document files live: "local" (a directory) or "s3" (an S3-compatible
    # object store, for several nodes; the document_s3_* keys).
    "document_store": Setting("local", lambda v: v in ("local", "s3"), "'local' or 's3'"),
    "document_store_dir": Setting("var/documents", _str, "a directory path"),
    # Empty: AWS's endpoint for document_s3_region; else any S3-compatible server (MinIO).
    "document_s3_endpoint_url": Setting("", _str, "an https URL or empty"),
    "document_s3_bucket": Setting("", _str, "a bucket name"),
    # Jakarta; MinIO accepts any region name.
    "document_s3_region": Setting("ap-southeast-3", _str, "a region name"),
    # Environment variables holding the credentials (empty: boto3's default chain, e.g. an
    # instance role). Never the secrets themselves.
    "document_s3_access_key_env": Setting("IDP_DOCUMENT_S3_ACCESS_KEY", lambda v: v == "" or _env_name(v),
                                          "an environment variable name or empty"),
    "document_s3_secret_key_env": Setting("IDP_DOCUMENT_S3_SECRET_KEY", lambda v: v == "" or _env_name(v),
                                          "an environment variable name or empty"),
    # Object names are <prefix><32 hex digits>.
    "document_s3_prefix": Setting("documents/", lambda v: isinstance(v, str) and re.fullmatch(r"([A-Za-z0-9._-]+/)*", v)
                                  is not None, "empty or path segments ending in '/'"),
    # Upload limits (SECURITY.md "Uploads"): per file, files and bytes per citizen.
    "document_max_bytes": Setting(10485760, _positive_int, "a positive number of bytes"),
    "document_max_files": Setting(20, _positive_int, "a positive integer"),
    "document_quota_bytes": Setting(104857600, _positive_int, "a positive number of bytes"),
    # Request body limit of the upload route only (every other route: max_form_bytes).
    "document_upload_max_request": Setting(11534336, _positive_int, "a positive number of bytes"),
    # Limits of the child process that parses/re-encodes each upload (documents/sandbox.py):
    # CPU seconds (also bounds the wall clock: 3 x CPU + 2 s) and address space in MiB.
    "document_parse_cpu_seconds": Setting(2, lambda v: _positive_int(v) and v <= 60, "1 to 60 seconds"),
    "document_parse_memory_mb": Setting(256, lambda v: _positive_int(v) and 32 <= v <= 4096, "32 to 4096 MiB"),
    # How long a citizen's grant of one document type to one service lasts (<= 12 months).
    "document_grant_ttl": Setting(31536000, lambda v: _positive_int(v) and v <= 31622400, "seconds, at most 366 days"),
    # Lifetime of a single-use file download link given to a service.
    "document_link_ttl": Setting(60, _positive_int, "a positive number of seconds"),
    # Origin that serves document files (SECURITY.md T70), e.g. "https://berkas.satuakun.go.id":
    # a host of its own, where nothing else of the provider answers. Empty: the issuer's origin.
    "document_files_origin": Setting("", _str, "an https origin (scheme://host[:port]) or empty"),
    # Anti-virus scanning of document files (documents/scan.py, SECURITY.md T70): "clamd"
    # (ClamAV's daemon) or "none" (scanning off: files are marked skipped and still released
    # to services; a warning at start-up outside debug). The default keeps a development
    # setup working without clamd; production sets "clamd".
    "document_scanner": Setting("none", lambda v: v in ("none", "clamd"), "'none' or 'clamd'"),
    # clamd's TCPSocket (host:port, [v6]:port) or LocalSocket (an absolute path).
    "clamd_address": Setting("127.0.0.1:3310", _str, "host:port or an absolute unix socket path"),
    "clamd_connect_timeout": Setting(2, _positive_number, "a positive number of seconds"),
    # Deadline of one scan after connecting (sending, scanning, reply). An upload whose scan
    # does not finish in time is stored as pending, released once `idp documents scan` passes it.
    "clamd_timeout": Setting(15, _positive_number, "a positive number of seconds"),
    # clamd's StreamMaxLength (25M unless clamd.conf says otherwise); at least document_max_bytes.
    "clamd_stream_max_bytes": Setting(26214400, _positive_int, "a positive number of bytes"),
    # Back-channel logout (idp/oidc/backchannel.py): also deliver to private, loopback and
    # link-local addresses, and over http. Tests and local development only (an SSRF hole):
    # refused unless debug = true.
    "backchannel_allow_private": Setting(False, _bool, "true or false"),
    # DPoP (RFC 9449 §8): server nonces are always offered (DPoP-Nonce header) and checked
    # when a proof carries one; true also refuses proofs without one (use_dpop_nonce).
    "dpop_nonce_required": Setting(False, _bool, "true or false"),
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
    if cfg["backchannel_allow_private"] and not cfg["debug"]:
        # Logout tokens to private and loopback addresses: an SSRF hole outside development.
        raise ConfigError("config key 'backchannel_allow_private': only with debug = true")
    _validate_registry(cfg)
    _validate_document_store(cfg)
    _validate_document_files_origin(cfg)
    _validate_document_scanner(cfg)


def _validate_document_scanner(cfg: dict[str, Any]) -> None:
    if cfg["document_scanner"] != "clamd":
        return
    from idp.documents.scan import parse_address

    try:
        parse_address(cfg["clamd_address"])
    except ValueError as exc:
        raise ConfigError(f"config key 'clamd_address': {exc}") from None
    if cfg["clamd_stream_max_bytes"] < cfg["document_max_bytes"]:
        # clamd would refuse every larger file: those documents would stay pending forever.
        raise ConfigError("config key 'clamd_stream_max_bytes': must be at least document_max_bytes (raise "
                          "StreamMaxLength in clamd.conf to match)")


def _validate_document_files_origin(cfg: dict[str, Any]) -> None:
    value = cfg["document_files_origin"]
    if not value:
        return
    key = "config key 'document_files_origin'"
    try:
        url = urlsplit(value)
        url.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ConfigError(f"{key}: not a valid URL") from None
    if (not url.hostname or url.username or url.password or url.path or "?" in value or "#" in value
            or url.scheme not in ("https", "http")):
        raise ConfigError(f"{key}: expected an origin without path, e.g. https://berkas.satuakun.go.id")
    if url.scheme != "https" and not cfg["debug"]:
        raise ConfigError(f"{key}: must be https (http only with debug = true)")
    # Cookies are scoped by host name, not port: another port of the issuer's host would
    # see the provider's cookies.
    if url.hostname == (urlsplit(cfg["issuer"]).hostname or "").lower():
        raise ConfigError(f"{key}: must be a host name other than the issuer's")


def _validate_document_store(cfg: dict[str, Any]) -> None:
    if cfg["document_store"] != "s3":
        return
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", cfg["document_s3_bucket"]):
        raise ConfigError("config key 'document_s3_bucket': required with document_store = 's3' (3-63 characters: "
                          "a-z, 0-9, '.', '-')")
    if not cfg["document_s3_region"]:
        raise ConfigError("config key 'document_s3_region': required with document_store = 's3'")
    if bool(cfg["document_s3_access_key_env"]) != bool(cfg["document_s3_secret_key_env"]):
        raise ConfigError("config key 'document_s3_secret_key_env': set document_s3_access_key_env and "
                          "document_s3_secret_key_env together, or neither")
    if not cfg["document_s3_endpoint_url"]:
        return
    try:
        url = urlsplit(cfg["document_s3_endpoint_url"])
        url.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ConfigError("config key 'document_s3_endpoint_url': not a valid URL") from None
    if not url.hostname or url.username or url.password or url.query or url.fragment:
        raise ConfigError("config key 'document_s3_endpoint_url': expected a URL with a host, no credentials, "
                          "no query")
    # Objects are ciphertext, but request metadata and integrity still need TLS off the node.
    if url.scheme != "https" and not (url.scheme == "http" and (cfg["debug"] or _loopback(url.hostname))):
        raise ConfigError("config key 'document_s3_endpoint_url': must be https (http only to a loopback address "
                          "or with debug = true)")


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_registry(cfg: dict[str, Any]) -> None:
    if cfg["registry_allow_http"] and not cfg["debug"]:
        raise ConfigError("config key 'registry_allow_http': only with debug = true")
    if bool(cfg["registry_client_cert"]) != bool(cfg["registry_client_key"]):
        raise ConfigError("config key 'registry_client_key': set registry_client_cert and registry_client_key together")
    if cfg["registry_backend"] != "http":
        return
    try:
        url = urlsplit(cfg["registry_url"])
        url.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ConfigError("config key 'registry_url': not a valid URL") from None
    if url.scheme != "https" and not (cfg["registry_allow_http"] and url.scheme == "http"):
        raise ConfigError("config key 'registry_url': required with registry_backend = 'http', and https "
                          "(http only with registry_allow_http)")
    if not url.hostname or url.username or url.password:
        raise ConfigError("config key 'registry_url': expected a URL with a host and no credentials")
    if not cfg["registry_user"]:
        raise ConfigError("config key 'registry_user': required with registry_backend = 'http'")
    if cfg["registry_allow_http"]:
        log.warning("DEVELOPMENT MODE: registry_allow_http lets citizens' data go to the registry unencrypted.")


def from_environment() -> dict[str, Any]:
    """Settings from the file named by IDP_CONFIG, or the defaults."""
    path = os.environ.get("IDP_CONFIG")
    return build(load_file(path) if path else {})


def resolve_path(value: str) -> Path:
    """Relative paths in the configuration are relative to the project root."""
    p = Path(value)
    return p if p.is_absolute() else PROJECT_ROOT / p
