"""The embedding function's real image, built and run by SAM CLI on a real container engine.

One session fixture, ``stack``, runs ``make local-build``: the container engine (Docker if it
answers, else Debian's podman behind a Docker-API socket, installed and configured on first
use), the base image (podman: lamina's stand-in for the AWS Lambda base image, built from
Debian packages and named ``STANDIN_IMAGE``, never AWS's name), the runtime wheels and
``sam build``. A failing step fails the tests with the step's output; nothing is skipped.
Its log: build/container-tests/setup.log.

Measurements (setup time, image size, Init Duration, latencies) are printed in pytest's
terminal summary, under "lamina container measurements".
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.local.standin_template import STANDIN_IMAGE as STANDIN_IMAGE
from infra.local.standin_template import zip_functions
from lamina.settings import ENV_VARS

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "build" / "container-tests"
# functions/Dockerfile's base: AWS's image where Docker pulls it; on podman lamina's stand-in,
# whose one name is STANDIN_IMAGE (infra/local/standin_template.py: base-image.sh builds it,
# sam-build.sh builds the images on it, zip functions run on it through --invoke-image).
AWS_BASE_IMAGE = "public.ecr.aws/lambda/python:3.13"
FUNCTION = "EmbedFunction"
# First run on a fresh machine: apt (podman, debootstrap), debootstrap of Debian trixie,
# wheels, two image builds. Later runs: a cached `sam build`, seconds.
SETUP_TIMEOUT_S = 900
COMMAND_TIMEOUT_S = 300

MEASUREMENTS: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MEASUREMENTS:
        terminalreporter.write_sep("-", "lamina container measurements")
        for name, value in MEASUREMENTS.items():
            terminalreporter.write_line(f"{name}: {value}")


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Stack:
    """What `make local-build` prepared: engine environment, SAM CLI, the built image."""

    engine: str  # "podman" or "docker": also the CLI used for direct container runs
    env: dict[str, str]  # os.environ + DOCKER_HOST (podman) + SAM_CLI_TELEMETRY=0
    sam: Path
    image: str  # the function image sam build tagged, e.g. embedfunction:python3.13-v1

    @property
    def base_image(self) -> str:
        """The image functions/Dockerfile builds on here: the stand-in on podman."""
        return STANDIN_IMAGE if self.engine == "podman" else AWS_BASE_IMAGE

    def invoke_images(self, *functions: str) -> list[str]:
        """podman: ``--invoke-image <F>=<stand-in>`` for the zip functions among ``functions``
        (every zip function of the template when none is named), so that `sam local` runs
        them on the stand-in, not on public.ecr.aws/lambda/python:3.13-x86_64 (SAM CLI's
        default, not on this machine). Docker: none (SAM pulls the real runtime image).
        Per function: a bare --invoke-image would replace the image functions' images too."""
        if self.engine != "podman":
            return []
        lines = (ROOT / "template.yaml").read_text(encoding="utf-8").splitlines()
        return [
            option
            for zipped in zip_functions(lines)
            if not functions or zipped.name in functions
            for option in ("--invoke-image", f"{zipped.name}={STANDIN_IMAGE}")
        ]

    def run(
        self,
        *args: str | Path,
        timeout: float = COMMAND_TIMEOUT_S,
        check: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the repository with the engine's environment; fail on error."""
        cmd = [str(a) for a in args]
        try:
            done = subprocess.run(
                cmd,
                cwd=ROOT,
                env={**self.env, **(extra_env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{' '.join(cmd)}` did not finish within {timeout:.0f} s", pytrace=False)
        if check and done.returncode != 0:
            pytest.fail(
                f"`{' '.join(cmd)}` exited {done.returncode}\n--- stdout\n{done.stdout[-3000:]}"
                f"\n--- stderr\n{done.stderr[-5000:]}",
                pytrace=False,
            )
        return done

    def containers(self) -> set[str]:
        """Ids of the containers SAM CLI started for any function (running or not):
        `start-api --warm-containers EAGER` starts one per API function, not only ours."""
        out = self.run(
            self.engine,
            "ps",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            "label=sam.cli.function.name",
        ).stdout
        return set(out.split())


def engine_env() -> tuple[str, dict[str, str]]:
    script = ROOT / "infra/local/engine.sh"
    engine = subprocess.run(
        [script, "detect"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    exports = subprocess.run(
        [script, "env"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    # SAM CLI lets a shell variable override a template variable of the same name: keep
    # lamina's settings (MODEL_URI, LAMINA_*) out, so the container runs the template's.
    dropped = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", *ENV_VARS.values()}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    for name, value in re.findall(r"^export (\w+)=(.*)$", exports, flags=re.MULTILINE):
        env[name] = value
    return engine, env


@pytest.fixture(scope="session")
def stack() -> Stack:
    """`make local-build`, once per session; fails (never skips) when a step fails."""
    make = shutil.which("make")
    if make is None:
        pytest.fail("`make` is not installed: apt-get install make", pytrace=False)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / "setup.log"
    engine, env = engine_env()
    started = time.monotonic()
    with log.open("w") as out:
        try:
            done = subprocess.run(
                [make, "local-build"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=SETUP_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"`make local-build` did not finish within {SETUP_TIMEOUT_S} s; "
                f"last lines of {log}:\n{tail(log)}",
                pytrace=False,
            )
    if done.returncode != 0:
        pytest.fail(
            f"`make local-build` failed (exit {done.returncode}); last lines of {log}:\n"
            f"{tail(log)}",
            pytrace=False,
        )
    MEASUREMENTS["engine"] = engine
    MEASUREMENTS["make local-build (engine, base image, wheels, sam build)"] = (
        f"{time.monotonic() - started:.0f} s"
    )
    sam = ROOT / ".venv-sam/bin/sam"
    return Stack(engine=engine, env=env, sam=sam, image=built_image(FUNCTION))


def built_image(function: str) -> str:
    """The image `sam build` tagged for ``function`` (its ImageUri in the built template)."""
    from cfnlint.decode import decode

    built = ROOT / ".aws-sam/build/template.yaml"
    parsed, _ = decode(str(built))
    uri = (parsed or {}).get("Resources", {}).get(function, {}).get("Properties", {})
    if not uri.get("ImageUri"):
        pytest.fail(
            f"no ImageUri for {function} in {built}: did sam build build it?", pytrace=False
        )
    return str(uri["ImageUri"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a process this suite started, as Ctrl-C would, then harder; bounded."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


@dataclass(frozen=True)
class LocalApi:
    url: str
    log: Path


@pytest.fixture(scope="module")
def local_api(stack: Stack) -> Iterator[LocalApi]:
    """`sam local start-api` on a free port (warm container started at launch), stopped after."""
    import httpx

    port = free_port()
    log = LOG_DIR / "start-api.log"
    before = stack.containers()
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(stack.sam),
                "local",
                "start-api",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--warm-containers",
                "EAGER",
                # EAGER starts every function, the zip one (BatchSubmitFunction) too: on
                # podman it runs on the stand-in (--invoke-image), and pulling would ask a
                # registry this machine lacks.
                *(["--skip-pull-image"] if stack.engine == "podman" else []),
                *stack.invoke_images(),
            ],
            cwd=ROOT,
            env=stack.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"sam local start-api exited {proc.returncode}; last lines of {log}:\n"
                    f"{tail(log)}",
                    pytrace=False,
                )
            try:
                if httpx.get(f"{url}/health", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"sam local start-api did not answer /health within 180 s; last lines of "
                    f"{log}:\n{tail(log)}",
                    pytrace=False,
                )
            time.sleep(0.5)
        MEASUREMENTS["sam local start-api: launch to first /health answer"] = (
            f"{time.monotonic() - started:.1f} s"
        )
        yield LocalApi(url=url, log=log)
    finally:
        stop(proc)
        # SAM removes its containers when it stops; remove any it left behind.
        for container in stack.containers() - before:
            stack.run(stack.engine, "rm", "-f", container, check=False)
