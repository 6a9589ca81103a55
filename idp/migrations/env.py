from alembic import context
from sqlalchemy import create_engine

from idp.extensions import db

# Import every model so the metadata is complete.
import idp.audit.models  # noqa: F401
import idp.authn.models  # noqa: F401
import idp.consent.models  # noqa: F401
import idp.identity.models  # noqa: F401
import idp.keys.models  # noqa: F401
import idp.oidc.models  # noqa: F401

target_metadata = db.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
