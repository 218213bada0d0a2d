"""Composition of the server: settings, database, rules, HTTP app and the background reaper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from fastapi import FastAPI, Request, Response
from platformdirs import user_data_dir

from . import __version__, problems
from .api import router
from .clock import Clock, SystemClock
from .cluster import ClusterLink
from .db.engine import is_sqlite, make_engine, migrate, sqlite_path_url
from .events import EventBus
from .pbx import NoPbx, PbxPort
from .security import DbLoginLimiter, HashProfile, LoginLimiter, Passwords
from .service import CallCenter

log = logging.getLogger("callcenter.app")


def default_db_url() -> str:
    return sqlite_path_url(Path(user_data_dir("callcenter-server")) / "callcenter.sqlite3")


@dataclass
class Settings:
    db_url: str = field(default_factory=default_db_url)
    #: How often due sessions are looked for; expiry lands within this of its deadline.
    reaper_interval_s: float | None = 0.25
    keepalive_s: float = 15.0
    event_window: int = 10_000
    max_body_bytes: int = 64 * 1024
    hash_profile: HashProfile = field(default_factory=HashProfile)
    login_failures_per_agent: int = 5
    login_failures_per_ip: int = 50
    login_window_s: float = 60.0
    migrate: bool = True
    #: PostgreSQL: follow the other server instances on the database (events over
    #: LISTEN/NOTIFY, the one PBX owner); docs/deployment.md.
    cluster: bool = True


def build_center(settings: Settings, *, clock: Clock | None = None,
                 pbx: PbxPort | None = None) -> CallCenter:
    if settings.migrate:
        migrate(settings.db_url)
    engine = make_engine(settings.db_url, writer=True)
    limits = (settings.login_failures_per_agent, settings.login_failures_per_ip,
              settings.login_window_s)
    # PostgreSQL: other instances may share the database, and so the count of failures.
    limiter = LoginLimiter(*limits) if is_sqlite(engine) else DbLoginLimiter(engine, *limits)
    cc = CallCenter(
        engine,
        read_engine=make_engine(settings.db_url) if is_sqlite(engine) else None,
        clock=clock or SystemClock(),
        bus=EventBus(settings.event_window),
        passwords=Passwords(settings.hash_profile),
        limiter=limiter,
        pbx=pbx or NoPbx(),
    )
    cc.load_recent_events()
    return cc


async def _reaper(cc: CallCenter, interval: float) -> None:
    ticks = 0
    while True:
        try:
            await anyio.to_thread.run_sync(cc.expire_due)
            ticks += 1
            if ticks % int(max(1, 60 / interval)) == 0:
                await anyio.to_thread.run_sync(cc.prune_events)
        except Exception:
            log.exception("reaper tick failed")
        await asyncio.sleep(interval)


JSON_TYPES = ("application/json", "application/problem+json")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               pbx: PbxPort | None = None, center: CallCenter | None = None) -> FastAPI:
    settings = settings or Settings()
    cc = center or build_center(settings, clock=clock, pbx=pbx)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        cc.bus.attach(asyncio.get_running_loop())
        await cc.pbx.start()
        link = None
        if cc.shared and settings.cluster:
            link = ClusterLink(cc, settings.db_url)
            link.start()
        app.state.cluster = link
        task = None
        if settings.reaper_interval_s:
            task = asyncio.create_task(_reaper(cc, settings.reaper_interval_s))
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The PBX driver first, then the link (and with it the owner lock): another instance
        # connects to AMI only once this one has left.
        await cc.pbx.stop()
        if link is not None:
            await anyio.to_thread.run_sync(link.stop)

    app = FastAPI(
        title="Call-center agent API",
        version=__version__,
        description=(
            "Sessions, heartbeat, checkin/checkout, pause, wrap-up, devices, the team board "
            "and an event stream for call-center agents and team admins. Errors are RFC 9457 "
            "problem+json with a stable `code`."
        ),
        lifespan=lifespan,
    )
    app.state.callcenter = cc
    app.state.settings = settings
    problems.install(app)
    app.include_router(router)

    @app.middleware("http")
    async def guard_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit()
                                       or int(length) > settings.max_body_bytes):
                return problems.problem_response("payload_too_large")
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if (length not in (None, "0")) and ctype not in JSON_TYPES:
                return problems.problem_response("unsupported_media_type")
        return await call_next(request)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness, this instance's id and its part in driving the PBX: `none` (no PBX
        configured), `connected` or `disconnected` (this instance drives it; AMI up or not),
        `standby` or `standby-unavailable` (another instance on the database drives it; its
        AMI is up, or it is down or no instance drives it)."""
        pbx = cc.pbx
        if isinstance(pbx, NoPbx):
            role = "none"
        elif getattr(pbx, "standby", False):
            role = "standby" if pbx.available else "standby-unavailable"
        else:
            role = "connected" if pbx.available else "disconnected"
        return {"status": "ok", "version": __version__, "instance": cc.instance_id,
                "pbx": role}

    return app
