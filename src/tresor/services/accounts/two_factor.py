"""Two-factor sign-in with TOTP (an authenticator app) and recovery codes.

Setting up stores a new secret *pending*, encrypted by the vault (bound to
``user:<id>:totp``); a correct code from the app confirms it: two-factor is then on, and ten
recovery codes are made and shown once. They are stored as SHA-256 hashes (with the user's id:
a code is 59 random bits, far beyond guessing online, and it stands in for the second factor
only, never for the password) and each is deleted when used.

At sign-in a code of 6 digits is a TOTP code: accepted within one 30-second step either way, and
only if its step is later than the last accepted one, so an overheard code cannot be used
again. Anything else is taken for a recovery code (``abcd-efgh-ijkl``; case, spaces and dashes
do not matter).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace

from tresor.domain.accounts import SessionPolicy, TwoFactor, totp_context
from tresor.domain.errors import (
    Conflict,
    InvalidTwoFactorCode,
    NotFound,
    TwoFactorRequired,
    TwoFactorUnreadable,
    ValidationFailed,
)
from tresor.domain.secrets import Secret
from tresor.services.ports import Clock, OneTimeCodes, UnitOfWork, UnitOfWorkFactory, Vault

ISSUER = "Tresor"
# letters and digits that cannot be misread (no 0/o, 1/l/i): 31 of them
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
TOTP_DIGITS = 6
_GROUPS, _GROUP = 3, 4


def new_recovery_code() -> str:
    """``abcd-efgh-jkmn``: 12 random characters of 31 (59 bits)."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP))
    return "-".join(chars[i : i + _GROUP] for i in range(0, len(chars), _GROUP))


def recovery_code_hash(user_id: str, code: str) -> str:
    normal = "".join(c for c in code.lower() if c.isalnum())
    return hashlib.sha256(f"tresor/recovery/{user_id}/{normal}".encode()).hexdigest()


@dataclass(frozen=True)
class SecondFactor:
    """A checked TOTP code (its step) or a recovery code (its hash), to be used up in the unit
    of work that signs in."""

    counter: int | None = None
    recovery_hash: str | None = None

    async def use(self, uow: UnitOfWork, user_id: str) -> bool:
        """Spend it; False if it was spent already (a replayed code, a used recovery code)."""
        if self.counter is not None:
            return await uow.two_factor.use_counter(user_id, self.counter)
        if self.recovery_hash is not None:
            return await uow.two_factor.use_recovery_code(user_id, self.recovery_hash)
        return True


NO_SECOND_FACTOR = SecondFactor()


class TwoFactorCodes:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        codes: OneTimeCodes,
        vault: Vault,
        policy: SessionPolicy,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._codes = codes
        self._vault = vault
        self._policy = policy

    def second_factor(self, state: TwoFactor | None, code: str | None) -> SecondFactor | None:
        """What ``code`` is worth for a user with ``state``: NO_SECOND_FACTOR when two-factor
        is off, None for a wrong TOTP code.

        Raises: TwoFactorRequired when two-factor is on and no code was given."""
        if state is None or state.secret_ct is None:
            return NO_SECOND_FACTOR
        code = (code or "").strip()
        if not code:
            raise TwoFactorRequired()
        digits = code.replace(" ", "")
        if len(digits) == TOTP_DIGITS and digits.isascii() and digits.isdigit():
            secret = self._secret(state.user_id, state.secret_ct)
            counter = self._codes.verify(secret, digits, self._clock.now())
            return None if counter is None else SecondFactor(counter=counter)
        return SecondFactor(recovery_hash=recovery_code_hash(state.user_id, code))

    async def begin(self, user_id: str, account_name: str) -> tuple[Secret, str]:
        """A new pending secret and its ``otpauth://`` URI (for a QR code).

        Raises: NotFound; Conflict when two-factor is on already."""
        now = self._clock.now()
        secret = self._codes.new_secret()
        pending = self._vault.encrypt(secret.encode(), context=totp_context(user_id))
        async with self._uow() as uow:
            if await uow.users.get(user_id) is None:
                raise NotFound("There is no such user.")
            state = await uow.two_factor.get(user_id)
            if state is not None and state.enabled:
                raise Conflict(
                    "Two-factor sign-in is on already.",
                    remedy="Turn it off first (with your password), then set it up again.",
                )
            await uow.two_factor.save(
                TwoFactor(user_id=user_id, updated_at=now, pending_ct=pending)
            )
            await uow.commit()
        return Secret(secret), self._codes.provisioning_uri(secret, account_name, ISSUER)

    async def confirm(self, user_id: str, code: str) -> list[str]:
        """Turn two-factor on with a code of the pending secret; the new recovery codes (shown
        once).

        Raises: ValidationFailed when nothing is being set up; InvalidTwoFactorCode."""
        now = self._clock.now()
        async with self._uow() as uow:
            state = await uow.two_factor.get(user_id)
            if state is None or state.pending_ct is None:
                raise ValidationFailed(
                    "Two-factor sign-in is not being set up.",
                    remedy="Start setting it up again, then enter the code the app shows.",
                )
            secret = self._secret(user_id, state.pending_ct)
            counter = self._codes.verify(secret, code, now)
            if counter is None:
                raise InvalidTwoFactorCode()
            confirmed = replace(
                state,
                secret_ct=state.pending_ct,
                pending_ct=None,
                last_counter=counter,
                updated_at=now,
            )
            await uow.two_factor.save(confirmed)
            codes = await self._new_recovery_codes(uow, user_id)
            await uow.commit()
        return codes

    async def renew_recovery_codes(self, user_id: str) -> list[str]:
        """New recovery codes instead of the old ones. Raises: Conflict when two-factor is
        off."""
        async with self._uow() as uow:
            state = await uow.two_factor.get(user_id)
            if state is None or not state.enabled:
                raise Conflict(
                    "Two-factor sign-in is off.", remedy="Set it up first; it comes with codes."
                )
            codes = await self._new_recovery_codes(uow, user_id)
            await uow.commit()
        return codes

    async def turn_off(self, user_id: str) -> bool:
        """Forget the secrets and recovery codes; whether there were any."""
        async with self._uow() as uow:
            deleted = await uow.two_factor.delete(user_id)
            await uow.commit()
        return deleted

    async def enabled(self, user_id: str) -> bool:
        async with self._uow(read_only=True) as uow:
            state = await uow.two_factor.get(user_id)
        return state is not None and state.enabled

    async def recovery_codes_left(self, user_id: str) -> int:
        async with self._uow(read_only=True) as uow:
            return await uow.two_factor.recovery_codes_left(user_id)

    async def _new_recovery_codes(self, uow: UnitOfWork, user_id: str) -> list[str]:
        codes = [new_recovery_code() for _ in range(self._policy.recovery_codes)]
        await uow.two_factor.set_recovery_codes(
            user_id, [recovery_code_hash(user_id, c) for c in codes]
        )
        return codes

    def _secret(self, user_id: str, blob: bytes) -> str:
        """Raises: TwoFactorUnreadable (the ciphertext is damaged or of another key)."""
        try:
            return self._vault.decrypt(blob, context=totp_context(user_id)).decode()
        except (ValueError, UnicodeDecodeError) as error:  # the vault's: tampered or moved
            raise TwoFactorUnreadable() from error
