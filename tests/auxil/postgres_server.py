"""A private PostgreSQL server on a free loopback port, for tests; a fresh database per test.

``initdb`` into a temporary folder (as the ``postgres`` user when the tests run as root:
PostgreSQL refuses to run as root), started with durability off (fsync, full-page writes:
a crashed test server is thrown away anyway), stopped at the end. Each test takes its own
database (:func:`fresh_database`), so tests never see each other's rows.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.auxil.redis_server import free_port

__all__ = ["postgres_server", "fresh_database", "postgres_admin_url", "store_target"]

_names = itertools.count()


def _bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"{name} is not installed (make test installs the postgresql package)")
    return found


def _as_owner(args: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL server; yield the URL of its ``postgres`` database (superuser,
    trust authentication on loopback); stop it and delete its files at the end."""
    # not under pytest's tmp_path: its parents are root's and closed to the postgres user
    home = Path(tempfile.mkdtemp(prefix="mouthpiece-pg-"))
    data, log = home / "data", home / "server.log"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(home, owner.pw_uid, owner.pw_gid)
    port = free_port()
    try:
        subprocess.run(
            _as_owner(
                [_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
                + ["--locale=C", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {port} -k {home} -h 127.0.0.1 -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c max_connections=200"
        )
        subprocess.run(
            _as_owner([_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w"])
            + ["start"],
            check=True,
            capture_output=True,
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                _as_owner([_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                check=False,
                capture_output=True,
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def fresh_database(admin_url: str) -> str:
    """A new, empty database on the server of ``admin_url``; its URL. It sorts text as
    English does (ICU), as an operator's database typically would, not bytewise as SQLite
    does: the store must not depend on the server's collation."""
    import psycopg

    name = f"t{os.getpid()}_{next(_names)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY FILE_COPY '
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
        )
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """One PostgreSQL server for the test process (import this fixture into a test module)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's store lives, once per backend: a SQLite file, or a fresh PostgreSQL
    database (``Store.open`` takes either). Import it with :func:`postgres_admin_url`."""
    if request.param == "sqlite":
        return tmp_path / "store.sqlite3"
    return fresh_database(request.getfixturevalue("postgres_admin_url"))
