"""`genflow up` as a user runs it (its API, its Temporal Web UI looked at in headless
Chromium, its worker), and the other commands."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from genflow.auth import DEFAULT_USER, SECRET_FILE, InvalidToken, verify_token
from genflow.settings import Settings
from tests.browser import Browser, required_chromium
from tests.conftest import LIBRARY, SECRET, eventually, free_port

BIN = Path(sys.executable).parent


def niceness(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[16])


def children(pid: int) -> dict[int, str]:
    """Direct child processes of `pid`, with their command lines."""
    found: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except FileNotFoundError:
                continue
            found[int(child)] = cmdline.decode()
    return found


def environment_names(pid: int) -> set[str]:
    """The names of the variables process `pid` started with."""
    variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return {v.partition(b"=")[0].decode() for v in variables if v}


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


async def wait_for_line(
    process: asyncio.subprocess.Process, prefix: str, timeout: float = 90
) -> str:
    """The first line `process` prints that starts with `prefix`."""
    assert process.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            while line := (await process.stdout.readline()).decode():
                if line.strip().startswith(prefix):
                    return line.strip()
    except TimeoutError:
        raise AssertionError(f"no line starting with {prefix!r} within {timeout:g} s") from None
    raise AssertionError(f"genflow up exited with {await process.wait()}")


async def reaches(http: httpx.AsyncClient, generation_id: str, status: str) -> None:
    """Wait until the API shows the generation in `status`."""

    async def there() -> bool:
        found = (await http.get(f"/v1/generations/{generation_id}")).json()
        return bool(found["status"] == status)

    await eventually(there, 60, 0.2, f"{generation_id} to be {status}")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any GENFLOW_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENFLOW_")}
    return {**env, **extra}


def genflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "genflow", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_token_command_prints_a_token_for_the_user_signed_with_the_configured_secret() -> None:
    done = genflow("token", "carol", "--ttl", "120", env=clean_env(GENFLOW_JWT_SECRET=SECRET))
    assert done.returncode == 0, done.stderr
    assert verify_token(done.stdout.strip(), SECRET) == "carol"
    with pytest.raises(InvalidToken):  # for genflow's audience only
        verify_token(done.stdout.strip(), SECRET, audience="another-service")


def test_token_without_a_user_is_for_the_user_genflow_up_prints(tmp_path: Path) -> None:
    # No GENFLOW_JWT_SECRET: the secret `genflow up` keeps in its home signs it.
    (tmp_path / SECRET_FILE).write_text("s" * 64 + "\n")
    done = genflow("token", env=clean_env(GENFLOW_HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert verify_token(done.stdout.strip(), "s" * 64) == DEFAULT_USER == "local-user"


def test_token_refuses_without_a_secret_and_beyond_the_longest_lifetime(tmp_path: Path) -> None:
    nothing = genflow("token", "carol", env=clean_env(GENFLOW_HOME=str(tmp_path)))
    assert nothing.returncode == 2 and not nothing.stdout
    assert "GENFLOW_JWT_SECRET is not set" in nothing.stderr
    env = clean_env(GENFLOW_JWT_SECRET=SECRET, GENFLOW_TOKEN_MAX_TTL_SECONDS="3600")
    too_long = genflow("token", "carol", "--ttl", "3601", env=env)
    assert too_long.returncode == 2 and not too_long.stdout
    assert "at most 3600 seconds" in too_long.stderr
    assert genflow("token", "carol", "--ttl", "3600", env=env).returncode == 0


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_api_does_not_start_without_a_secret_in_any_environment(
    tmp_path: Path, environment: str
) -> None:
    """Outside `genflow up` nothing makes a secret: `genflow api` and the app factory
    (what any ASGI server would call) refuse, and nothing listens."""
    port = free_port()
    env = clean_env(GENFLOW_HOME=str(tmp_path), GENFLOW_ENVIRONMENT=environment)
    done = genflow("api", "--port", str(port), env=env)
    assert done.returncode == 2
    assert "GENFLOW_JWT_SECRET is not set" in done.stderr
    short = genflow("api", "--port", str(port), env={**env, "GENFLOW_JWT_SECRET": "short"})
    assert short.returncode == 2 and "at least 32 characters" in short.stderr
    from api.app import create_app
    from genflow.auth import MissingSecret

    with pytest.raises(MissingSecret):
        create_app(Settings(environment=environment, home=tmp_path))  # type: ignore[arg-type]


@dataclass
class Up:
    """`genflow up` in a child process, on free loopback ports."""

    process: asyncio.subprocess.Process
    api_port: int
    temporal_port: int
    ui_port: int
    metrics_port: int


# The nice of the workers of `genflow up` in the tests that check what it serves: the
# suite's other workers keep the CPUs busy, and at the default (+15) this stack's worker
# would wait behind them for most of a minute.
SUITE_WORKER_NICE = 5


async def start_up(home: Path, worker_nice: int | None = None) -> Up:
    """Start `genflow up` as a user would, with no genflow settings in the environment
    but `worker_nice` (GENFLOW_WORKER_NICE) when given."""
    api_port, temporal_port, ui_port, metrics_port = (free_port() for _ in range(4))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS") and not k.startswith("GENFLOW_")
    }
    env["GENFLOW_WORKER_METRICS_PORT"] = str(metrics_port)
    if worker_nice is not None:
        env["GENFLOW_WORKER_NICE"] = str(worker_nice)
    process = await asyncio.create_subprocess_exec(
        BIN / "genflow",
        "up",
        "--home",
        str(home),
        "--api-port",
        str(api_port),
        "--temporal-port",
        str(temporal_port),
        "--ui-port",
        str(ui_port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return Up(process, api_port, temporal_port, ui_port, metrics_port)


async def listed(temporal_port: int, query: str) -> list[str]:
    """Workflow ids that `temporal workflow list --query` finds."""
    temporal = await asyncio.create_subprocess_exec(
        BIN / "temporal",
        "workflow",
        "list",
        "--address",
        f"127.0.0.1:{temporal_port}",
        "--query",
        query,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await temporal.communicate()
    assert temporal.returncode == 0, err.decode()
    return [w["execution"]["workflowId"] for w in json.loads(out or b"[]")]


# The builtin provider finds no entity in this prompt: schema extraction fails.
NO_ENTITIES = "No entities here."


async def web_ui_finds_by_status(
    tmp_path: Path, chromium: str, ui_port: int, done_id: str, failed_id: str
) -> None:
    """The Temporal Web UI that `genflow up` serves, in headless Chromium, lists each of
    the two workflows for a query on its GenerationStatus and not the other."""
    browser = Browser(tmp_path / "chromium-profile", chromium)
    try:
        await browser.start()
        await browser.set_viewport(1600, 900)
        ui = f"http://127.0.0.1:{ui_port}/namespaces/default/workflows?query="
        await browser.navigate(ui + quote('GenerationStatus="completed"', safe=""))
        # A SvelteKit app: the list arrives after the page loads.
        text = await browser.wait_for_text(done_id, 'GenerationStatus = "completed"', timeout=60)
        shot = await browser.screenshot(tmp_path / "web-ui.png")

        assert done_id in text
        assert "GenerationWorkflow" in text
        assert "COMPLETED" in text
        assert failed_id not in text, "the query did not filter out the failed generation"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 10_000

        # The other way round: the failed one is there for a query that asks for it.
        await browser.navigate(ui + quote('GenerationStatus="failed"', safe=""))
        text = await browser.wait_for_text(failed_id, 'GenerationStatus = "failed"', timeout=60)
        assert done_id not in text
    finally:
        await browser.close()


async def test_up_serves_the_api_and_the_web_ui_restarts_the_worker_and_stops_everything(
    tmp_path: Path,
) -> None:
    chromium = required_chromium()
    started = await start_up(tmp_path / "home", SUITE_WORKER_NICE)
    up, temporal_port, metrics_port = started.process, started.temporal_port, started.metrics_port
    try:
        token = (await wait_for_line(up, "Bearer token:")).split()[-1]
        api = f"http://127.0.0.1:{started.api_port}"
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=api, headers=headers, timeout=10) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.get("/docs")).status_code == 200

            first = (await http.post("/v1/generations", json={"prompt": LIBRARY})).json()
            failed = (await http.post("/v1/generations", json={"prompt": NO_ENTITIES})).json()
            await reaches(http, first["id"], "completed")
            await reaches(http, failed["id"], "failed")
            done_id, failed_id = f"gen-{first['id']}", f"gen-{failed['id']}"

            # Temporal's visibility follows the workflow's last upsert, which may come
            # after the read model has the row completed (the worker runs niced).
            async def visible() -> bool:
                completed = await listed(temporal_port, "GenerationStatus='completed'")
                failures = await listed(temporal_port, "GenerationStatus='failed'")
                return completed == [done_id] and failures == [failed_id]

            await eventually(visible, 30, 0.5, "the workflows in Temporal's list")
            await web_ui_finds_by_status(tmp_path, chromium, started.ui_port, done_id, failed_id)

            worker_metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            assert re.search(
                r'genflow_stage_duration_count\{[^}]*stage="code_review"', worker_metrics
            )
            assert re.search(
                r'genflow_generations_finished\{[^}]*status="completed"[^}]*\} [1-9]',
                worker_metrics,
            )
            assert "temporal_workflow_completed" in worker_metrics

            # The worker's and the API's logs are JSON lines naming the generation.
            logs = tmp_path / "home" / "logs"
            worker_lines = [json.loads(line) for line in (logs / "worker.log").open()]
            review = [
                e
                for e in worker_lines
                if e.get("generation_id") == first["id"] and e.get("stage") == "code_review"
            ]
            assert {e["logger"] for e in review} >= {"temporalio.workflow", "temporalio.activity"}
            assert all(e["workflow_id"] == f"gen-{first['id']}" and e["attempt"] for e in review)
            api_lines = [json.loads(line) for line in (logs / "api.log").open()]
            assert any(
                e["message"].startswith("generation created") and e["generation_id"] == first["id"]
                for e in api_lines
            )

            workers = [p for p, cmd in children(up.pid).items() if "genflow.cli worker" in cmd]
            assert len(workers) == 1
            # The token is signed with the secret made for this home on its first start
            # (only its owner may read it); only the API process is given it.
            secret_file = tmp_path / "home" / SECRET_FILE
            assert secret_file.stat().st_mode & 0o777 == 0o600
            assert verify_token(token, secret_file.read_text().strip()) == DEFAULT_USER
            given = [
                cmd
                for p, cmd in children(up.pid).items()
                if "GENFLOW_JWT_SECRET" in environment_names(p)
            ]
            assert len(given) == 1 and "genflow.cli api" in given[0]
            # The worker (and what it starts) runs below the API and the Temporal server.
            priority = {
                (
                    "worker"
                    if "genflow.cli worker" in cmd
                    else "api"
                    if "genflow.cli api" in cmd
                    else "temporal"
                ): niceness(p)
                for p, cmd in children(up.pid).items()
            }
            assert priority == {
                "worker": min(19, niceness(up.pid) + SUITE_WORKER_NICE),
                "api": niceness(up.pid),
                "temporal": niceness(up.pid),
            }
            os.kill(workers[0], signal.SIGKILL)
            await eventually(
                lambda: [
                    p
                    for p, cmd in children(up.pid).items()
                    if "genflow.cli worker" in cmd and p != workers[0] and alive(p)
                ],
                30,
                0.2,
                "the worker to be restarted",
            )

            second = (await http.post("/v1/generations", json={"prompt": LIBRARY})).json()
            await reaches(http, second["id"], "completed")

        spawned = list(children(up.pid))
        assert len(spawned) == 3  # temporal, worker, api
        up.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(up.wait(), 30) == 0
        # `genflow up` waits for each child before it exits: none is left once it has.
        assert [pid for pid in spawned if alive(pid)] == []
    finally:
        if up.returncode is None:
            up.kill()
            await up.wait()
