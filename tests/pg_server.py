"""A real, throwaway PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` on a Unix socket.

The server runs in a temporary directory, listens on no TCP port, trusts local connections and
is stopped (``-m immediate``) at the end. As root it runs as the ``postgres`` user, since the
server refuses to run as root. Without the binaries, :func:`find_binaries` says why, and the
tests skip (or fail, when ``JSONPERSIST_REQUIRE_POSTGRES=1`` as in CI).

Run as a script (``python tests/pg_server.py``) it starts a server and prints its URL, for
benchmarks and manual checks; Ctrl-C stops it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ("PgServer", "find_binaries")


def find_binaries() -> tuple[Path | None, str]:
    """The directory of ``initdb`` and ``pg_ctl`` (highest version), or why there is none."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name)
    )
    for candidate in reversed(found):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate), ""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(pg_ctl).resolve().parent, ""
    return None, (
        "PostgreSQL is not installed (no initdb/pg_ctl in /usr/lib/postgresql/*/bin or on "
        "PATH); install it (apt-get install postgresql) to run the PostgreSQL tests"
    )


class PgServer:
    """A PostgreSQL server in a temporary directory, reachable only through its Unix socket.

    Args:
        bindir (:class:`pathlib.Path`): Where ``initdb`` and ``pg_ctl`` are.

    Attributes:
        directory (:class:`pathlib.Path`): The data directory, also the socket's directory.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self._root = Path(tempfile.mkdtemp(prefix="jsonpersist-pg-"))
        self.directory = self._root / "data"
        self._as_root = os.geteuid() == 0
        if self._as_root:  # the server refuses root: hand the directory to postgres
            os.chmod(self._root, 0o755)
        self.directory.mkdir(mode=0o700)
        if self._as_root:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.directory), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        self.databases = 0

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / tool), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=60)

    def start(self, *, durable: bool = False) -> None:
        """Starts the server and waits until it accepts connections.

        Args:
            durable: Keep ``fsync`` on (for benchmarks); tests run faster without it.
        """
        options = (
            f"-k {self.directory} -c listen_addresses='' -c max_connections=60 "
            f"-c shared_buffers=128MB -c fsync={'on' if durable else 'off'}"
        )
        self._run(
            "pg_ctl", "-D", str(self.directory), "-w", "-l", str(self.directory / "log"),
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """Stops the server; ``immediate`` is a crash: no checkpoint, clients cut off."""
        self._run("pg_ctl", "-D", str(self.directory), "-m", mode, "-w", "stop", check=False)

    def url(self, database: str = "postgres") -> str:
        """The URL of a database of this server, on the Unix socket."""
        return f"postgresql://postgres@/{database}?host={self.directory}"

    def new_database(self) -> str:
        """Creates an empty database and returns its URL: each test gets its own."""
        self.databases += 1
        name = f"test{self.databases}"
        self._run(
            "psql",
            "-h",
            str(self.directory),
            "-U",
            "postgres",
            "-q",
            "-c",
            f"CREATE DATABASE {name}",
        )
        return self.url(name)

    def remove(self) -> None:
        """Stops the server and deletes its directory."""
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)


def _main() -> None:
    bindir, reason = find_binaries()
    if bindir is None:
        raise SystemExit(reason)
    server = PgServer(bindir)
    server.start(durable=True)
    print(server.url(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.remove()


if __name__ == "__main__":
    _main()
