from alembic import context
from sqlalchemy import create_engine

# Import every model so the metadata is complete.
import idp.audit.models
import idp.authn.models
import idp.consent.models
import idp.identity.models
import idp.keys.models
import idp.oidc.models
import idp.registry.local  # noqa: F401
from idp.extensions import db

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
