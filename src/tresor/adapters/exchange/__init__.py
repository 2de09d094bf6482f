"""The exchange gateway: the only code that imports ccxt."""
