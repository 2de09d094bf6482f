"""The vault: envelope encryption of exchange secrets, sealing of trade keys."""
