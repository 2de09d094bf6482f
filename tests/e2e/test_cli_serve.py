"""``tresor serve --workers N``: N processes answer on one port and stop together; more than
one needs Redis (the exchanges' rate budgets must be shared), and says so without it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.services import REDIS_URL, redis_prefix
from tresor.sim.server import free_port

TRESOR = str(Path(sys.executable).with_name("tresor"))


def _env(data_dir: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    return {**env, "TRESOR_DATA_DIR": str(data_dir), **more}


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def test_several_processes_without_redis_are_refused_with_the_remedy(tmp_path: Path) -> None:
    done = subprocess.run(
        [TRESOR, "serve", "--workers", "2", "--port", str(free_port())],
        env=_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "TRESOR_REDIS_URL" in done.stderr
    assert "Traceback" not in done.stderr


async def test_two_processes_answer_on_one_port_and_stop_together(tmp_path: Path) -> None:
    async with redis_prefix() as prefix:
        port = free_port()
        log = (tmp_path / "serve.log").open("wb")
        server = subprocess.Popen(
            [TRESOR, "serve", "--workers", "2", "--port", str(port)],
            env=_env(tmp_path / "data", TRESOR_REDIS_URL=REDIS_URL, TRESOR_REDIS_PREFIX=prefix),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if (await http.get("/v1/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                    await asyncio.sleep(0.2)
                children = _children(server.pid)
                assert len(children) == 1, children  # the second process
                answers = await asyncio.gather(*(http.get("/v1/health") for _ in range(50)))
                assert {a.status_code for a in answers} == {200}
        finally:
            server.send_signal(signal.SIGINT)
            stopped = server.wait(timeout=30)
            log.close()
        assert stopped in (0, 130), stopped  # uvicorn ends by the signal it got (128 + 2)
        for child in children:  # stopped with it
            assert (
                not Path(f"/proc/{child}").exists()
                or "Z" in (Path(f"/proc/{child}/stat").read_text().split()[2])
            )
        text = (tmp_path / "serve.log").read_text()
        assert "from 2 process(es)" in text
        assert "Traceback" not in text
