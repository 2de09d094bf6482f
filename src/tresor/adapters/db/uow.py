"""The SQL unit of work and the ``Database`` that owns the engine.

Build one ``Database`` per process (in bootstrap) from the URL ``database_url`` chooses::

    db = Database(database_url(settings.data_dir, settings.database_url))
    await db.migrate()                      # Alembic upgrade to head
    async with db.uow() as uow:             # one transaction
        await uow.users.add(user)
        await uow.commit()                  # leaving without commit rolls back
    await db.dispose()

SQLite (the embedded default) runs with foreign keys on, the WAL journal (readers never wait
for the writer) and SQLAlchemy in charge of ``BEGIN``, so every unit of work, reads included,
is one transaction and savepoints work. A unit of work begins with ``BEGIN IMMEDIATE``: it takes
SQLite's write lock first (waiting up to ``SQLITE_BUSY_SECONDS`` for another writer), so one that
reads and then writes can never meet a write committed in between, which a deferred ``BEGIN``
fails with "database is locked" (``SQLITE_BUSY_SNAPSHOT``, not retried by the busy handler).
Units of work therefore take turns on SQLite: keep them short and never hold one across a
network call. ``uow(read_only=True)`` begins a deferred transaction instead, for units of work
that only read (they never wait for a writer); the stores (``sql_base``) keep deferred
transactions for their reads.
"""

from __future__ import annotations

import functools
import os
import re
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tresor.adapters.db.account_repositories import (
    SqlPasswordRepository,
    SqlPreferencesRepository,
    SqlSessionRepository,
    SqlTwoFactorRepository,
)
from tresor.adapters.db.connection_repository import SqlConnectionRepository
from tresor.adapters.db.repositories import (
    SqlAttemptRepository,
    SqlClientRepository,
    SqlTokenRepository,
    SqlUserRepository,
)
from tresor.domain.errors import ValidationFailed
from tresor.services.ports import (
    AttemptRepository,
    ClientRepository,
    ConnectionRepository,
    PasswordRepository,
    PreferencesRepository,
    SessionRepository,
    TokenRepository,
    TwoFactorRepository,
    UserRepository,
)

if TYPE_CHECKING:
    from tresor.services.ports import UnitOfWorkFactory

DATABASE_FILE = "tresor.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant: concurrent ``migrate()`` calls on one PostgreSQL database run one at a time.
_MIGRATION_LOCK = 0x7265736F72
SQLITE_BUSY_SECONDS = 30.0  # how long a unit of work waits for SQLite's write lock
# The engine's pool: a fixed set of connections, none opened beyond it (a request waits for one
# instead, up to SQLAlchemy's 30 s). The default 5 + 10 "overflow" opened and closed a
# connection whenever more than 5 were in use: with 50 requests in flight, tens a second, each
# costing milliseconds of CPU (a PostgreSQL backend and SQLAlchemy's set-up; on SQLite a
# thread), more than the requests themselves (docs/benchmarks.md, issue 17). Eight keep a
# two-core machine's PostgreSQL busy without crowding it; the read side's hot statements take
# no pooled connection at all on SQLite (``read_store``).
POOL_SIZE = 8
POOL_OVERFLOW = 0
# A pooled PostgreSQL connection unused for this long is pinged before it is handed out (a
# database restarted meanwhile is noticed then, not by the request); SQLAlchemy's
# ``pool_pre_ping`` pinged at every checkout, a round trip per request (docs/benchmarks.md)
PING_AFTER_IDLE_SECONDS = 1.0
# SQLite's durability (``Database``): NORMAL in WAL mode never loses a commit to a crash of the
# process, only to a power cut or an OS crash; FULL adds an fsync of the WAL per commit
SQLITE_SYNCHRONOUS = "NORMAL"
SQLITE_SYNCHRONOUS_MODES = ("NORMAL", "FULL", "EXTRA")
_BEGIN = "tresor_begin"  # execution option: the BEGIN statement of a SQLite transaction
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def database_url(data_dir: Path, configured_url: str | None) -> str:
    """The URL to use: ``configured_url`` (``TRESOR_DATABASE_URL``) when set, else a SQLite file
    in ``data_dir``. ``postgresql://`` / ``postgres://`` and ``sqlite://`` URLs get the async
    drivers Tresor uses (asyncpg, aiosqlite)."""
    if configured_url and configured_url.strip():
        url = make_url(configured_url.strip())
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+asyncpg")
        elif url.drivername == "sqlite":
            url = url.set(drivername="sqlite+aiosqlite")
        return url.render_as_string(hide_password=False)
    return f"sqlite+aiosqlite:///{(Path(data_dir) / DATABASE_FILE).resolve().as_posix()}"


class SqlUnitOfWork:
    """One transaction on one session. The repositories exist inside ``async with``."""

    users: UserRepository
    clients: ClientRepository
    tokens: TokenRepository
    attempts: AttemptRepository
    connections: ConnectionRepository
    passwords: PasswordRepository
    sessions: SessionRepository
    two_factor: TwoFactorRepository
    preferences: PreferencesRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("this unit of work is already in use")
        session = self._session = self._sessions()
        self.users = SqlUserRepository(session)
        self.clients = SqlClientRepository(session)
        self.tokens = SqlTokenRepository(session)
        self.attempts = SqlAttemptRepository(session)
        self.connections = SqlConnectionRepository(session)
        self.passwords = SqlPasswordRepository(session)
        self.sessions = SqlSessionRepository(session)
        self.two_factor = SqlTwoFactorRepository(session)
        self.preferences = SqlPreferencesRepository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._active(), None
        await session.close()  # rolls back whatever was not committed

    async def commit(self) -> None:
        await self._active().commit()

    async def rollback(self) -> None:
        await self._active().rollback()

    def _active(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("use the unit of work inside 'async with'")
        return self._session


class Database:
    """The engine for one database URL (``sqlite+aiosqlite:///path`` or
    ``postgresql+asyncpg://...``) and the units of work on it.

    ``schema`` (PostgreSQL only) puts Tresor's tables in that schema instead of ``public``.
    ``sqlite_synchronous`` (SQLite only) is its ``PRAGMA synchronous``: ``NORMAL`` (the default:
    in WAL mode a commit survives a crash of the process, only a power cut or an OS crash may
    lose the last commits, never the database's integrity), ``FULL`` (an fsync of the WAL per
    commit: survives power cuts too) or ``EXTRA``. Raises ``ValueError`` for any other kind of
    URL or value.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        echo: bool = False,
        sqlite_synchronous: str = SQLITE_SYNCHRONOUS,
    ) -> None:
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        if parsed.drivername == "sqlite+aiosqlite":
            if schema is not None:
                raise ValueError("a schema can only be chosen on PostgreSQL")
            if not parsed.database or parsed.database == ":memory:":
                # One shared connection: concurrent units of work would share a transaction.
                raise ValueError(
                    "an in-memory SQLite database is not supported: use a file, or "
                    "tresor.adapters.db.memory.MemoryStore for tests"
                )
            synchronous = sqlite_synchronous.upper()
            if synchronous not in SQLITE_SYNCHRONOUS_MODES:
                raise ValueError(
                    f"sqlite_synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS_MODES)}"
                )
            _prepare_sqlite_file(Path(parsed.database))
            self._engine = create_async_engine(
                parsed,
                echo=echo,
                connect_args={"timeout": SQLITE_BUSY_SECONDS},
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
            )
            event.listen(
                self._engine.sync_engine,
                "connect",
                functools.partial(_sqlite_connected, synchronous=synchronous),
            )
            event.listen(self._engine.sync_engine, "begin", _sqlite_begin)
            # the same pool; units of work on it begin with BEGIN IMMEDIATE
            uow_engine = self._engine.execution_options(**{_BEGIN: "BEGIN IMMEDIATE"})
        elif parsed.drivername == "postgresql+asyncpg":
            # no JIT compilation: Tresor's statements are short, and the planner's estimates of
            # the listings' recursive queries passed jit_above_cost, so each of them spent
            # 120 ms compiling itself (docs/benchmarks.md, issue 17)
            settings = {"jit": "off"}
            if schema is not None:
                if not _SCHEMA_NAME.fullmatch(schema):
                    raise ValueError(f"not a plain schema name: {schema!r}")
                settings["search_path"] = schema
            connect_args: dict[str, Any] = {"server_settings": settings}
            self._engine = create_async_engine(
                parsed,
                echo=echo,
                connect_args=connect_args,
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
            )
            event.listen(self._engine.sync_engine.pool, "checkin", _note_idle)
            event.listen(self._engine.sync_engine.pool, "checkout", _ping_if_idle)
            uow_engine = self._engine
        else:
            raise ValueError(
                f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
                "use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
            )
        # PostgreSQL refuses text with NUL characters (a 500 for a client that sent one);
        # both backends refuse it the same way, as the client's error
        event.listen(self._engine.sync_engine, "before_cursor_execute", _refuse_nul)
        self.url = parsed.render_as_string(hide_password=True)
        self._sessions = async_sessionmaker(uow_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self._engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    def uow(self, *, read_only: bool = False) -> SqlUnitOfWork:
        """A new unit of work (a ``UnitOfWorkFactory``); ``read_only`` ones begin with a plain
        deferred ``BEGIN`` on SQLite (they never wait for a writer)."""
        return SqlUnitOfWork(self._read_sessions if read_only else self._sessions)

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic, in one transaction."""
        async with self._engine.begin() as connection:
            if self.backend == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            await connection.run_sync(_upgrade, revision)

    async def dispose(self) -> None:
        """Close every pooled connection. The Database can still be used afterwards."""
        await self._engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations; with ``connection``, ``env.py``
    runs on it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only (SQLite gives its WAL and shared
    memory files the same mode), and the directory it lives in."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _sqlite_connected(dbapi_connection: Any, _record: Any, *, synchronous: str) -> None:
    # Leave BEGIN to SQLAlchemy (``_sqlite_begin``): the sqlite3 module's own transaction
    # handling breaks savepoints (SQLAlchemy docs, "SQLite transactions").
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        # one of SQLITE_SYNCHRONOUS_MODES (checked by Database)
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        # overwrite deleted content (a removed connection's ciphertexts) instead of leaving it
        # in free pages; not every SQLite build does this by default
        cursor.execute("PRAGMA secure_delete = ON")
    finally:
        cursor.close()


def _note_idle(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection given back more than ``PING_AFTER_IDLE_SECONDS`` ago; one that
    fails is discarded and the pool hands out another (``DisconnectionError``: SQLAlchemy's
    "pessimistic" disconnect handling, done only after an idle spell).

    The ping is the adapter's own, which leaves no transaction open. A statement on a cursor
    would begin one (the adapter begins a transaction before its first statement): the
    statements later run on asyncpg's own connection would run inside it, as savepoints, and
    the rollback as the connection is given back would undo them though they had been
    answered (orders answered 201 then not found, leases and sync states lost)."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:
        raise DisconnectionError() from exc


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _refuse_nul(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    if _has_nul(parameters):
        raise ValidationFailed(
            "Text in the request contains a NUL character.",
            remedy="Remove NUL (\\u0000) characters from names, ids and labels.",
        )


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN, "BEGIN"))


if TYPE_CHECKING:

    def _conforms(database: Database) -> UnitOfWorkFactory:
        return database.uow
