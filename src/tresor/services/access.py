"""Users, API clients and OAuth2 tokens (client-credentials and refresh-token grants).

Client secrets and tokens are random, high-entropy values shown once; only their SHA-256
hashes are stored, so a database leak gives an attacker nothing to present. Refresh tokens
rotate: each use revokes the one presented, and presenting a revoked refresh token again (a sign
it was stolen) revokes its whole family.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tresor.domain.access import (
    ApiClient,
    Principal,
    Scope,
    TokenKind,
    TokenRecord,
    User,
    format_scopes,
    parse_scopes,
)
from tresor.domain.errors import (
    ClientIpNotAllowed,
    InvalidClient,
    InvalidGrant,
    InvalidToken,
    NotFound,
    TooManyAttempts,
    ValidationFailed,
)
from tresor.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

ACCESS_PREFIX = "tra_"
REFRESH_PREFIX = "trr_"
CLIENT_PREFIX = "trc_"
SECRET_PREFIX = "trs_"  # noqa: S105 (a prefix that makes leaked secrets recognisable)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    scopes: frozenset[Scope]

    @property
    def scope(self) -> str:
        return format_scopes(self.scopes)


@dataclass(frozen=True)
class AccessPolicy:
    token_ttl: timedelta = timedelta(days=1)
    refresh_ttl: timedelta = timedelta(days=30)
    max_failures: int = 5
    failure_window: timedelta = timedelta(minutes=5)
    # How long a validated access token is trusted without asking the database again.
    # Revocation through this process takes effect at once; through another process (the
    # distributed mode), within this time. Zero disables the cache.
    token_cache: timedelta = timedelta(seconds=10)


@dataclass(frozen=True)
class _Validated:
    principal: Principal
    until: datetime
    ip_allowlist: tuple[str, ...]


_CACHE_MAX = 50_000


def _wanted_scopes(scopes: str) -> frozenset[Scope]:
    """Raises: InvalidScope for an unknown scope, ValidationFailed for none."""
    wanted = parse_scopes(scopes)
    if not wanted:
        raise ValidationFailed(
            "A client needs at least one scope.",
            remedy="Use --scopes read, read,trade or admin.",
        )
    return wanted


class AccessService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, policy: AccessPolicy) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy
        self._validated: dict[str, _Validated] = {}

    # -- administration --------------------------------------------------------------------
    async def create_user(self, name: str) -> User:
        """Raises: ValidationFailed for an empty or taken name."""
        name = name.strip()
        if not name or len(name) > 64:
            raise ValidationFailed("A user name must be 1 to 64 characters.")
        async with self._uow() as uow:
            if await uow.users.by_name(name) is not None:
                raise ValidationFailed(
                    f"There is already a user named {name!r}.", remedy="Choose another name."
                )
            user = User(id=uuid.uuid4().hex, name=name, created_at=self._clock.now())
            await uow.users.add(user)
            await uow.commit()
        return user

    async def find_user(self, name: str) -> User:
        """Raises: NotFound."""
        async with self._uow(read_only=True) as uow:
            user = await uow.users.by_name(name)
        if user is None:
            raise NotFound(
                f"There is no user named {name!r}.",
                remedy="Create it first: tresor admin create-user NAME.",
            )
        return user

    async def user(self, user_id: str) -> User:
        """The user of an id (a signed-in session's). Raises: NotFound."""
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("There is no such user.")
        return user

    async def create_client(
        self,
        user_name: str,
        scopes: str,
        *,
        name: str = "default",
        ip_allowlist: tuple[str, ...] = (),
    ) -> tuple[ApiClient, str]:
        """A new client for ``user_name``; returns it and its secret (shown once).

        Raises: NotFound for an unknown user; ValidationFailed for unknown scopes.
        """
        wanted = _wanted_scopes(scopes)
        async with self._uow() as uow:
            user = await uow.users.by_name(user_name)
            if user is None:
                raise NotFound(
                    f"There is no user named {user_name!r}.",
                    remedy="Create it first: tresor admin create-user NAME.",
                )
            client, secret = await self._add_client(uow, user.id, wanted, name, ip_allowlist)
            await uow.commit()
        return client, secret

    # -- a user's own clients (the dashboard) ------------------------------------------------
    async def clients_of(self, user_id: str) -> list[ApiClient]:
        """The user's clients that are not revoked, oldest first."""
        async with self._uow(read_only=True) as uow:
            clients = await uow.clients.for_user(user_id)
        return [c for c in clients if not c.disabled]

    async def create_client_for(
        self, user_id: str, *, name: str, scopes: str
    ) -> tuple[ApiClient, str]:
        """A new client of the user's own; returns it and its secret (shown once).

        Raises: ValidationFailed for no scope or an empty or long name; InvalidScope for an
        unknown scope; NotFound for an unknown user."""
        wanted = _wanted_scopes(scopes)
        name = name.strip()
        if not name or len(name) > 64:
            raise ValidationFailed(
                "A client's name must be 1 to 64 characters.",
                remedy="Name it after what will use it, e.g. 'tax export'.",
            )
        async with self._uow() as uow:
            if await uow.users.get(user_id) is None:
                raise NotFound("There is no such user.")
            client, secret = await self._add_client(uow, user_id, wanted, name, ())
            await uow.commit()
        return client, secret

    async def revoke_client(self, user_id: str, client_id: str) -> None:
        """Disable one of the user's clients and revoke its tokens, at once in this process
        (other processes trust a token they validated for ``policy.token_cache`` at most).

        Raises: NotFound, also for another user's client."""
        now = self._clock.now()
        async with self._uow() as uow:
            if not await uow.clients.disable(client_id, user_id):
                raise NotFound(
                    "There is no such API client.", remedy="List your clients to find its id."
                )
            await uow.tokens.revoke_for_client(client_id, now)
            await uow.commit()
        self._validated.clear()

    # -- grants ----------------------------------------------------------------------------
    async def client_credentials(
        self, client_id: str, client_secret: str, scope: str | None, ip: str
    ) -> IssuedTokens:
        """Raises: TooManyAttempts, InvalidClient, ClientIpNotAllowed, ValidationFailed."""
        now = self._clock.now()
        async with self._uow() as uow:
            await self._throttle(uow, client_id, ip, now)
            client = await uow.clients.get(client_id)
            if (
                client is None
                or client.disabled
                or not hmac.compare_digest(client.secret_hash, digest(client_secret))
            ):
                await self._fail(uow, client_id, ip, now)
                raise InvalidClient()
            self._check_ip(client, ip)
            scopes = parse_scopes(scope, allowed=client.scopes)
            issued = await self._issue(uow, client, scopes, now)
            await uow.attempts.clear(f"client:{client_id}")
            await uow.commit()
        return issued

    async def refresh(self, refresh_token: str, scope: str | None, ip: str) -> IssuedTokens:
        """Rotate a refresh token. Raises: InvalidGrant, ClientIpNotAllowed, TooManyAttempts."""
        now = self._clock.now()
        async with self._uow() as uow:
            await self._throttle(uow, None, ip, now)
            record = await uow.tokens.get(digest(refresh_token))
            if record is None or record.kind is not TokenKind.REFRESH:
                await self._fail(uow, None, ip, now)
                raise InvalidGrant()
            if record.revoked_at is not None:
                # a refresh token used twice: someone else has it; end the whole family
                self._validated.clear()
                await uow.tokens.revoke_family(record.family, now)
                await uow.commit()
                raise InvalidGrant()
            if not record.usable(now):
                raise InvalidGrant()
            client = await uow.clients.get(record.client_id)
            if client is None or client.disabled:
                raise InvalidGrant()
            self._check_ip(client, ip)
            scopes = parse_scopes(scope, allowed=record.scopes)
            await uow.tokens.revoke(record.token_hash, now)
            issued = await self._issue(uow, client, scopes, now, family=record.family)
            await uow.commit()
        return issued

    async def revoke(self, token: str) -> None:
        """Revoke an access or refresh token (RFC 7009: unknown tokens are not an error)."""
        self._validated.clear()
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.tokens.get(digest(token))
            if record is not None:
                if record.kind is TokenKind.REFRESH:
                    await uow.tokens.revoke_family(record.family, now)
                else:
                    await uow.tokens.revoke(record.token_hash, now)
                await uow.commit()

    async def authenticate(self, access_token: str, ip: str) -> Principal:
        """The principal of a bearer token. Raises: InvalidToken, ClientIpNotAllowed."""
        if not access_token.startswith(ACCESS_PREFIX):
            raise InvalidToken()
        now = self._clock.now()
        token_hash = digest(access_token)
        hit = self._validated.get(token_hash)
        if hit is not None and now < hit.until:
            if hit.ip_allowlist and ip not in hit.ip_allowlist:
                raise ClientIpNotAllowed()
            return hit.principal
        async with self._uow(read_only=True) as uow:
            record = await uow.tokens.get(token_hash)
            if record is None or record.kind is not TokenKind.ACCESS or not record.usable(now):
                raise InvalidToken()
            client = await uow.clients.get(record.client_id)
            if client is None or client.disabled:
                raise InvalidToken()
        self._check_ip(client, ip)
        principal = Principal(
            user_id=record.user_id, client_id=record.client_id, scopes=record.scopes
        )
        if self._policy.token_cache:
            if len(self._validated) >= _CACHE_MAX:
                self._validated.clear()
            until = min(record.expires_at, now + self._policy.token_cache)
            self._validated[token_hash] = _Validated(principal, until, client.ip_allowlist)
        return principal

    # -- internals -------------------------------------------------------------------------
    async def _add_client(
        self,
        uow: UnitOfWork,
        user_id: str,
        scopes: frozenset[Scope],
        name: str,
        ip_allowlist: tuple[str, ...],
    ) -> tuple[ApiClient, str]:
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        client = ApiClient(
            id=CLIENT_PREFIX + secrets.token_hex(12),
            user_id=user_id,
            name=name,
            secret_hash=digest(secret),
            scopes=scopes,
            ip_allowlist=tuple(ip_allowlist),
            created_at=self._clock.now(),
        )
        await uow.clients.add(client)
        return client, secret

    async def _issue(
        self,
        uow: UnitOfWork,
        client: ApiClient,
        scopes: frozenset[Scope],
        now: datetime,
        family: str | None = None,
    ) -> IssuedTokens:
        family = family or uuid.uuid4().hex
        access = ACCESS_PREFIX + secrets.token_urlsafe(32)
        refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
        policy = self._policy
        for value, kind, ttl in (
            (access, TokenKind.ACCESS, policy.token_ttl),
            (refresh, TokenKind.REFRESH, policy.refresh_ttl),
        ):
            await uow.tokens.add(
                TokenRecord(
                    token_hash=digest(value),
                    kind=kind,
                    client_id=client.id,
                    user_id=client.user_id,
                    scopes=scopes,
                    issued_at=now,
                    expires_at=now + ttl,
                    family=family,
                )
            )
        return IssuedTokens(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(policy.token_ttl.total_seconds()),
            scopes=scopes,
        )

    async def _throttle(
        self, uow: UnitOfWork, client_id: str | None, ip: str, now: datetime
    ) -> None:
        since = now - self._policy.failure_window
        keys = [f"ip:{ip}"] + ([f"client:{client_id}"] if client_id else [])
        for key in keys:
            if await uow.attempts.failures_since(key, since) >= self._policy.max_failures:
                raise TooManyAttempts(int(self._policy.failure_window.total_seconds()))

    async def _fail(self, uow: UnitOfWork, client_id: str | None, ip: str, now: datetime) -> None:
        await uow.attempts.record_failure(f"ip:{ip}", now)
        if client_id:
            await uow.attempts.record_failure(f"client:{client_id}", now)
        await uow.commit()

    @staticmethod
    def _check_ip(client: ApiClient, ip: str) -> None:
        if client.ip_allowlist and ip not in client.ip_allowlist:
            raise ClientIpNotAllowed()
