"""`idp backchannel`: deliver queued back-channel logout tokens (cron), show the queue."""

from __future__ import annotations

import json

import click
from sqlalchemy import func, select


@click.group(help="OpenID Connect Back-Channel Logout: logout tokens owed to relying parties.")
def backchannel():
    pass


@backchannel.command(
    "deliver",
    help="Send every logout token that is due. Run from cron every minute, on any number of "
    "nodes: each delivery is claimed by one worker. Progress goes to stderr, the summary to stdout.",
)
@click.option("--limit", default=1000, show_default=True, type=int, help="At most this many deliveries per run.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def deliver(limit: int, as_json: bool):
    from idp.cli import _app
    from idp.oidc.backchannel import deliver_due

    app = _app()

    def progress(client_id: str, outcome: str) -> None:
        if not as_json:
            click.echo(f"  {client_id}: {outcome}", err=True)

    with app.app_context():
        counts = deliver_due(limit=limit, progress=progress)
    if as_json:
        click.echo(json.dumps(counts, indent=2))
    else:
        click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


@backchannel.command("status", help="Count queued, delivered and abandoned logout tokens per client.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool):
    from idp.cli import _app
    from idp.extensions import db
    from idp.oidc.models import BackchannelDelivery as D

    app = _app()
    with app.app_context():
        rows = db.session.execute(
            select(D.client_id, func.count(D.next_attempt_at), func.count(D.delivered_at), func.count(D.gave_up_at))
            .group_by(D.client_id)
            .order_by(D.client_id)
        ).all()
    data = {cid: {"pending": p, "delivered": d, "gave_up": g} for cid, p, d, g in rows}
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo("\n".join(f"{cid}: {v['pending']} pending, {v['delivered']} delivered, {v['gave_up']} gave up"
                             for cid, v in data.items()) or "queue empty")
