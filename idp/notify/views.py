"""/dev/outbox: the development outbox, registered only when `debug = true`."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from idp.extensions import db
from idp.notify.models import OutboxMessage

bp = Blueprint("notify", __name__, url_prefix="/dev")


@bp.get("/outbox")
def outbox():
    messages = db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(50)).scalars().all()
    return render_template("notify/outbox.html", messages=messages)
