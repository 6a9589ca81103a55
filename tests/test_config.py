"""Configuration: defaults, validation, the example file mirrors every key."""

import tomllib

import pytest

from idp import config
from tests.conftest import ROOT


def test_example_mirrors_every_key_with_its_default():
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    assert set(example) == set(config.SETTINGS)
    for key, value in example.items():
        if key != "issuer":
            assert value == config.SETTINGS[key].default, key
    config.build(example)


@pytest.mark.parametrize(
    "overrides,key",
    [
        ({}, "issuer"),
        ({"issuer": "http://idp.example"}, "issuer"),
        ({"issuer": "https://idp.example/"}, "issuer"),
        ({"issuer": "https://idp.example?x=1"}, "issuer"),
        ({"issuer": "https://idp.example", "access_token_ttl": 0}, "access_token_ttl"),
        ({"issuer": "https://idp.example", "argon2_memory_cost": 1024}, "argon2_memory_cost"),
        ({"issuer": "https://idp.example", "default_locale": "fr"}, "default_locale"),
        ({"issuer": "https://idp.example", "debug": "yes"}, "debug"),
        ({"issuer": "https://idp.example", "session_idle_ttl": 99999}, "session_idle_ttl"),
    ],
)
def test_bad_value_names_the_key(overrides, key):
    with pytest.raises(config.ConfigError, match=key):
        config.build(overrides)


def test_unknown_key_warns(caplog):
    cfg = config.build({"issuer": "https://idp.example", "isuer": "typo"})
    assert "isuer" in caplog.text and "isuer" not in cfg


def test_http_issuer_only_in_debug():
    assert config.build({"issuer": "http://127.0.0.1:5000", "debug": True})["issuer"].startswith("http://")


def test_bad_toml_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("issuer = ")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load_file(p)


def test_backchannel_allow_private_only_in_debug():
    """Logout tokens to private and loopback addresses (SSRF) are for development only."""
    with pytest.raises(config.ConfigError, match=r"'backchannel_allow_private': only with debug = true"):
        config.build({"issuer": "https://idp.example", "backchannel_allow_private": True})
    cfg = config.build({"issuer": "https://idp.example", "backchannel_allow_private": True, "debug": True})
    assert cfg["backchannel_allow_private"] is True
