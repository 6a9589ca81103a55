"""Access tokens, refresh tokens and codes: stored only as SHA-256, revoked by family.

A family is everything issued from one authorization code: the code's replay, or the
replay of a rotated refresh token, revokes the whole family (RFC 9700 §4.14.2,
RFC 6749 §4.1.2).
"""

from __future__ import annotations

import secrets

from sqlalchemy import select, update

from idp import clock
from idp.extensions import db, read_only_session
from idp.oidc.models import AccessToken, AuthorizationCode, RefreshToken, hash_secret


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_family() -> str:
    return secrets.token_urlsafe(16)


def consume_code(code: str) -> tuple[AuthorizationCode | None, bool]:
    """Atomically mark a code redeemed. Returns (code row or None, was_replay).

    The UPDATE ... WHERE redeemed_at IS NULL makes two concurrent redemptions race in
    the database: exactly one sees rowcount 1.
    """
    if not isinstance(code, str) or len(code) > 256:
        return None, False
    code_hash = hash_secret(code)
    now = clock.now()
    result = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == code_hash, AuthorizationCode.redeemed_at.is_(None))
        .values(redeemed_at=now)
    )
    row = db.session.get(AuthorizationCode, code_hash)
    if row is None:
        db.session.rollback()
        return None, False
    if result.rowcount != 1:
        return row, True
    db.session.commit()
    return row, False


def revoke_family(family_id: str | None) -> None:
    """Revoke every access and refresh token of a family (the caller commits)."""
    if not family_id:
        return
    now = clock.now()
    db.session.execute(
        update(AccessToken).where(AccessToken.family_id == family_id, AccessToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    db.session.execute(
        update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None)).values(revoked_at=now)
    )


def revoke_for_session(sid: str) -> None:
    """Logout: refresh and access tokens issued under SSO session ``sid`` die (caller commits)."""
    now = clock.now()
    families = db.session.execute(select(RefreshToken.family_id).where(RefreshToken.sid == sid)).scalars().all()
    db.session.execute(
        update(RefreshToken).where(RefreshToken.sid == sid, RefreshToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    db.session.execute(
        update(AccessToken).where(AccessToken.sid == sid, AccessToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    for family in set(families):
        revoke_family(family)


def revoke_for_person(person_id: int) -> None:
    now = clock.now()
    db.session.execute(
        update(RefreshToken).where(RefreshToken.person_id == person_id, RefreshToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    db.session.execute(
        update(AccessToken).where(AccessToken.person_id == person_id, AccessToken.revoked_at.is_(None)).values(revoked_at=now)
    )


def revoke_for_person_client(person_id: int, client_id: str) -> None:
    now = clock.now()
    for model in (RefreshToken, AccessToken):
        db.session.execute(
            update(model).where(model.person_id == person_id, model.client_id == client_id, model.revoked_at.is_(None))
            .values(revoked_at=now)
        )


def resource_context(value: str):
    """(access token, person, client) for a live user access token, in one query, or None.

    The hot path of UserInfo: one round trip instead of three."""
    from idp.identity.models import Person
    from idp.oidc.models import Client

    if not value or len(value) > 512:
        return None
    with read_only_session() as session:
        row = session.execute(
            select(AccessToken, Person, Client)
            .join(Person, Person.id == AccessToken.person_id)
            .join(Client, Client.client_id == AccessToken.client_id)
            .where(AccessToken.token_hash == hash_secret(value))
        ).first()
    if row is None:
        return None
    at, person, client = row
    if at.revoked_at is not None or at.expires_at <= clock.now() or person.locked or client.disabled:
        return None
    return at, person, client


def find_refresh_token_with_person(value: str):
    """(refresh token, person) for a value, whatever the token's state, or None."""
    from idp.identity.models import Person

    if not value or len(value) > 512:
        return None
    row = db.session.execute(
        select(RefreshToken, Person)
        .join(Person, Person.id == RefreshToken.person_id)
        .where(RefreshToken.token_hash == hash_secret(value))
    ).first()
    return None if row is None else (row[0], row[1])


def find_refresh_token(value: str) -> RefreshToken | None:
    """The stored refresh token for a value, whatever its state."""
    if not value or len(value) > 512:
        return None
    return db.session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == hash_secret(value))
    ).scalar_one_or_none()


def find_access_token(value: str) -> AccessToken | None:
    if not value or len(value) > 512:
        return None
    return db.session.execute(
        select(AccessToken).where(AccessToken.token_hash == hash_secret(value))
    ).scalar_one_or_none()
