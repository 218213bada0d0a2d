"""Shared fixtures: real databases (SQLite file and a private PostgreSQL), a live server."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from callcenter_server.app import Settings
from callcenter_server.db.engine import make_engine, migrate, normalise_url, session_factory
from callcenter_server.provision import apply_document, demo_document
from callcenter_server.security import FAST_PROFILE, Passwords
from tests.support.live import LiveServer, start_live_server
from tests.support.postgres import postgres_cluster

pytest_plugins = ["tests.pbx_fixtures"]

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
_db_counter = itertools.count()


def _seed(url: str) -> None:
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as db:
        apply_document(db, demo_document(), Passwords(FAST_PROFILE))
        db.commit()
    engine.dispose()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "seeded.sqlite3"
    _seed(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> str:
    admin = create_engine(normalise_url(pg_admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("CREATE DATABASE seeded"))
    admin.dispose()
    _seed(pg_admin_url.rsplit("/", 1)[0] + "/seeded")
    return "seeded"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh copy of the seeded demo database, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "callcenter.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    return fresh_pg_database(request.getfixturevalue("pg_admin_url"),
                             request.getfixturevalue("pg_template"))


def fresh_pg_database(admin_url: str, template_name: str) -> str:
    """A new database on the private cluster, a copy of the seeded template; its URL."""
    name = f"t{next(_db_counter)}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_url(pg_admin_url: str, pg_template: str) -> str:
    """A fresh seeded PostgreSQL database only (tests of several instances on one database)."""
    return fresh_pg_database(pg_admin_url, pg_template)


TEST_SETTINGS = Settings(
    db_url="",
    reaper_interval_s=None,  # tests move a manual clock and reap explicitly
    keepalive_s=0.5,
    hash_profile=FAST_PROFILE,
    migrate=False,
)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return replace(TEST_SETTINGS, db_url=db_url)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    """The real server on a loopback port, with a manual clock."""
    with start_live_server(settings) as live:
        yield live
