"""What the command line shares: progress bars for transfers and the S3 options.

Used by ``lamina models`` (``cli``), ``lamina jobs`` (``jobs_cli``) and ``lamina ab``
(``monitor_cli``); imports none of them.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from lamina.models.store import ModelStore
    from lamina.storage import Progress

_MB = 1e6


def _size(n: float) -> str:
    return f"{n / _MB:.1f} MB" if n >= _MB / 10 else f"{n / 1e3:.1f} kB"


class ProgressBar:
    """A one-line text bar per file on a stream, redrawn at most 10 times a second, then a
    final line per file. Safe to call from several threads; no terminal escape codes."""

    width = 30

    def __init__(
        self,
        stream: TextIO,
        verb: str,
        *,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.verb = verb
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}  # path -> time of its first call
        self._drawn = 0.0  # time of the last redraw
        self._shown = 0  # length of the line on screen, to blank it out

    def __call__(self, path: str, done: int, total: int) -> None:
        now = self.clock()
        with self._lock:
            started = self._started.setdefault(path, now)
            if done >= total:
                del self._started[path]
                seconds = now - started
                line = f"{self.verb} {path}: {_size(total)}"
                if seconds >= 0.1:  # a rate over less time means nothing
                    line += f" in {seconds:.1f} s ({total / _MB / seconds:.1f} MB/s)"
                self._write(line)
                self.stream.write("\n")
                self._shown = 0
            elif now - self._drawn >= self.interval:
                self._drawn = now
                filled = self.width * done // total
                bar = "#" * filled + "." * (self.width - filled)
                percent = 100 * done // total
                self._write(
                    f"{self.verb} {path} [{bar}] {percent:3d}% {_size(done)}/{_size(total)}"
                )
            self.stream.flush()

    def _write(self, line: str) -> None:
        self.stream.write("\r" + line.ljust(self._shown))
        self._shown = len(line)


def progress_bar(args: argparse.Namespace, verb: str) -> Progress | None:
    """A progress bar on stderr if it is a terminal or ``--progress`` was given."""
    if args.progress or sys.stderr.isatty():
        return ProgressBar(sys.stderr, verb)
    return None


def aws_options(bucket_variable: str, what: str) -> argparse.ArgumentParser:
    """--bucket (default ``$bucket_variable``), --endpoint-url and --progress, shared by the
    commands that talk to S3; defaults come from the environment (this is the edge)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--bucket",
        default=os.environ.get(bucket_variable),
        help=f"{what} (default: ${bucket_variable})",
    )
    options.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"),
        help="S3 endpoint, e.g. a moto server (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL)",
    )
    options.add_argument(
        "--progress", action="store_true", help="progress bars on stderr even if not a terminal"
    )
    return options


def store_options() -> argparse.ArgumentParser:
    """Options every model store command takes (``lamina models ...``, ``lamina ab
    promote``): the S3 options, and the key prefix."""
    options = argparse.ArgumentParser(
        add_help=False, parents=[aws_options("LAMINA_MODELS_BUCKET", "S3 bucket of the store")]
    )
    options.add_argument("--prefix", default="models", help="key prefix in the bucket")
    return options


def model_store(args: argparse.Namespace) -> ModelStore:
    """The model store those options name."""
    from lamina.models.store import S3ModelStore

    return S3ModelStore(args.bucket, prefix=args.prefix, endpoint_url=args.endpoint_url)
