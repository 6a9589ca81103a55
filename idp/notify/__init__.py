"""Messages to citizens outside the browser: one-time codes and security notices, by
e-mail, SMS or WhatsApp, through a pluggable backend."""
