"""``TotpCodes``: the ``OneTimeCodes`` port on pyotp (RFC 6238 TOTP: SHA-1, 6 digits, 30-second
steps, the parameters every authenticator app understands)."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

DIGITS = 6
STEP_SECONDS = 30
WINDOW = 1  # steps accepted either side of the current one (a phone's clock a little off)


class TotpCodes:
    def new_secret(self) -> str:
        """160 random bits (RFC 4226's recommended length), base32: 32 characters."""
        return pyotp.random_base32(32)

    def provisioning_uri(self, secret: str, account: str, issuer: str) -> str:
        return self._totp(secret).provisioning_uri(name=account, issuer_name=issuer)

    def verify(self, secret: str, code: str, at: datetime) -> int | None:
        code = code.strip().replace(" ", "")
        if len(code) != DIGITS or not code.isascii() or not code.isdigit():
            return None
        totp = self._totp(secret)
        now = totp.timecode(at)
        for counter in range(now - WINDOW, now + WINDOW + 1):
            if hmac.compare_digest(totp.generate_otp(counter).encode(), code.encode()):
                return counter
        return None

    @staticmethod
    def _totp(secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
