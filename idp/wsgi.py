"""WSGI entry point for production servers: `gunicorn 'idp.wsgi:app'`."""

from idp import create_app

app = create_app()
