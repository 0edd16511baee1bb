"""A throw-away PostgreSQL server for tests: Debian's binaries, `initdb` and `pg_ctl` on a socket in a temp folder.

As root (CI) the cluster is made and run as the `postgres` user, since PostgreSQL refuses to run as root.
Nothing listens on TCP; the DSN names the socket folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def postgres_bin() -> Path | None:
    """The folder of Debian's server binaries (initdb, pg_ctl), the newest version installed, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _as_postgres() -> list[str]:
    if os.geteuid() != 0:
        return []
    pwd.getpwnam("postgres")  # KeyError: no such user (the Debian package creates it)
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a cluster, yield its DSN (database `postgres`), stop and remove it whatever happens."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
    root = Path(tempfile.mkdtemp(prefix="pekppp-pg-", dir="/tmp"))
    prefix = _as_postgres()
    if prefix:
        shutil.chown(root, user="postgres")
    data, log = root / "data", root / "server.log"
    run = [*prefix]
    subprocess.run([*run, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                    "--no-sync", "-E", "UTF8", "--locale=C"], check=True, capture_output=True, timeout=120)
    options = f"-k {root} -c listen_addresses='' -c fsync=off"
    subprocess.run([*run, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60",
                    "start"], check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://postgres@/postgres?host={root}"
    finally:
        subprocess.run([*run, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=120, check=False)
        shutil.rmtree(root, ignore_errors=True)
