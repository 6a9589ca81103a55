"""Structured (JSON lines) logging to stderr."""

from __future__ import annotations

import json
import logging
import sys
import time

_configured = False
# Attributes every LogRecord has; anything else came from `extra=` and is logged as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        try:
            parsed = json.loads(msg) if msg.startswith("{") else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            out.update(parsed)
        else:
            out["msg"] = msg
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        # json.dumps escapes control characters, so a newline in a field cannot forge a line.
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    global _configured
    # Authlib logs whole token responses at DEBUG ("Issue token {...}"): never let its
    # debug output on, whatever the root level (T92: no token in any log line).
    logging.getLogger("authlib").setLevel(logging.INFO)
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("idp")
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    _configured = True
