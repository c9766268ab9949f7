"""A real PostgreSQL with pgvector from Python, started by the project's own script
(infra/local/postgres.sh, docs/postgres.md): one cluster in a given directory, on a free
port of 127.0.0.1. Used by the tests' ``postgres_dsn`` fixture and the search benchmark.
The first start on a fresh machine installs the server and builds pgvector (apt, root),
which takes a minute or two; later ones take seconds.

A cluster that does not start is a PostgresError with the script's output."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "local" / "postgres.sh"
# The first start may apt-install the server and build pgvector.
START_TIMEOUT_S = 1800.0
TAIL_LINES = 40


class PostgresError(RuntimeError):
    """infra/local/postgres.sh failed; the message ends with its output."""


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [str(SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise PostgresError(
            f"{SCRIPT.relative_to(ROOT)} {' '.join(args)} timed out after {timeout:.0f}s:\n"
            + _tail(output)
        ) from exc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-TAIL_LINES:])


def _fail(args: tuple[str, ...], proc: subprocess.CompletedProcess[str]) -> PostgresError:
    return PostgresError(
        f"{SCRIPT.relative_to(ROOT)} {' '.join(args)} failed (exit {proc.returncode}); "
        f"the end of its output:\n{_tail(proc.stderr + proc.stdout)}"
    )


def start_postgres(tmp_dir: Path, port: int | None = None) -> str:
    """Start (creating it the first time) the cluster in ``tmp_dir`` on ``port`` (default: a
    free one) and return its DSN, postgresql://lamina:<password>@127.0.0.1:<port>/lamina."""
    attempts = 1 if port is not None else 3
    for attempt in range(attempts):
        args = ("start", str(tmp_dir), str(port if port is not None else free_port()))
        proc = _run(*args, timeout=START_TIMEOUT_S)
        if proc.returncode == 0:
            lines = proc.stdout.strip().splitlines()
            if not lines or not lines[-1].startswith("postgresql://"):
                raise PostgresError(
                    f"{SCRIPT.relative_to(ROOT)} {' '.join(args)} printed no DSN:\n"
                    + _tail(proc.stderr + proc.stdout)
                )
            return lines[-1]
        # A free port taken by someone else between free_port() and the server's bind.
        if attempt + 1 < attempts and "already in use" in proc.stderr:
            continue
        raise _fail(args, proc)
    raise AssertionError("unreachable")


def stop_postgres(tmp_dir: Path, timeout: float = 120.0) -> None:
    """Stop the cluster in ``tmp_dir`` (fast shutdown); nothing to do if it is not running."""
    args = ("stop", str(tmp_dir))
    proc = _run(*args, timeout=timeout)
    if proc.returncode != 0:
        raise _fail(args, proc)
