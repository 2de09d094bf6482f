"""Adapters: the ports implemented against real technology (ccxt, SQLAlchemy, cryptography)."""
