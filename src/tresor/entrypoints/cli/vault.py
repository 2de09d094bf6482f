"""``tresor vault``: master key rotation."""

from __future__ import annotations

import typer

from tresor.adapters.crypto import MASTER_KEY_FILE, rotate_master_key
from tresor.bootstrap import Runtime
from tresor.config import Settings
from tresor.entrypoints.cli.common import console, fail, run

app = typer.Typer(help="The vault that encrypts exchange keys.", no_args_is_help=True)


@app.command("rotate-master-key")
def rotate() -> None:
    """Add a new master key and re-wrap every stored key's data key under it.

    Old keys stay in the key ring, so nothing is lost and a running server keeps working.
    """
    settings = Settings()
    if settings.master_key is not None:
        fail(
            "The master key comes from TRESOR_MASTER_KEY, so Tresor cannot rotate it itself.",
            "Set TRESOR_MASTER_KEY to 'NEW,OLD' (the new key first) and run 'tresor vault rewrap'.",
        )
    key_id = rotate_master_key(settings.data_dir / MASTER_KEY_FILE)
    console.print(f"New master key {key_id}.")
    rewrap()


@app.command("rewrap")
def rewrap() -> None:
    """Re-wrap every stored key's data key under the current master key."""

    async def job(rt: Runtime) -> int:
        return await rt.rewrap().run()

    done = run(job)
    console.print(f"Re-wrapped {done} encrypted fields under the current master key.")
