"""The document types registry: configuration, validated strictly (file, field, reason)."""

from __future__ import annotations

import pytest

from idp import create_app
from idp.documents import storage, types
from tests.conftest import base_config

GOOD = {"types": {"kk": {"name": "KK", "issuer": "Dukcapil", "verifiable_at": 2, "attributes": [
    {"name": "number", "type": "string", "required": True, "label": "Nomor"}]}}}


def test_shipped_types():
    registry = types.load()
    assert {"ktp", "kk", "akta_lahir", "ijazah", "str", "sip", "npwp", "sim"} <= set(registry)
    assert registry["kk"].scope == "doc:kk" and registry["kk"].attribute("members").type == "list"
    assert registry["str"].expires and registry["str"].attribute("profession").required


def _with(**changes):
    import copy

    raw = copy.deepcopy(GOOD)
    spec = raw["types"]["kk"]
    for k, v in changes.items():
        if v is None:
            spec.pop(k)
        else:
            spec[k] = v
    return raw


@pytest.mark.parametrize(
    "raw,field",
    [
        ({"types": {"KK!": GOOD["types"]["kk"]}}, "types.KK!"),
        (_with(colour="red"), "types.kk.colour"),
        (_with(name=None), "types.kk.name"),
        (_with(verifiable_at=4), "types.kk.verifiable_at"),
        (_with(expires="ya"), "types.kk.expires"),
        (_with(expires=True), "types.kk.attributes"),
        (_with(attributes=[]), "types.kk.attributes"),
        (_with(attributes=[{"name": "nomor", "label": "Nomor"}]), "types.kk.attributes"),
        (_with(attributes=[{"name": "number", "label": "N", "type": "blob"}]), "types.kk.attributes[0].type"),
        (_with(attributes=[{"name": "number", "label": "N"}, {"name": "number", "label": "M"}]), "types.kk.attributes[1].name"),
        (_with(attributes=[{"name": "number"}]), "types.kk.attributes[0].label"),
        ({"types": {}}, "types"),
        ({"jenis": {}}, "(file)"),
    ],
)
def test_bad_types_name_the_field(raw, field):
    with pytest.raises(types.DocumentTypesError) as err:
        types.parse(raw, "types.toml")
    assert err.value.field == field and err.value.source == "types.toml"


def test_attribute_values_are_checked():
    kk = types.load()["kk"]
    good = kk.clean({"number": " 1 ", "holder_name": "A", "address": "B", "members": "x\n\n y \n"})
    assert good == {"number": "1", "holder_name": "A", "address": "B", "members": ["x", "y"]}
    for bad in ({"holder_name": "A", "address": "B", "members": "x"}, {**good, "number": "a" * 201},
                {**good, "members": "\n".join(["x"] * 21)}, {**good, "issued_on": "31-12-2020"}, {**good, "number": "1\x00"}):
        with pytest.raises(types.AttributeError_):
            kk.clean({k: "\n".join(v) if isinstance(v, list) else v for k, v in bad.items()})


def test_operator_file_replaces_the_registry(keys_dir, tmp_path):
    path = tmp_path / "types.toml"
    path.write_text('[types.paspor]\nname = "Paspor"\nissuer = "Imigrasi"\nverifiable_at = 3\n'
                    'attributes = [{ name = "number", label = "Nomor paspor" }]\n')
    app = create_app(base_config(keys_dir, f"sqlite:///{tmp_path}/x.sqlite3", document_types_file=str(path)))
    with app.app_context():
        assert list(types.current()) == ["paspor"]
    assert "doc:paspor" in app.test_client().get("/.well-known/openid-configuration").get_json()["scopes_supported"]


def test_bad_operator_file_stops_start_up(keys_dir, tmp_path):
    path = tmp_path / "types.toml"
    path.write_text('[types.paspor]\nname = "Paspor"\n')
    with pytest.raises(types.DocumentTypesError, match="types.paspor.issuer"):
        create_app(base_config(keys_dir, f"sqlite:///{tmp_path}/x.sqlite3", document_types_file=str(path)))


def test_local_store(tmp_path):
    bs = storage.LocalStore(tmp_path / "b")
    name = storage.new_name()
    bs.put(name, b"abc")
    assert bs.get(name) == b"abc"
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".tmp-")]
    bs.delete(name)
    bs.delete(name)
    with pytest.raises(storage.BlobStoreError):
        bs.get(name)
    for bad in ("../etc/passwd", "A" * 32, ""):
        with pytest.raises(storage.BlobStoreError):
            bs.put(bad, b"x")
