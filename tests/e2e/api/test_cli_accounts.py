"""``tresor admin create-user --password-stdin / --password-prompt`` and ``set-password``
end to end, on each database: the password set is the one the dashboard's sign-in accepts, and
it never shows in the output."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pyotp
import pytest
from typer.testing import CliRunner

from tresor.bootstrap import build_runtime
from tresor.config import Settings
from tresor.domain.errors import SignInFailed, TwoFactorRequired
from tresor.domain.secrets import Secret
from tresor.entrypoints.cli.main import app

PASSWORD = "correct horse battery staple"


class Admin:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = {
            "TRESOR_DATA_DIR": str(settings.data_dir),
            "TRESOR_DATABASE_URL": settings.database_url,
            "TRESOR_MASTER_KEY": None,
        }
        self.runner = CliRunner()

    def __call__(self, *args: str, stdin: str | None = None) -> Any:
        result = self.runner.invoke(app, list(args), input=stdin, env=self.env)
        result.text = " ".join(result.output.split())
        return result

    def signs_in(self, name: str, password: str) -> bool:
        async def attempt() -> bool:
            runtime = await build_runtime(self.settings)
            try:
                await runtime.container.accounts.sign_in(
                    name=name, password=Secret(password), code=None, ip="ip", user_agent="test"
                )
            except SignInFailed:
                return False
            finally:
                await runtime.aclose()
            return True

        return asyncio.run(attempt())


@pytest.fixture
def admin(settings: Settings) -> Admin:
    return Admin(settings)


def test_a_user_created_with_a_password_from_stdin_signs_in_with_it(admin: Admin) -> None:
    result = admin("admin", "create-user", "alice", "--password-stdin", "--json", stdin=PASSWORD)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["password"] is True
    assert PASSWORD not in result.output
    assert admin.signs_in("alice", PASSWORD)
    assert not admin.signs_in("alice", PASSWORD + "!")


def test_a_password_typed_twice_at_the_prompt_is_set(admin: Admin) -> None:
    result = admin(
        "admin", "create-user", "alice", "--password-prompt", stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "with a dashboard password" in result.text
    assert PASSWORD not in result.output  # the prompt hides what is typed
    assert admin.signs_in("alice", PASSWORD)


def test_a_weak_password_is_refused_before_the_user_is_created(admin: Admin) -> None:
    result = admin("admin", "create-user", "alice", "--password-stdin", stdin="short\n")
    assert result.exit_code == 1
    assert "password_too_weak" in result.text
    again = admin("admin", "create-user", "alice")
    assert again.exit_code == 0, again.output  # the name was not taken by the failed attempt


def test_set_password_replaces_the_password(admin: Admin) -> None:
    assert admin("admin", "create-user", "alice").exit_code == 0
    assert not admin.signs_in("alice", PASSWORD)  # no password yet
    result = admin("admin", "set-password", "alice", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert admin.signs_in("alice", PASSWORD)
    unknown = admin("admin", "set-password", "nobody", "--password-stdin", stdin=PASSWORD)
    assert unknown.exit_code == 1
    assert "not_found" in unknown.text


def test_reset_two_factor_lets_a_user_who_lost_it_sign_in_with_the_password(
    admin: Admin,
) -> None:
    admin("admin", "create-user", "alice", "--password-stdin", stdin=PASSWORD)

    async def turn_on() -> None:
        runtime = await build_runtime(admin.settings)
        try:
            accounts = runtime.container.accounts
            user = await runtime.container.access.find_user("alice")
            secret, _ = await accounts.begin_two_factor(user.id, "alice", password=Secret(PASSWORD))
            await accounts.confirm_two_factor(user.id, pyotp.TOTP(secret.reveal()).now())
        finally:
            await runtime.aclose()

    asyncio.run(turn_on())
    with pytest.raises(TwoFactorRequired):
        admin.signs_in("alice", PASSWORD)
    result = admin("admin", "reset-two-factor", "alice")
    assert result.exit_code == 0, result.output
    assert "Turned two-factor sign-in off for alice" in result.text
    assert admin.signs_in("alice", PASSWORD)
    again = admin("admin", "reset-two-factor", "alice")
    assert "nothing changed" in again.text
