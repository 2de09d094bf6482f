"""Web sessions: opened at sign-in, found by their token on every request, ended by signing
out, by the user (one session or all) or by time.

The browser holds the token; the database only its SHA-256 hash (``digest``), so a copy of the
database opens no session. A session ends ``policy.idle`` after it was last seen and
``policy.absolute`` after sign-in whatever happens. ``last_seen_at`` is written at most once
per ``policy.touch_every`` (a minute), not on every request: the idle end is therefore exact to
within that much.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta

from tresor.domain.accounts import SessionPolicy, SignedIn, WebSession, csrf_token_for
from tresor.domain.errors import NotFound, SessionExpired
from tresor.domain.secrets import Secret
from tresor.services.access import digest
from tresor.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

SESSION_PREFIX = "trw_"
PURGE_AFTER = timedelta(days=1)  # ended and expired sessions are kept this long, then deleted
USER_AGENT_MAX = 512  # characters of the User-Agent kept, to show in the list of sessions


class Sessions:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, policy: SessionPolicy) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy

    async def open(self, uow: UnitOfWork, user_id: str, ip: str, user_agent: str) -> SignedIn:
        """Add a new session for ``user_id`` in ``uow`` (the caller commits)."""
        now = self._clock.now()
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        session = WebSession(
            id=secrets.token_hex(16),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self._policy.absolute,
            ip=ip,
            user_agent=user_agent[:USER_AGENT_MAX],
        )
        await uow.sessions.add(session, digest(token))
        return SignedIn(token=Secret(token), csrf_token=csrf_token_for(token), session=session)

    async def resolve(self, token: str, ip: str) -> WebSession:
        """The live session of ``token``. Raises: SessionExpired."""
        if not token.startswith(SESSION_PREFIX):
            raise SessionExpired()
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            session = await uow.sessions.by_token(digest(token))
        if session is None or not session.usable(now, self._policy.idle):
            raise SessionExpired()
        if now - session.last_seen_at >= self._policy.touch_every:
            async with self._uow() as uow:
                await uow.sessions.touch(session.id, now, ip)
                await uow.commit()
            session = replace(session, last_seen_at=now, ip=ip)
        return session

    async def sign_out(self, token: str) -> None:
        """End the session of ``token``; an unknown or ended one is no error."""
        if not token.startswith(SESSION_PREFIX):
            return
        async with self._uow() as uow:
            session = await uow.sessions.by_token(digest(token))
            if session is not None and await uow.sessions.end(session.id, self._clock.now()):
                await uow.commit()

    async def end_all(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of the user (but ``keep``); how many were still open."""
        async with self._uow() as uow:
            ended = await uow.sessions.end_all(user_id, self._clock.now(), keep=keep)
            await uow.commit()
        return ended

    async def of_user(self, user_id: str) -> list[WebSession]:
        """The user's live sessions, newest first."""
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            found = await uow.sessions.active(user_id, now=now, seen_since=now - self._policy.idle)
        return list(found)

    async def end(self, user_id: str, session_id: str) -> None:
        """End one of the user's sessions. Raises: NotFound (also for another user's)."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.sessions.get(session_id, user_id)
            if session is None or not session.usable(now, self._policy.idle):
                raise NotFound(
                    "There is no such session.", remedy="Reload the list of your sessions."
                )
            await uow.sessions.end(session_id, now)
            await uow.commit()

    async def purge(self) -> int:
        """Delete the sessions that ended or expired more than a day ago; how many."""
        async with self._uow() as uow:
            purged = await uow.sessions.purge(self._clock.now() - PURGE_AFTER)
            await uow.commit()
        return purged
