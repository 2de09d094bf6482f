"""``AccountService``: everything the web dashboard asks about signing in, in one place.

It signs users in (password, then a two-factor code when that is on), resolves and ends their
sessions, changes passwords, sets up two-factor and keeps preferences; the parts live in
``credentials``, ``sessions``, ``two_factor`` and ``preferences``. Nothing secret is logged or
kept in clear: passwords as Argon2 hashes, session tokens and recovery codes as SHA-256
hashes, TOTP secrets encrypted by the vault.
"""

from __future__ import annotations

from tresor.domain.accounts import (
    Preferences,
    SessionPolicy,
    SignedIn,
    WebSession,
    check_password,
)
from tresor.domain.errors import InvalidTwoFactorCode, NotFound, SignInFailed
from tresor.domain.secrets import Secret
from tresor.services.accounts.credentials import Credentials, account_key, ip_key
from tresor.services.accounts.preferences import UserPreferences
from tresor.services.accounts.sessions import Sessions
from tresor.services.accounts.two_factor import TwoFactorCodes
from tresor.services.ports import Clock, OneTimeCodes, PasswordHasher, UnitOfWorkFactory, Vault


class AccountService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        codes: OneTimeCodes,
        vault: Vault,
        policy: SessionPolicy,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.policy = policy
        self._credentials = Credentials(uow, clock, hasher, policy)
        self._sessions = Sessions(uow, clock, policy)
        self._two_factor = TwoFactorCodes(uow, clock, codes, vault, policy)
        self._preferences = UserPreferences(uow)

    # -- passwords ---------------------------------------------------------------------------
    async def set_password(self, user_id: str, password: Secret) -> None:
        """Set the user's password (the operator's ``tresor admin set-password``): every
        session of theirs ends and their failed attempts are forgotten.

        Raises: WeakPassword, NotFound."""
        new_hash = await self._credentials.new_hash(password)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise NotFound("There is no such user.")
            await uow.passwords.set(user_id, new_hash, now)
            await uow.sessions.end_all(user_id, now)
            await uow.attempts.clear(account_key(user.name))
            await uow.commit()

    async def has_password(self, user_id: str) -> bool:
        async with self._uow(read_only=True) as uow:
            return await uow.passwords.get(user_id) is not None

    async def change_password(
        self, user_id: str, *, current: Secret, new: Secret, keep_session_id: str | None
    ) -> None:
        """Replace the password, knowing the current one; every session but
        ``keep_session_id`` (the one asking) ends.

        Raises: WeakPassword, SignInFailed (a wrong current password), TooManyAttempts."""
        check_password(new, self.policy)  # before the current one is checked (and counted)
        await self._credentials.check_current(user_id, current)
        new_hash = await self._credentials.new_hash(new)
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.passwords.set(user_id, new_hash, now)
            await uow.sessions.end_all(user_id, now, keep=keep_session_id)
            await uow.commit()

    # -- signing in --------------------------------------------------------------------------
    async def sign_in(
        self, *, name: str, password: Secret, code: str | None, ip: str, user_agent: str
    ) -> SignedIn:
        """A new session for the user named ``name``, if the password is theirs and, with
        two-factor on, ``code`` is a current TOTP code or an unused recovery code.

        Raises: TooManyAttempts (before anything is checked); SignInFailed (an unknown name
        and a wrong password alike); TwoFactorRequired (right password, no code: not counted
        as a failure); InvalidTwoFactorCode (a wrong, replayed or used code)."""
        name = name.strip()
        keys = [account_key(name), ip_key(ip)]
        async with self._uow(read_only=True) as uow:
            await self._credentials.throttle(uow, keys)
            user = await uow.users.by_name(name) if name else None
            stored = await uow.passwords.get(user.id) if user is not None else None
            state = await uow.two_factor.get(user.id) if user is not None else None
        ok, new_hash = await self._credentials.verify(stored, password)
        if user is None or not ok:
            await self._credentials.fail(keys)
            raise SignInFailed()
        factor = self._two_factor.second_factor(state, code)
        signed_in = None
        if factor is not None:
            async with self._uow() as uow:
                if await factor.use(uow, user.id):
                    if new_hash is not None:
                        await uow.passwords.set(user.id, new_hash, self._clock.now())
                    await uow.attempts.clear(keys[0])
                    signed_in = await self._sessions.open(uow, user.id, ip, user_agent)
                    await uow.commit()
        if signed_in is None:
            await self._credentials.fail(keys)
            raise InvalidTwoFactorCode()
        return signed_in

    # -- sessions ----------------------------------------------------------------------------
    async def session(self, token: str, ip: str) -> WebSession:
        """The live session of a cookie's token. Raises: SessionExpired (unknown, ended, idle
        too long or past its end)."""
        return await self._sessions.resolve(token, ip)

    async def sign_out(self, token: str) -> None:
        await self._sessions.sign_out(token)

    async def sign_out_everywhere(self, user_id: str) -> int:
        """End every session of the user; how many were open."""
        return await self._sessions.end_all(user_id)

    async def sessions(self, user_id: str) -> list[WebSession]:
        """The user's live sessions, newest first."""
        return await self._sessions.of_user(user_id)

    async def end_session(self, user_id: str, session_id: str) -> None:
        """Raises: NotFound (also for another user's session)."""
        await self._sessions.end(user_id, session_id)

    async def purge_sessions(self) -> int:
        """Delete sessions ended or expired over a day ago (a chore); how many."""
        return await self._sessions.purge()

    # -- two-factor --------------------------------------------------------------------------
    async def begin_two_factor(
        self, user_id: str, account_name: str, *, password: Secret
    ) -> tuple[Secret, str]:
        """A new secret (pending until confirmed) and its ``otpauth://`` URI for a QR code.
        The password is asked again, as for turning it off: a borrowed or stolen session alone
        cannot put a second factor on the account and lock its owner out.

        Raises: NotFound; SignInFailed (a wrong password), TooManyAttempts; Conflict when
        two-factor is on already."""
        await self._credentials.check_current(user_id, password)
        return await self._two_factor.begin(user_id, account_name)

    async def confirm_two_factor(self, user_id: str, code: str) -> list[str]:
        """Turn two-factor on; returns the recovery codes, to show once.

        Raises: InvalidTwoFactorCode; ValidationFailed when nothing is being set up."""
        return await self._two_factor.confirm(user_id, code)

    async def disable_two_factor(self, user_id: str, password: Secret) -> None:
        """Raises: SignInFailed (a wrong password), TooManyAttempts."""
        await self._credentials.check_current(user_id, password)
        await self._two_factor.turn_off(user_id)

    async def reset_two_factor(self, user_id: str) -> bool:
        """Turn two-factor off without the password (the operator's ``tresor admin
        reset-two-factor``, for a user who lost both the app and the recovery codes); whether
        it was on or being set up. The user's sessions end.

        Raises: NotFound."""
        async with self._uow(read_only=True) as uow:
            if await uow.users.get(user_id) is None:
                raise NotFound("There is no such user.")
        was_on = await self._two_factor.turn_off(user_id)
        await self._sessions.end_all(user_id)
        return was_on

    async def renew_recovery_codes(self, user_id: str, password: Secret) -> list[str]:
        """New recovery codes instead of the old ones (shown once).

        Raises: SignInFailed, TooManyAttempts, Conflict when two-factor is off."""
        await self._credentials.check_current(user_id, password)
        return await self._two_factor.renew_recovery_codes(user_id)

    async def two_factor_enabled(self, user_id: str) -> bool:
        return await self._two_factor.enabled(user_id)

    async def recovery_codes_left(self, user_id: str) -> int:
        return await self._two_factor.recovery_codes_left(user_id)

    # -- preferences -------------------------------------------------------------------------
    async def preferences(self, user_id: str) -> Preferences:
        return await self._preferences.get(user_id)

    async def set_preferences(self, user_id: str, *, quote: str, timezone: str) -> Preferences:
        """Raises: ValidationFailed (a quote not of 2-10 capitals or digits, an unknown IANA
        time zone)."""
        return await self._preferences.set(user_id, quote=quote, timezone=timezone)
