"""Tresor: an open, self-hosted hub for crypto exchange accounts."""

__version__ = "0.1.0"
