"""People: NIK normalisation, encryption at rest, blind index, one account per NIK."""

import pytest

from idp.identity import services as identity
from idp.identity.nik import InvalidNIKError, mask_nik, normalize_nik


@pytest.mark.parametrize("raw", ["3174010101900001", " 3174 0101 0190 0001 ", "3174.0101.0190.0001", "３１７４０１０１０１９０００01", "٣١٧٤٠١٠١٠١٩٠٠٠٠١"])
def test_normalize_nik(raw):
    assert normalize_nik(raw) == "3174010101900001"


@pytest.mark.parametrize("raw", ["317401010190000", "31740101019000011", "31740101019O0001", "", "x" * 100])
def test_reject_bad_nik(raw):
    with pytest.raises(InvalidNIKError):
        normalize_nik(raw)


def test_mask():
    assert mask_nik("3174010101900001") == "317401******0001"


def test_nik_encrypted_and_indexed(ctx, person):
    from idp.extensions import db
    from idp.identity.models import Person

    row = db.session.get(Person, person.id)
    assert person.nik.encode() not in row.nik_encrypted
    assert person.nik not in row.nik_index
    assert identity.decrypt_nik(row) == person.nik
    assert identity.get_person_by_nik(person.nik).id == person.id
    spaced = " ".join(person.nik[i:i + 4] for i in range(0, 16, 4))
    assert identity.get_person_by_nik(spaced).id == person.id
    assert identity.get_person_by_nik("3174010101909999") is None


def test_one_account_per_nik(ctx, create_person, person):
    with pytest.raises(identity.PersonExistsError):
        create_person(nik=person.nik)


def test_password_stored_as_argon2id(ctx, person):
    from idp.extensions import db
    from idp.identity.models import Person

    h = db.session.get(Person, person.id).password_hash
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_rehash_on_login_when_parameters_change(app, keys_dir, person, flow):
    from idp.extensions import db
    from idp.identity.models import Person

    app.config["IDP"] = {**app.config["IDP"], "argon2_time_cost": 3}
    flow.run(person.nik)
    with app.app_context():
        assert "t=3" in db.session.get(Person, person.id).password_hash
