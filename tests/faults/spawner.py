"""Gateway processes started in milliseconds, so a test can kill and restart many.

``chamberlain serve`` spends seconds importing before it opens anything (2 to 6 s on a
busy two-core machine), which would make every restart of a kill drill cost that much.
A *zygote* imports Chamberlain once, then forks a child per gateway: each child is a
process of its own that runs ``chamberlain serve`` (the CLI's own code, ``cli.main``)
with its own environment and log, opens the database, binds its port and serves. What
a kill drill kills is that child, with SIGKILL, like any crashed process.

The zygote forks before anything runs (one thread, no event loop, no connection open),
so each child starts as clean as a fresh interpreter that imported the same modules.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Spawner:
    """The test's side: ask the zygote for gateways, kill them."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self._zygote = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.spawner"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            cwd=ROOT,
        )
        self.children: set[int] = set()
        assert self._read() == "ready"

    def _read(self) -> str:
        assert self._zygote.stdout is not None
        line = self._zygote.stdout.readline()
        if not line:
            raise RuntimeError("the gateway zygote exited")
        return line.strip()

    def serve(self, target: str, port: int, data_dir: Path, env: dict[str, str], log: Path) -> int:
        """Fork a ``chamberlain serve TARGET --port PORT --data-dir DATA_DIR``; its pid."""
        assert self._zygote.stdin is not None
        args = ["serve", target, "--port", str(port), "--data-dir", str(data_dir)]
        self._zygote.stdin.write(json.dumps({"args": args, "env": env, "log": str(log)}) + "\n")
        self._zygote.stdin.flush()
        pid = int(self._read())
        self.children.add(pid)
        return pid

    def kill(self, pid: int) -> None:
        """SIGKILL, and wait until the process is gone (the zygote reaps it)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.005)
        self.children.discard(pid)

    def close(self) -> None:
        for pid in list(self.children):
            self.kill(pid)
        if self._zygote.stdin is not None:
            self._zygote.stdin.close()
        try:
            self._zygote.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._zygote.kill()
            self._zygote.wait()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def spawner() -> Iterator[Spawner]:
    made = Spawner()
    try:
        yield made
    finally:
        made.close()


def _die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux), so that a test run that is itself
    killed leaves no gateway behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _zygote() -> None:
    _die_with_parent()
    import chamberlain.cli
    import chamberlain.demo  # noqa: F401 - imported once here, not in every child

    # Children are reaped by the kernel as they die: a killed gateway leaves no zombie,
    # and the test sees it gone as soon as it is.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: becomes the gateway
            try:
                _die_with_parent()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.environ.update(request["env"])
                null = os.open(os.devnull, os.O_RDONLY)
                log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                sys.stdin = open(os.devnull)  # noqa: SIM115
                chamberlain.cli.main(request["args"], prog_name="chamberlain")
            except SystemExit as done:
                os._exit(done.code if isinstance(done.code, int) else 1)
            except BaseException:
                import traceback

                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        print(pid, flush=True)


if __name__ == "__main__":
    _zygote()
