"""Flask extensions, created unbound and wired in create_app()."""

from flask_babel import Babel
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


# expire_on_commit=False: a request commits and then still reads what it wrote; with
# expiry every attribute access after a commit is another round trip to the database.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
csrf = CSRFProtect()
babel = Babel()


def read_only_session():
    """A short ORM session on an autocommit connection, for single-statement reads on hot
    paths: no BEGIN/ROLLBACK round trips around the one SELECT. Use as a context manager."""
    from flask import current_app
    from sqlalchemy.orm import Session

    engine = current_app.extensions.get("idp_read_engine")
    if engine is None:
        engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        current_app.extensions["idp_read_engine"] = engine
    return Session(engine, expire_on_commit=False)
