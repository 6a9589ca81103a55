"""Self-registration from a phone: registry-checked identity, verified contact, password."""
