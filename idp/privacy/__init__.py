"""Operator privacy tooling: breach drill (SECURITY.md T96) and manual data access (T93)."""
