"""Serve idp.wsgi:app with bjoern, pre-forked: one listening socket, N worker processes.

    python bench/servers/bjoern_serve.py --workers 2 --port 8000 [--host 127.0.0.1]

bjoern is single-threaded and single-process; this is the pre-fork pattern its README shows
(listen, then fork). The app is imported in the parent (like gunicorn --preload); each child
drops any inherited database connections first. SIGTERM/SIGINT to the parent stops the
children. Run with bench/.venv's Python and PYTHONPATH naming the project and its venv's
site-packages (bench/run.py does that).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import bjoern


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()

    from idp.extensions import db
    from idp.wsgi import app

    bjoern.listen(app, args.host, args.port, reuse_port=False)
    children: list[int] = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            with app.app_context():
                db.engine.dispose(close=False)  # SQLAlchemy: never share pooled connections
            try:
                bjoern.run()
            except KeyboardInterrupt:
                pass
            os._exit(0)
        children.append(pid)

    def stop(signum, _frame):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    for pid in children:
        while True:
            try:
                _, st = os.waitpid(pid, 0)
                status = status or os.waitstatus_to_exitcode(st)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
    return 0 if status in (0, -signal.SIGTERM) else 1


if __name__ == "__main__":
    sys.exit(main())
