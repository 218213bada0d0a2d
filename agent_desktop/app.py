"""The composition root: the one place that builds and wires engine, session and UI.

    python -m agent_desktop [--server URL] [--team T] [--agent N] [--sip-registrar HOST:PORT]
                            [--history-file PATH] [--screen-pop-url TEMPLATE]
                            [--screen-pop-on ring|answer|off]
    python -m agent_desktop --version
    python -m agent_desktop --self-test      # JSON on stdout; exit 0 when all is well
    AGENT_DESKTOP_PASSWORD=... python -m agent_desktop --smoke-login --server URL --team T \
        --agent N [--sip-registrar HOST:PORT]   # headless login + SIP registration check
    python -m agent_desktop --collect-diagnostics PATH   # a zip for support (no secrets)

IT's system settings file (provisioning.py, docs/provisioning-desktop.md) sets defaults and
locks; logs go to rotating, redacted files (logs.py).

`AgentApp` holds the collaborators (all injected) and the flow: login through `run_in_worker`
→ heartbeat + event stream + SIP account → main window; events → state machine → window;
a ringing call → incoming-call window + screen pop, every call → the local history;
quit → best-effort logout (off the GUI thread, bounded) → staged SIP shutdown → quit.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PySide6.QtCore import (
    QCoreApplication,
    QMessageLogContext,
    QObject,
    QSettings,
    QStandardPaths,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)

# Only what the login window needs is imported here: the rest (main window, history, session
# workers, the HTTP client, the audio bridge) loads when the agent starts typing or logs in
# (cold start and idle memory at the login window: bench/cold_start.py).
from agent_desktop import __version__, logs, provisioning
from agent_desktop.audio_env import apply_low_latency_audio_env, qt_audio_backend
from agent_desktop.i18n import install_translator
from agent_desktop.screenpop import PopWhen, ScreenPop, ScreenPopSettings
from agent_desktop.session import errors as e
from agent_desktop.session.credentials import NOT_REMEMBERED, CredentialStore, StoreResult
from agent_desktop.session.messages import tr
from agent_desktop.session.state import AgentStateMachine, Network, Session
from agent_desktop.session.worker import run_in_worker
from agent_desktop.settings import AppSettings, apply_theme
from agent_desktop.ui.login import LoginForm, LoginWindow

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from agent_desktop.history import CallTracker, HistoryEntry, HistoryStore
    from agent_desktop.session.client import ApiClient
    from agent_desktop.session.events import EventStream
    from agent_desktop.session.heartbeat import Heartbeat
    from agent_desktop.session.models import LoginResult, Me
    from agent_desktop.ui.incoming import IncomingCallWindow, RingInfo
    from agent_desktop.ui.main_window import MainWindow
    from agent_desktop.ui.settings_dialog import SettingsDialog
    from agent_desktop.ui.team_window import TeamWindow
    from agent_desktop.ui.tray import Tray

log = logging.getLogger("agent_desktop.app")
qtlog = logging.getLogger("agent_desktop.qt")

DEFAULT_SERVER = "http://127.0.0.1:8080"
SIP_PORT = 5060
LOGOUT_WAIT_MS = 2500
RING_INFO_WAIT_MS = 1500  # a ring screen pop waits this long for the server's queue name
RING_INFO_MAX_AGE_S = 60.0  # a `call.ringing` event older than this describes another call
PHONE_REGISTER_WAIT_MS = 10_000  # self-adapting login: the app's phone registration, at most
PHONE_LOGIN_RETRIES = 4  # ... then the login, while the server has not seen it yet
PHONE_LOGIN_RETRY_MS = 500
SMOKE_PASSWORD_ENV = "AGENT_DESKTOP_PASSWORD"  # noqa: S105 (a name) --smoke-login's password

# --------------------------------------------------------------------------- Qt → logging

_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def qt_message_handler(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    category = context.category or "qt"
    qtlog.log(_QT_LEVELS.get(kind, logging.WARNING), "[%s] %s", category, message)


def install_qt_logging() -> None:
    qInstallMessageHandler(qt_message_handler)


# --------------------------------------------------------------------------- helpers


def default_registrar(server_url: str) -> str:
    """The server's host with the standard SIP port (the demo's Asterisk sits beside it)."""
    host = urlsplit(server_url if "://" in server_url else "http://" + server_url).hostname
    return f"{host or '127.0.0.1'}:{SIP_PORT}"


def make_client(server_url: str) -> ApiClient:
    """The API client of a login (requests is imported here, or earlier by `prewarm`)."""
    from agent_desktop.session.client import ApiClient

    return ApiClient(server_url, client_version=f"agent-desktop/{__version__}")


CLIENT_MODULE = "agent_desktop.session.client"
#: What a login loads besides the HTTP client (imported on a worker: `load_client_module`).
SEAT_MODULES = ("agent_desktop.session.events", "agent_desktop.session.heartbeat",
                "agent_desktop.history", "agent_desktop.ui.main_window",
                "agent_desktop.ui.incoming", "agent_desktop.ui.tray")


#: Set once the login's modules are fully imported. (Not `sys.modules`: a module is listed
#: there from the start of its import, and importing it on the GUI thread then waits for the
#: worker's import to finish: a 90 ms stall when the click came during the prewarm.)
client_loaded = threading.Event()


def load_client_module() -> None:
    import importlib

    importlib.import_module(CLIENT_MODULE)
    for name in SEAT_MODULES:
        importlib.import_module(name)
    settle_heap()
    client_loaded.set()


#: The app's own process (build_gui) settles its heap; tests that build seats in a shared
#: process do not (freezing would keep their earlier seats' cycles for good).
_settle_heap = False


def settle_heap() -> None:
    """After a batch of imports: move what exists now out of the garbage collector's sight
    (module-level objects live for the process). Otherwise the next full collection walks
    them all on whatever thread allocates then, e.g. a ~20 ms GUI stall a second later."""
    if _settle_heap:
        gc.freeze()


def prewarm(parent: QObject | None = None) -> None:
    """Import, on a worker thread, what the first login needs and the login window does not
    (requests and the API client: ~70 ms), so that neither the start nor the click pays it."""
    if client_loaded.is_set():
        return
    run_in_worker(load_client_module, on_success=lambda _: None,
                  on_failure=lambda exc: log.warning("prewarm failed: %s", exc), parent=parent)

def resources_dir() -> Path:
    """resources/ of the source tree, or of the bundle when frozen (build_installer.spec)."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / "resources" if bundle else Path(__file__).resolve().parents[1] / (
        "resources")


def terminal_id() -> str:
    """One terminal per computer (docs/api.md: a new login from it replaces the old one)."""
    # os, not socket: the socket module is not needed before the login (start-up time)
    host = os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")
    return f"desktop-{host or 'unknown'}"


@dataclass(frozen=True)
class LoginOutcome:
    result: LoginResult
    stored: StoreResult | None


@dataclass
class CallContext:
    """What the app knows about one SIP call: its history tracker, ring window, ring info."""

    call: Any
    tracker: CallTracker | None = None
    window: IncomingCallWindow | None = None
    info: RingInfo | None = None
    pop_timer: QTimer | None = None


# --------------------------------------------------------------------------- the app


class AgentApp(QObject):
    """Owns the flow between the windows, the session layer and the SIP engine.

    `engine` and `bridge` may be None (no SIP: the chip says why). `bridge_factory` makes the
    audio bridge on first need instead (`ensure_bridge`): Qt Multimedia, the echo canceller
    and the device scan cost ~100 ms and ~35 MB that the login window does not need, so the
    app makes it after the login, its imports on a worker first (`prepare_bridge`).
    `make_window` builds the main window for a logged-in client (tests pass their own).
    """

    def __init__(
        self,
        *,
        login_window: LoginWindow,
        machine: AgentStateMachine,
        store: CredentialStore,
        client_factory: Callable[[str], ApiClient],
        engine: Any = None,
        bridge: Any = None,
        bridge_factory: Callable[[], Any] | None = None,
        sip_registrar: str | None = None,
        terminal: str | None = None,
        sip_unavailable_reason: str = "",
        make_window: Callable[[AgentStateMachine, ApiClient], MainWindow] | None = None,
        quit_app: Callable[[], None] | None = None,
        history: HistoryStore | None = None,
        history_factory: Callable[[], HistoryStore] | None = None,
        engine_factory: Callable[[], Any] | None = None,
        screen_pop: ScreenPop | None = None,
        clock: Callable[[], float] = time.monotonic,
        recordings_dir: Path | None = None,
        settings: AppSettings | None = None,
        settings_store: QSettings | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.login_window = login_window
        self.machine = machine
        self.store = store
        self._client_factory = client_factory
        self.engine = engine
        self._bridge = bridge
        self._bridge_factory = bridge_factory
        self._registrar = sip_registrar
        self._terminal = terminal or terminal_id()
        self._sip_unavailable = sip_unavailable_reason
        self._make_window = make_window
        self._quit_app = quit_app or (lambda: QCoreApplication.quit())
        self.client: ApiClient | None = None
        self.window: MainWindow | None = None
        self.heartbeat: Heartbeat | None = None
        self.stream: EventStream | None = None
        self.account: Any = None
        self._followed: Any = None  # the account whose registration the state machine follows
        self.last_form: LoginForm | None = None
        self._quitting = False
        self._finished = False
        self._sip_failure = ""
        self._history = history
        self._history_factory = history_factory
        self._engine_factory = engine_factory
        self.screen_pop = screen_pop
        self.recordings_dir = recordings_dir
        self.settings = settings or AppSettings()
        self._settings_store = settings_store
        self.settings_dialog: SettingsDialog | None = None
        self.team_window: TeamWindow | None = None
        # `window` is this login's seat, `team_window` its team view. A login of the other
        # kind in the same run (an agent, then a team admin without a seat, or back) parks
        # the earlier one's window here, hidden, to be used again by a login of its kind:
        # everything that asks "is there a seat?" checks `window`.
        self._parked_window: MainWindow | None = None
        self._parked_team_window: TeamWindow | None = None
        self._last_result: LoginResult | None = None
        self._pending_dial = ""
        self.tray: Tray | None = None
        self._clock = clock
        self.calls: dict[str, CallContext] = {}
        self._last_ring: tuple[RingInfo, float] | None = None
        self._agent_number = ""
        self.provisioning = provisioning.Provisioning()  # IT's settings (build_seat sets it)
        self.sip_transport: str | None = None  # udp / tcp / tls; None: the account default
        self.hotkeys: dict[str, str] = {}  # action → key sequence (IT's, the agent's on top)
        login_window.login_requested.connect(self.login)
        login_window.closed.connect(self.request_quit)
        # What only a login needs is loaded when the agent starts typing, not at start:
        # the HTTP stack (~70 ms, ~18 MB) and the keyring (~30 ms, ~10 MB, when "remember"
        # is ticked: whether it works is shown beside the box).
        login_window.typing_started.connect(self.prewarm)
        login_window.remember_wanted.connect(self.probe_store)
        self._store_probed = False

    # ----------------------------------------------------------------- start

    def prewarm(self) -> None:
        prewarm(self)

    def probe_store(self) -> None:
        """Ask the keyring (may block on D-Bus) off the GUI thread whether it remembers."""
        if self._store_probed:
            return
        self._store_probed = True
        run_in_worker(lambda: self.store.backend_name,
                      on_success=lambda name: self.login_window.set_remember_notice(
                          tr(NOT_REMEMBERED) if name == "memory" else ""),
                      on_failure=lambda exc: self.login_window.set_remember_notice(
                          tr(NOT_REMEMBERED)), parent=self)

    @property
    def history(self) -> HistoryStore | None:
        """The call history (opened on first use: after the login)."""
        if self._history is None and self._history_factory is not None:
            factory, self._history_factory = self._history_factory, None
            self._history = factory()
        return self._history

    def ensure_engine(self) -> Any:
        """The SIP engine, started now if the app deferred it (`build_gui` starts it right
        after the login window is on screen); None when it cannot start (the chip says why)."""
        if self.engine is None and self._engine_factory is not None and not self._finished:
            factory, self._engine_factory = self._engine_factory, None
            try:
                self.engine = factory()
            except Exception as exc:  # ImportError (no pjsua2 here) or SipError; never fatal
                log.error("SIP engine unavailable: %s: %s", type(exc).__name__, exc)
                self._sip_unavailable = tr("the SIP engine did not start")
                self._bridge_factory = None
                return None
            self.engine.incoming_call.connect(self.on_incoming_call)
            if self._bridge is not None:  # made first (e.g. the settings opened early)
                self.engine.media_hook = self._bridge
        return self.engine

    @property
    def bridge(self) -> Any:
        """The audio bridge (made now if it was not yet; None without SIP or audio)."""
        return self.ensure_bridge()

    def ensure_bridge(self) -> Any:
        if self._bridge is None and self._bridge_factory is not None and not self._finished:
            factory, self._bridge_factory = self._bridge_factory, None
            try:
                self._bridge = factory()
            except Exception as exc:  # calls still connect, without audio; the log says why
                log.error("audio bridge unavailable: %s: %s", type(exc).__name__, exc)
                return None
            if self.engine is not None:
                self.engine.media_hook = self._bridge
            self._configure_bridge(self.settings)
        return self._bridge

    def prepare_bridge(self) -> None:
        """Import the bridge's modules on a worker (Python imports of Qt Multimedia, numpy and
        the canceller: ~80 ms, GIL contention only), then make it on the GUI thread (the
        device scan, ~10 ms)."""
        if self._bridge is not None or self._bridge_factory is None:
            return
        import importlib

        def load() -> None:
            importlib.import_module("agent_desktop.sip.audio")
            if self.settings.echo_cancellation:
                from agent_desktop.sip.aec import preload_backend

                preload_backend()
            settle_heap()

        run_in_worker(load, on_success=lambda _: self.ensure_bridge(),
                      on_failure=lambda exc: log.warning("audio bridge prewarm: %s", exc),
                      parent=self)

    def _configure_bridge(self, s: AppSettings) -> None:
        bridge = self._bridge
        if bridge is None:
            return
        from agent_desktop.ui.settings_dialog import pin_device

        for kind, dev in (("microphone", s.audio.microphone), ("speaker", s.audio.speaker),
                          ("ringer", s.audio.ringer)):
            pin_device(bridge, kind, dev)
        if s.echo_cancellation != bridge.aec_enabled():
            bridge.set_aec_enabled(s.echo_cancellation)

    # ----------------------------------------------------------------- login

    def login(self, form: LoginForm) -> None:
        if self.login_window.busy:
            return
        if self._client_factory is make_client and not client_loaded.is_set():
            # Clicked before the prewarm (or without typing): the HTTP stack's import stays
            # off the GUI thread, as every wait does.
            self.login_window.set_busy(True)

            def go(_: object) -> None:
                self.login_window.set_busy(False)
                self.login(form)

            def failed(exc: BaseException) -> None:
                self.login_window.set_busy(False)
                log.error("the HTTP client did not load: %s", exc)
                self.login_window.show_error(exc)

            run_in_worker(load_client_module, on_success=go, on_failure=failed, parent=self)
            return
        logs.remember_secret(form.password, form.phone_password)
        self.ensure_engine()
        try:
            client = self._client_factory(form.server)
        except e.ApiError as exc:  # a bad URL never reaches the network
            self.login_window.show_error(exc)
            return
        self._drop_session()
        self.client = client
        self.last_form = form
        self.login_window.set_busy(True)
        self.machine.login_started()
        if form.phone_password and form.device_number and self.engine is not None:
            self._register_phone_first(client, form)
        else:
            self._api_login(client, form)

    def _register_phone_first(self, client: ApiClient, form: LoginForm) -> None:
        """Self-adapting agents: register this app as the phone, then log in (the server
        picks the phone registered from this computer's address)."""
        from agent_desktop.sip import AccountSettings, RegistrationState, SipError

        registrar = self._registrar or default_registrar(client.base_url)
        self._remove_account()
        try:
            account = self.engine.add_account(self._with_transport(AccountSettings(
                form.device_number, form.phone_password, registrar)))
        except SipError as exc:
            log.warning("phone registration: %s", exc)
            self._login_failed(e.ApiError(e.PHONE_REJECTED, detail=str(exc)))
            return
        self.account = account
        deadline = QTimer(self)
        deadline.setSingleShot(True)
        plain = replace(form, device_number="", phone_password="")

        def done(error: str = "") -> None:
            deadline.stop()
            deadline.deleteLater()
            account.registration_changed.disconnect(on_state)
            if error:
                self._remove_account()
                self._login_failed(e.ApiError(error))
            else:
                self._api_login(client, plain, retries=PHONE_LOGIN_RETRIES)

        def on_state(state: Any, code: int, reason: str) -> None:
            self._on_registration(state, code, reason)
            if state is RegistrationState.REGISTERED:
                done()
            elif state is RegistrationState.FAILED and code in (401, 403, 404):
                done(e.PHONE_REJECTED)
            elif state is RegistrationState.FAILED and account.tls_certificate_rejected:
                done(e.PHONE_UNTRUSTED)  # retrying will not help: say so now, not after 10 s

        account.registration_changed.connect(on_state)
        deadline.timeout.connect(lambda: done(e.PHONE_UNREACHABLE))
        deadline.start(PHONE_REGISTER_WAIT_MS)
        if account.state is RegistrationState.REGISTERED:
            done()

    def _api_login(self, client: ApiClient, form: LoginForm, retries: int = 0) -> None:
        store, term = self.store, self._terminal

        def work() -> LoginOutcome:
            result = client.login(form.team or None, form.agent, form.password,
                                  terminal_id=term, device_number=form.device_number or None)
            stored: StoreResult | None = None
            if form.remember:
                stored = store.save(client.base_url, form.team or None, form.agent,
                                    form.password)
            return LoginOutcome(result, stored)

        def failed(exc: BaseException) -> None:
            if retries and getattr(exc, "code", "") == "no_device_at_ip":
                # The server learns the new registration from the PBX a moment later.
                QTimer.singleShot(PHONE_LOGIN_RETRY_MS, self,
                                  lambda: self._api_login(client, form, retries - 1))
                return
            self._login_failed(exc)

        run_in_worker(work, on_success=self._logged_in, on_failure=failed, parent=self)

    def _login_failed(self, exc: BaseException) -> None:
        log.info("login failed: %s", getattr(exc, "code", type(exc).__name__))
        self.machine.login_failed(exc)
        self.login_window.set_busy(False)
        self.login_window.show_error(exc)
        self.login_window.show()
        self.login_window.raise_()

    def _logged_in(self, outcome: LoginOutcome) -> None:
        result, client = outcome.result, self.client
        assert client is not None
        logs.remember_secret(result.token)
        self.login_window.set_busy(False)
        if result.agent is None and not (result.role == "team_admin" and result.team):
            # A system admin: no seat and no single team to show.
            client_copy = client
            run_in_worker(client_copy.logout, on_success=lambda _: None,
                          on_failure=lambda _: None, parent=self)
            self.login_window.show_error(e.ForbiddenError("not_an_agent", 403))
            self.machine.logged_out()
            return
        self.machine.login_succeeded(result)
        state_version = result.agent.state_version if result.agent else 0
        from agent_desktop.session.events import EventStream
        from agent_desktop.session.heartbeat import Heartbeat

        self.heartbeat = Heartbeat(client, interval_s=result.heartbeat_interval_s,
                                   state_version=state_version, parent=self)
        self.heartbeat.beat_ok.connect(self._beat_ok)
        self.heartbeat.beat_failed.connect(self.machine.heartbeat_failed)
        self.heartbeat.session_ended.connect(self._session_over)
        self.heartbeat.refetch_needed.connect(lambda _v: self.refetch())
        self.heartbeat.start()
        self.stream = EventStream(client, last_event_id=result.last_event_id,
                                  session_id=result.session.id, parent=self)
        self.stream.event_received.connect(self._on_event)
        self.stream.resync_needed.connect(lambda _id: self.refetch())
        self.stream.ended.connect(self._session_over)
        self.stream.start()
        if result.agent is None:
            self._agent_number = ""
            if self.window is not None:  # an earlier agent's seat: not this login's
                self.window.hide()
                self._parked_window, self.window = self.window, None
            self._open_team_view(client, result)
            return
        self._agent_number = result.agent.number
        if self.team_window is not None and self.team_window.quits_app:
            # An earlier team admin's team view (without a seat): not this login's.
            self.team_window.hide()
            self._parked_team_window, self.team_window = self.team_window, None
        # SIP first: the REGISTER is on its way while the main window is built (~20 ms).
        self._start_sip(result)

        if self.window is None and self._parked_window is not None:
            self.window, self._parked_window = self._parked_window, None
        if self.window is None:
            if self._make_window is not None:
                self.window = self._make_window(self.machine, client)
            else:
                from agent_desktop.ui.main_window import MainWindow

                self.window = MainWindow(self.machine, client)
            self.window.relogin_requested.connect(self.relogin)
            self.window.quit_requested.connect(self.request_quit)
            self.window.call_requested.connect(self.dial)
            self.window.settings_requested.connect(self.open_settings)
            self.window.team_view_requested.connect(self.open_team_view)
            self.window.call_panel.place_call = self.place_call
            self.window.call_panel.recordings_dir = self.recordings_dir
            if self.history is not None:
                # On the next loop turn: building the history view too would make this one
                # turn (login reply -> main window on screen) a GUI stall over 20 ms.
                window, history = self.window, self.history
                QTimer.singleShot(0, window, lambda: window.set_history(history))
            self._apply_hotkeys()
        else:
            self.window._client = client  # the same window follows a new login
        self._last_result = result
        # A team admin with an agent seat: the team view beside the seat, one click away.
        self.window.team_button.setVisible(result.role == "team_admin" and bool(result.team))
        self.window.set_agent(result.agent, result.pause_reasons, who=result.agent.name)
        if self.tray is not None:
            self.tray.set_pause_reasons(result.pause_reasons)
        if outcome.stored is not None and not outcome.stored.remembered:
            self.window.show_info(outcome.stored.message)
        else:
            self.window.show_info(tr("Logged in."))
        self.login_window.hide()
        self.window.show()
        self.window.raise_()

    def _beat_ok(self, reply: Any) -> None:
        was_lost = self.machine.state.network is Network.UNREACHABLE
        self.machine.heartbeat_ok(reply)
        if was_lost and self.stream is not None:
            # The server is back: the event stream need not sit out its backoff (up to 30 s).
            self.stream.reconnect_now()

    def _open_team_view(self, client: ApiClient, result: LoginResult) -> None:
        """A team admin without an agent seat: the team view alone."""
        self._show_team_window(client, result, alone=True)
        self.login_window.hide()
        self._start_sip(result)

    def open_team_view(self) -> None:
        """A team admin with a seat: the team view beside it (same session, same phone)."""
        if self.client is not None and self._last_result is not None:
            self._show_team_window(self.client, self._last_result, alone=False)

    def _show_team_window(self, client: ApiClient, result: LoginResult, *, alone: bool) -> None:
        assert result.team is not None
        for stale in (self.team_window, self._parked_team_window):
            if stale is not None and stale.team != result.team:  # another team's board
                stale.hide()
                stale.deleteLater()  # its requests in flight deliver nowhere
                if stale is self.team_window:
                    self.team_window = None
                else:
                    self._parked_team_window = None
        if self.team_window is None and self._parked_team_window is not None:
            self.team_window, self._parked_team_window = self._parked_team_window, None
        if self.team_window is None:
            from agent_desktop.ui.team_window import TeamWindow

            self.team_window = TeamWindow(client, result.team, result.pause_reasons)
            self.team_window.call_requested.connect(self.dial)
        else:
            self.team_window.client = client
            self.team_window.reasons = result.pause_reasons
        team = self.team_window
        team.set_phone(alone)  # beside a seat, the seat's window has the calls
        if alone != team.quits_app:  # closing it alone ends the app; beside a seat it closes
            team.quits_app = alone
            if alone:
                team.quit_requested.connect(self.request_quit)
            else:
                team.quit_requested.disconnect(self.request_quit)
        self.team_window.show()
        self.team_window.raise_()
        self.team_window.load_board()

    # ----------------------------------------------------------------- SIP

    def _start_sip(self, result: LoginResult) -> None:
        agent = result.agent
        # An agent's phone; for a team admin without a seat, their own phone (listen/whisper).
        device = agent.device if agent else result.admin_device
        if device is not None and device.sip is not None:
            logs.remember_secret(device.sip.password)
        if device is None or device.kind != "internal" or device.sip is None:
            # External phone or none: nothing to register (the chip shows the device note).
            self.machine.sip_registration("unregistered", tr("no SIP device"))
            return
        if self.engine is None:
            self.machine.sip_registration(
                "failed", self._sip_unavailable or tr("the SIP engine is not available"))
            return
        from agent_desktop.sip import AccountSettings, SipError

        registrar = self._registrar or default_registrar(self.client.base_url
                                                         if self.client else "")
        if self.account is not None and self.account.settings.username == device.sip.username:
            self._follow_registration(self.account)  # e.g. registered before the login
            self.account.register()
            return
        self._remove_account()
        try:
            self.account = self.engine.add_account(self._with_transport(AccountSettings(
                device.sip.username, device.sip.password, registrar,
                display_name=agent.name if agent else "")))
        except SipError as exc:
            log.warning("SIP account: %s", exc)
            self.machine.sip_registration("failed", str(exc))
            return
        self._follow_registration(self.account)
        self._on_registration(self.account.state, self.account.code, self.account.reason)

    def _follow_registration(self, account: Any) -> None:
        if self._followed is not account:
            self._unfollow_registration()
            account.registration_changed.connect(self._on_registration)
            self._followed = account

    def _unfollow_registration(self) -> None:
        """A removed account unregisters in the background (SipEngine.remove_account): its
        last states are not this seat's any more."""
        if self._followed is not None:
            self._followed.registration_changed.disconnect(self._on_registration)
            self._followed = None

    def _with_transport(self, settings: Any) -> Any:
        """The account settings with IT's SIP transport, if any."""
        if not self.sip_transport:
            return settings
        from agent_desktop.sip import Transport

        return replace(settings, transport=Transport(self.sip_transport))

    def _on_registration(self, state: Any, code: int, reason: str) -> None:
        value = getattr(state, "value", str(state))
        if value == "unregistering":
            value = "unregistered"
        text = f"{code} {reason}".strip() if code else reason
        if (value == "failed" and self.account is not None
                and getattr(self.account, "tls_certificate_rejected", False)):
            # pjsip says 503 (as if the PBX were down); the PBX answered, its certificate failed
            text = tr("the phone system's security certificate is not trusted ({registrar})"
                      ).format(registrar=self.account.settings.registrar)
        elif value == "failed" and code in (408, 0, 503) and self.account is not None:
            text = tr("no answer from {registrar}").format(
                registrar=self.account.settings.registrar) + (f" ({code})" if code else "")
        if value == "registering" and self._sip_failure:
            # A retry after a failure: keep saying it failed (and that we retry) rather than
            # flicker to "registering" for the 32 s a REGISTER takes to time out.
            value, text = "failed", tr("{why}; retrying").format(why=self._sip_failure)
        elif value == "failed":
            self._sip_failure = text
        else:
            self._sip_failure = ""
        self.machine.sip_registration(value, text)
        if value == "registered":
            # Registered: calls may come; the bridge is made now, after the login's own work.
            QTimer.singleShot(0, self, self.prepare_bridge)
        if value == "registered" and self._pending_dial:
            number, self._pending_dial = self._pending_dial, ""
            QTimer.singleShot(0, self, lambda: self.handle_request({"dial": number}))

    def _remove_account(self) -> None:
        self._unfollow_registration()
        if self.account is not None and self.engine is not None:
            try:
                self.engine.remove_account(self.account)
            except Exception:  # shutting down anyway
                log.debug("remove_account failed", exc_info=True)
        self.account = None

    # ----------------------------------------------------------------- calls

    def on_incoming_call(self, call: Any) -> None:
        """A call rings: call panel, incoming-call window on top, history, screen pop."""
        self.ensure_bridge()  # before its media is up (made after registering, normally)
        host = self._call_host()
        if host is None:
            return
        if host is self.team_window and call.auto_answer_after is not None:
            # A team admin's phone: the listen / whisper / barge call (answered by the
            # engine at once, as its Call-Info asks). Its end ends the spy mode.
            call.ended.connect(lambda *_: self._spy_call_ended())
            return
        from agent_desktop.history import INCOMING
        from agent_desktop.ui.incoming import IncomingCallWindow

        ctx = self._track(call, INCOMING)
        info = self._take_ring_info(call.caller_id.number)
        ctx.info = info
        host.set_call(call)
        host.show()
        host.raise_()
        host.activateWindow()
        ring = IncomingCallWindow(call, info)
        ring.failed.connect(host.show_error)
        ring.closed.connect(lambda key=call.key: self._ring_window_closed(key))
        ctx.window = ring
        if info is not None:
            self._apply_ring_info(ctx, info)
        ring.present()  # after the main window, so the ring window has the keyboard
        call.state_changed.connect(lambda _s: self._update_ringer())
        call.state_changed.connect(lambda _s: self._update_tray_calls())
        self._update_tray_calls()
        if self.tray is not None and not host.isActiveWindow():
            self.tray.notify_call(ring.caller_number, info.queue if info else "")
        s = self.settings
        if s.auto_answer and call.auto_answer_after is None:  # the header's delay wins
            QTimer.singleShot(s.auto_answer_delay_s * 1000, call,
                              lambda c=call: self._auto_answer(c))
        if not (s.auto_answer and s.auto_answer_delay_s == 0):
            self._update_ringer()
        if info is not None or self.screen_pop is None:
            self._pop_ring(call.key)
        else:  # the server's `call.ringing` (with the queue) may still be on its way
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(lambda key=call.key: self._pop_ring(key))
            timer.start(RING_INFO_WAIT_MS)
            ctx.pop_timer = timer

    def _auto_answer(self, call: Any) -> None:
        if getattr(call.state, "value", "") != "ringing_in":
            return
        from agent_desktop.sip import SipError

        try:
            call.answer()
        except SipError as exc:
            log.warning("auto-answer: %s", exc)

    def _update_ringer(self) -> None:
        """Ring while any call rings in (on the ringer device), quiet otherwise."""
        if self.bridge is None:
            return
        ringing = any(getattr(c.call.state, "value", "") == "ringing_in"
                      for c in self.calls.values())
        if ringing and not self.bridge.is_ringing():
            self.bridge.start_ringing()
        elif not ringing and self.bridge.is_ringing():
            self.bridge.stop_ringing()

    # ----------------------------------------------------------------- desktop

    def handle_request(self, req: dict[str, Any]) -> str:
        """A request from a second launch, a link, or the tray: dial / answer / hangup / show."""
        log.info("request: %s", {k: v for k, v in req.items()})
        host = self._call_host()
        if "dial" in req:
            number = str(req["dial"])
            if self.account is None or host is None:
                self._pending_dial = number  # dialled once the phone is registered
                self.show_front()
                return "pending"
            host.number_edit.setText(number)
            self.dial(number)
        elif req.get("answer"):
            ringing = [c.call for c in self.calls.values()
                       if getattr(c.call.state, "value", "") == "ringing_in"]
            if ringing:
                ringing[0].answer()
        elif req.get("hangup") and host is not None:
            host.call_panel.hangup()
        self.show_front()
        return "ok"

    def show_front(self) -> None:
        """The window the agent needs now: main, team, or the login."""
        for w in (self.window, self.team_window):
            if w is not None and (w.isVisible() or w.isMinimized()):
                w.showNormal()
                w.raise_()
                w.activateWindow()
                return
        target = self.window or self.team_window or self.login_window
        target.show()
        target.raise_()
        target.activateWindow()

    def attach_tray(self, tray: Tray) -> None:
        self.tray = tray
        tray.show_requested.connect(self.show_front)
        tray.quit_requested.connect(self.request_quit)
        tray.answer_requested.connect(lambda: self.handle_request({"answer": True}))
        tray.hangup_requested.connect(lambda: self.handle_request({"hangup": True}))
        tray.pause_requested.connect(lambda code: self.window.pause(code)
                                     if self.window is not None else None)
        tray.unpause_requested.connect(lambda: self.window.unpause()
                                       if self.window is not None else None)
        tray.checkin_requested.connect(lambda: self.window.checkin_all.click()
                                       if self.window is not None else None)
        tray.checkout_requested.connect(lambda: self.window.checkout_all.click()
                                        if self.window is not None else None)
        self.machine.changed.connect(lambda _o, new, _r: tray.update_state(new))
        tray.update_state(self.machine.state)

    def _update_tray_calls(self) -> None:
        if self.tray is None:
            return
        states = [getattr(c.call.state, "value", "") for c in self.calls.values()]
        self.tray.set_call_actions("ringing_in" in states,
                                   any(st not in ("disconnected", "") for st in states))

    # ----------------------------------------------------------------- settings

    def open_settings(self) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            self.settings_dialog.activateWindow()
            return
        from agent_desktop.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.bridge, parent=self.window)
        dialog.lock(self.provisioning.locked, provisioning.locked_tooltip())
        dialog.diagnostics_requested.connect(self.collect_diagnostics)
        dialog.applied.connect(self.apply_settings)
        dialog.finished.connect(lambda _r: self._settings_closed())
        self.settings_dialog = dialog
        dialog.open()

    def _settings_closed(self) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
            self.settings_dialog = None

    def apply_settings(self, s: AppSettings) -> None:
        """Use the settings now, and save them (off the GUI thread: a disk write)."""
        s = provisioning.enforce(s, self.provisioning)  # what IT locked stays
        self._use_settings(s)
        store, prov = self._settings_store, self.provisioning
        if store is None:
            return
        path, fmt = store.fileName(), store.format()

        def save() -> None:
            provisioning.save_user_settings(s, QSettings(path, fmt), prov)
            from agent_desktop import autostart

            if s.start_at_login != autostart.is_enabled() or s.start_at_login:
                autostart.set_enabled(s.start_at_login, minimized=s.start_minimized)

        run_in_worker(save, on_success=lambda _: None,
                      on_failure=lambda exc: self.window.show_info(
                          tr("Settings could not be saved: {why}").format(why=exc))
                      if self.window is not None else None, parent=self)

    def _use_settings(self, s: AppSettings) -> None:
        qapp = QCoreApplication.instance()
        if s.language != self.settings.language and qapp is not None:
            install_translator(qapp, s.language)  # new windows and dialogs; the rest on restart
        self.settings = s
        self._configure_bridge(s)
        if self.screen_pop is not None:
            self.screen_pop.settings = s.screen_pop
        apply_theme(s.theme)

    def use_provisioning(self, prov: provisioning.Provisioning) -> None:
        """IT's settings (again, e.g. fetched from the provisioning URL): locks and values."""
        self.provisioning = prov
        provisioning.lock_login_window(self.login_window, prov)
        self.hotkeys = prov.hotkeys
        if self._settings_store is not None:
            self.hotkeys = provisioning.effective_hotkeys(self._settings_store, prov)
            effective = provisioning.effective_settings(self._settings_store, prov)
            if effective != self.settings:
                self._use_settings(effective)
        if prov.sip_transport:
            self.sip_transport = prov.sip_transport
        if prov.sip_registrar and (prov.is_locked("sip.registrar") or not self._registrar):
            self._registrar = prov.sip_registrar
        self._apply_hotkeys()

    def _apply_hotkeys(self) -> None:
        """IT's key sequences (the agent's on top, unless locked) on the window's shortcuts."""
        if self.window is None or not self.hotkeys:
            return
        for old in getattr(self.window, "shortcuts", {}).values():
            old.setEnabled(False)
            old.deleteLater()
        self.window.install_shortcuts(dict(self.hotkeys))

    def collect_diagnostics(self) -> None:
        """Settings → Collect diagnostics: a zip off the GUI thread; the dialog says where."""
        from agent_desktop import diagnostics

        server = self.client.base_url if self.client else self.login_window.form().server
        snap = diagnostics.take_snapshot(
            server, self._registrar or default_registrar(server), user=self._settings_store,
            provisioning=self.provisioning, effective=self.settings)
        diagnostics.collect_from_gui(
            self.settings_dialog, snap, parent=self,
            on_done=lambda path: self.window.show_info(
                tr("Diagnostics saved to {path}").format(path=path))
            if self.window is not None else None)

    def _call_host(self) -> Any:
        """The window that shows this login's calls: the seat's; for a team admin without a
        seat, the team view (its phone); None before a login."""
        if self.window is not None:
            return self.window
        if self.team_window is not None and self.team_window.quits_app:
            return self.team_window
        return None

    def place_call(self, number: str) -> Any:
        """Call `number` and track it in the history; None (and the reason shown) if not."""
        host = self._call_host()
        if host is None:
            return None
        if self.account is None:  # (the seat's window does not even ask then)
            host.show_info(tr("The phone is not registered."))
            return None
        from agent_desktop.sip import SipError

        self.ensure_bridge()  # (already made, unless this is the very first moment)
        try:
            call = self.account.make_call(number)
        except SipError as exc:
            log.warning("dial failed: %s", exc)
            host.show_error(exc)
            return None
        from agent_desktop.history import OUTGOING

        self._track(call, OUTGOING, number=number)
        return call

    def _spy_call_ended(self) -> None:
        if self.team_window is not None:
            self.team_window.spy_ended()

    def dial(self, number: str) -> None:
        call = self.place_call(number)
        host = self._call_host()
        if call is not None and host is not None:
            host.set_call(call)

    def _track(self, call: Any, direction: str, number: str = "") -> CallContext:
        ctx = CallContext(call)
        self.calls[call.key] = ctx
        from agent_desktop.history import INCOMING, CallTracker

        ctx.tracker = CallTracker(call, direction, number=number, parent=self)
        ctx.tracker.finished.connect(lambda entry, key=call.key: self._call_finished(key, entry))
        if direction == INCOMING:
            call.state_changed.connect(
                lambda state, key=call.key: self._incoming_state(key, state))
        return ctx

    def _incoming_state(self, key: str, state: Any) -> None:
        ctx = self.calls.get(key)
        if ctx is None or getattr(state, "value", state) != "confirmed":
            return
        if self.screen_pop is not None:
            self.screen_pop.answered(key, self._pop_values(ctx))

    def _call_finished(self, key: str, entry: HistoryEntry) -> None:
        ctx = self.calls.pop(key, None)
        if ctx is not None:
            if ctx.pop_timer is not None:
                ctx.pop_timer.stop()
                ctx.pop_timer.deleteLater()
            if ctx.window is not None:
                ctx.window.close()
            if ctx.tracker is not None:
                ctx.tracker.deleteLater()
        if self.history is not None:
            self.history.add(entry, on_error=lambda exc: log.warning(
                "call history: could not record a call: %s", exc))

    def _ring_window_closed(self, key: str) -> None:
        ctx = self.calls.get(key)
        if ctx is not None and ctx.window is not None:
            ctx.window.deleteLater()
            ctx.window = None

    def _take_ring_info(self, number: str) -> RingInfo | None:
        """The server's recent `call.ringing` for this caller, if it came first."""
        if self._last_ring is None:
            return None
        info, at = self._last_ring
        if self._clock() - at > RING_INFO_MAX_AGE_S or not info.matches(number):
            return None
        self._last_ring = None
        return info

    def _apply_ring_info(self, ctx: CallContext, info: RingInfo) -> None:
        ctx.info = info
        if ctx.window is not None:
            ctx.window.set_ring_info(info)
        if ctx.tracker is not None:
            ctx.tracker.queue = info.queue
            if info.caller_name and not ctx.call.caller_id.name:
                ctx.tracker.name = info.caller_name

    def _pop_values(self, ctx: CallContext) -> dict[str, str]:
        from agent_desktop.ui.incoming import RingInfo

        info = ctx.info or RingInfo()
        cid = ctx.call.caller_id
        return {"caller_id": cid.number or info.caller_id,
                "caller_name": info.caller_name or cid.name, "queue": info.queue,
                "call_id": info.call_id, "agent": self._agent_number}

    def _pop_ring(self, key: str) -> None:
        ctx = self.calls.get(key)
        if ctx is None or self.screen_pop is None:
            return
        if ctx.pop_timer is not None:
            ctx.pop_timer.stop()
        self.screen_pop.ringing(key, self._pop_values(ctx))

    def _on_call_event(self, etype: str, data: dict[str, Any]) -> None:
        from agent_desktop.ui.incoming import RingInfo

        info = RingInfo.from_event(data)
        if etype == "call.ringing":
            ringing = [c for c in self.calls.values()
                       if c.info is None and c.window is not None]
            match = next((c for c in ringing if info.matches(c.call.caller_id.number)), None)
            if match is not None:  # the INVITE came first
                self._apply_ring_info(match, info)
                self._pop_ring(match.call.key)
            else:
                self._last_ring = (info, self._clock())
            if self.account is None and self.screen_pop is not None:
                # No softphone here (external device): the server's event is the ring.
                self.screen_pop.ringing(f"server-{info.call_id}", self._event_values(info))
        elif etype == "call.answered":
            if self.account is None and self.screen_pop is not None:
                self.screen_pop.answered(f"server-{info.call_id}", self._event_values(info))
        elif etype == "call.ended":
            self._last_ring = None

    def _event_values(self, info: RingInfo) -> dict[str, str]:
        return {"caller_id": info.caller_id, "caller_name": info.caller_name,
                "queue": info.queue, "call_id": info.call_id, "agent": self._agent_number}

    # ----------------------------------------------------------------- events

    def _on_event(self, etype: str, data: dict[str, Any], event_id: int) -> None:
        if self.team_window is not None:
            self.team_window.on_event(etype, data, event_id)
        self.machine.on_event(etype, data, event_id)
        # A team admin's stream carries the whole team's agent and call events (the team view
        # has them above): only this login's agent's ring, pop up or refresh the seat.
        if not self.machine.is_own_event(etype, data):
            return
        if etype.startswith("call."):
            self._on_call_event(etype, data)
        if etype.startswith("agent.") and self.window is not None:
            self.window.refresh()

    def refetch(self) -> None:
        if self.window is not None:  # a login without a seat has none (an earlier one's is
            self.window.refresh()      # parked: its client's "not logged in" would end ours)
        if self.team_window is not None:
            self.team_window.load_board()

    def apply_me(self, me: Me) -> None:
        if self.window is not None:
            self.window.apply_me(me)

    def _session_over(self, code: str, detail: str) -> None:
        # The first word on it is the reason (revoked, expired, replaced …); what a request
        # still in flight says afterwards ("unauthenticated": the token is gone) is not.
        if self.machine.state.session is not Session.ENDED:
            self.machine.session_ended(code, detail)
        self._stop_session_workers()
        if self.client is not None:
            self.client.forget_token()

    def relogin(self) -> None:
        """One click: the same form with the stored password (or ask for it)."""
        form = self.last_form
        if form is None:
            self.login_window.show()
            return
        self.login_window.prefill(server=form.server, team=form.team, agent=form.agent,
                                  password=form.password, remember=form.remember)
        self.login_window.show()
        self.login_window.raise_()
        self.login(form)

    # ----------------------------------------------------------------- quit

    def _stop_session_workers(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.stream is not None:
            self.stream.stop()

    def _drop_session(self) -> None:
        self._stop_session_workers()
        if self.heartbeat is not None:
            self.heartbeat.deleteLater()
        if self.stream is not None:
            self.stream.dispose()  # deleted when its reader is done; nothing waits for it
        self.heartbeat = None
        self.stream = None

    def request_quit(self) -> None:
        """Log out (best effort, off the GUI thread, bounded), then shut down and quit."""
        if self._quitting:
            return
        self._quitting = True
        self._stop_session_workers()
        client = self.client
        if client is not None and client.logged_in:
            log.info("logging out before quitting")
            run_in_worker(client.logout, on_success=lambda _: self.finish(),
                          on_failure=lambda exc: self.finish(), parent=self)
            QTimer.singleShot(LOGOUT_WAIT_MS, self, self.finish)
        else:
            QTimer.singleShot(0, self, self.finish)

    def finish(self) -> None:
        """Staged shutdown of the engine before the QApplication goes away."""
        if self._finished:
            return
        self._finished = True
        self._engine_factory = None
        self._stop_session_workers()
        if self.stream is not None:
            # Quitting: the one place that waits (bounded) for the reader thread, so that it
            # never outlives this object or the interpreter.
            self.stream.stop(timeout_s=2.0)
        self._bridge_factory = None
        if self._bridge is not None:
            try:
                self._bridge.shutdown()
            except Exception:
                log.exception("audio bridge shutdown")
        if self.engine is not None:
            try:
                self.engine.shutdown()
            except Exception:
                log.exception("SIP engine shutdown")
        self.account = None
        for w in (self.window, self.team_window, self.login_window, self._parked_window,
                  self._parked_team_window):
            if w is not None:
                w.hide()
        self._quit_app()


# --------------------------------------------------------------------------- self-test


def loaded_libcrypto() -> list[str]:
    """The OpenSSL libcrypto files this process has loaded (Linux; [] elsewhere): pjsua2 needs
    its own for SHA-256 digest auth (design note pjsua2-qt.md, "The wheels")."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    names = {Path(line.split()[-1]).name for line in maps.splitlines()
             if "/libcrypto" in line.split()[-1]}
    return sorted(names)


def self_test() -> tuple[dict[str, Any], bool]:
    """Everything the app needs, checked without opening a window."""
    import platform

    report: dict[str, Any] = {"app": __version__, "python": platform.python_version(),
                              "platform": platform.platform()}
    problems: list[str] = []
    warnings: list[str] = []
    import PySide6
    from PySide6 import QtCore

    report["pyside6"] = PySide6.__version__
    report["qt"] = QtCore.qVersion()
    try:
        import pjsua2

        # `import pjsua2` alone does not load the bindings (they load lazily): ask for a class.
        report["pjsua2"] = {"ok": callable(pjsua2.Endpoint),
                            "version": getattr(pjsua2, "__version__", "unknown"),
                            "openssl": loaded_libcrypto()}
    except Exception as exc:  # ImportError or a broken shared library
        report["pjsua2"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        problems.append("pjsua2 is not importable")
    app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    try:
        from PySide6.QtMultimedia import QMediaDevices

        outs = [d.description() for d in QMediaDevices.audioOutputs()]
        ins = [d.description() for d in QMediaDevices.audioInputs()]
        default_out = QMediaDevices.defaultAudioOutput().description()
        default_in = QMediaDevices.defaultAudioInput().description()
        report["audio"] = {"ok": True, "backend": qt_audio_backend(), "outputs": outs,
                           "inputs": ins, "default_output": default_out,
                           "default_input": default_in}
        if not outs or not ins:
            warnings.append("no audio input or output device: calls will be silent")
    except Exception as exc:
        report["audio"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        problems.append("Qt Multimedia is not usable")
    del app
    try:
        store = CredentialStore()
        name = store.backend_name
        report["keyring"] = {"ok": True, "backend": name, "remembers": name != "memory"}
        if name == "memory":
            warnings.append("no keyring backend: passwords won't be remembered")
    except Exception as exc:
        report["keyring"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        problems.append("keyring is not usable")
    report["problems"] = problems
    report["warnings"] = warnings
    report["ok"] = not problems
    return report, not problems


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="agent-desktop", description="Call-center agent desktop")
    p.add_argument("--version", action="version", version=f"agent-desktop {__version__}")
    p.add_argument("--self-test", action="store_true",
                   help="print a JSON report of versions, SIP, audio and keyring; exit 0/1")
    p.add_argument("--collect-diagnostics", metavar="PATH", default=None,
                   help="write a diagnostics zip (logs, SIP trace, audio, network, versions, "
                        "settings; no secrets) to PATH (a file or a folder) and exit")
    p.add_argument("--server", default=None,
                   help=f"call-center server URL (default: IT's setting, else {DEFAULT_SERVER}"
                        "; ignored when IT locked it)")
    p.add_argument("--team", default="", help="team name to prefill (ignored when IT locked it)")
    p.add_argument("--agent", default="", help="agent number to prefill")
    p.add_argument("--sip-registrar", default=None,
                   help="SIP registrar host:port (default: the server's host, port 5060)")
    p.add_argument("--sip-port", type=int, default=0, help="local SIP port (0: any)")
    p.add_argument("--history-file", default=None,
                   help="call-history SQLite file (default: in the user's data directory)")
    p.add_argument("--screen-pop-url", default=None,
                   help="screen-pop URL template, e.g. "
                        "'https://crm.example/search?phone={caller_id}&queue={queue}' "
                        "(default: the saved setting)")
    p.add_argument("--screen-pop-on", choices=[w.value for w in PopWhen], default=None,
                   help="open the screen-pop URL when a call rings, when it is answered, "
                        "or never (default: the saved setting, else off)")
    p.add_argument("--recordings-dir", default=None,
                   help="where call recordings go (default: in the user's data directory)")
    p.add_argument("--dial", metavar="NUMBER", default=None,
                   help="dial NUMBER (or a tel:/sip: link) in the running app, or after login")
    p.add_argument("--answer", action="store_true", help="answer the ringing call")
    p.add_argument("--hangup", action="store_true", help="hang up the current call")
    p.add_argument("--minimized", action="store_true",
                   help="start in the tray (the login window opens from the tray icon)")
    p.add_argument("links", nargs="*", metavar="LINK",
                   help="tel: or sip: links to dial (as the desktop's link handler)")
    p.add_argument("--smoke-login", action="store_true",
                   help="no window: log in with --server/--team/--agent (the password from "
                        f"${SMOKE_PASSWORD_ENV}), wait for the session and the SIP "
                        "registration, print a JSON report, log out; exit 0/1")
    p.add_argument("--smoke-timeout", type=float, default=30.0,
                   help="--smoke-login: seconds to wait for the session and the registration")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    # Before any thread or audio stream exists: the sound server's buffering (setenv is not
    # thread-safe, and libpulse reads it when each stream connects).
    audio_latency = apply_low_latency_audio_env(os.environ)
    args = parse_args(argv)
    level = getattr(logging, str(args.log_level).upper(), logging.INFO)
    logs.setup_logging(level if isinstance(level, int) else logging.INFO)
    install_qt_logging()
    if audio_latency:
        log.info("audio: sound-server latency %s", audio_latency)
    if args.collect_diagnostics:
        from agent_desktop import diagnostics

        return diagnostics.collect_cli(args.collect_diagnostics, args.server, args.sip_registrar)
    if args.self_test:
        report, ok = self_test()
        print(json.dumps(report, indent=2))
        return 0 if ok else 1
    if args.smoke_login:
        return run_smoke_login(args)
    return run_gui(args)


def build_seat(args: argparse.Namespace, *, quit_app: Callable[[], None],
               settings: QSettings | None = None, defer_engine: bool = False) -> AgentApp:
    """Build and wire everything for a QApplication that already exists: SIP engine (or the
    reason it is missing), credentials, history, screen pop, login window; the audio bridge
    and the history database come when first needed (after the login).
    `defer_engine`: the caller starts the engine (`AgentApp.ensure_engine`) once the login
    window is on screen, or the login does. The one production wiring; the end-to-end tests
    use it too."""
    prov = provisioning.load_system()  # local file (+ the URL's cached copy): no network
    settings_store = settings or QSettings("agent-desktop", "agent-desktop")
    app_settings = provisioning.effective_settings(settings_store, prov)
    qapp = QCoreApplication.instance()
    if qapp is not None:  # before the first tr(): every text comes in the user's language
        install_translator(qapp, app_settings.language)
    machine = AgentStateMachine()
    store = CredentialStore()

    def make_engine() -> Any:
        from agent_desktop.sip import EngineConfig, SipEngine, Srtp, Transport

        config = EngineConfig(port=args.sip_port)
        if prov.sip_transport == "tls":
            config = replace(config, transports=(*config.transports, Transport.TLS))
            # SDES puts the media keys in the SDP: only over TLS, or anyone on the path
            # could read them (and the call would look protected).
            srtp = {"optional": Srtp.OPTIONAL, "mandatory": Srtp.MANDATORY}
            config = replace(config, srtp=srtp.get(prov.sip_srtp, Srtp.DISABLED))
        elif prov.sip_srtp != "off":
            log.warning("sip.srtp=%s ignored: SRTP keys travel in the SIP messages, so it needs "
                        "sip.transport tls", prov.sip_srtp)
        engine = SipEngine(config)  # the audio bridge joins after the login (ensure_bridge)
        engine.start()
        return engine

    saved = app_settings.screen_pop
    template = saved.template if args.screen_pop_url is None else args.screen_pop_url
    when = saved.when if args.screen_pop_on is None else PopWhen(args.screen_pop_on)
    if args.screen_pop_url and args.screen_pop_on is None and when is PopWhen.OFF:
        when = PopWhen.RING  # a template given on the command line is meant to be used
    screen_pop = ScreenPop(ScreenPopSettings(template, when))
    apply_theme(app_settings.theme)

    def make_history() -> HistoryStore:
        from agent_desktop.history import HistoryStore

        return HistoryStore(args.history_file)
    recordings = Path(args.recordings_dir) if args.recordings_dir else Path(
        QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    ) / "recordings"

    login = LoginWindow()
    login.prefill(server=provisioning.resolve(args.server, "server_url", prov, DEFAULT_SERVER),
                  team=provisioning.resolve(args.team, "team", prov), agent=args.agent)
    seat = AgentApp(
        login_window=login, machine=machine, store=store,
        client_factory=make_client,
        engine_factory=make_engine, bridge_factory=make_bridge,
        sip_registrar=provisioning.resolve(args.sip_registrar, "sip.registrar", prov) or None,
        quit_app=quit_app, history_factory=make_history, screen_pop=screen_pop,
        recordings_dir=recordings,
        settings=app_settings, settings_store=settings_store,
    )
    if not defer_engine:
        seat.ensure_engine()
    seat.use_provisioning(prov)
    if prov.provisioning_url:  # fetch it now, off the GUI thread; the cache until then
        run_in_worker(provisioning.refresh, on_success=seat.use_provisioning,
                      on_failure=lambda exc: log.warning("provisioning refresh: %s", exc),
                      parent=seat)
    return seat


def load_engine_modules() -> None:
    import importlib

    importlib.import_module("agent_desktop.sip")
    settle_heap()


def make_bridge() -> Any:
    from agent_desktop.sip.audio import AudioBridge

    return AudioBridge()


@dataclass
class Gui:
    """What `build_gui` made: the application, the seat and its windows (not yet shown)."""

    app: Any  # QApplication
    seat: AgentApp
    login: LoginWindow
    engine: Any
    tick: QTimer
    single: Any  # instance.SingleInstance
    tray: Any  # ui.tray.Tray | None
    request: dict[str, Any] | None  # what this launch asked for (a link, --dial …)


#: Benchmarks set this: "1" prints READY_MARKER on stdout once the login window is shown and the
#: event loop first goes idle; "exit" also quits then (bench/cold_start.py).
BENCH_READY_ENV = "AGENT_DESKTOP_BENCH_READY"
READY_MARKER = "agent-desktop: ready"
ENGINE_MARKER = "agent-desktop: engine started"


def when_idle_and_shown(window: QWidget, callback: Callable[[], None]) -> None:
    """Call `callback` once: the first time the event loop is about to block (nothing left to
    do) while `window` is exposed on screen."""
    from PySide6.QtCore import QAbstractEventDispatcher

    dispatcher = QAbstractEventDispatcher.instance()
    assert dispatcher is not None, "needs a QCoreApplication"
    fired = False

    def check() -> None:
        nonlocal fired
        handle = window.windowHandle()
        if fired or handle is None or not handle.isExposed():
            return
        fired = True
        dispatcher.aboutToBlock.disconnect(check)
        callback()

    dispatcher.aboutToBlock.connect(check)


def build_gui(args: argparse.Namespace) -> Gui | None:
    """Engine, session layer, windows and tray, wired; the login window is not shown yet.
    None when another app of this user is running and took this launch's request."""
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    from agent_desktop import instance
    from agent_desktop.gui_gc import GuiThreadCollector

    global _settle_heap
    app = QApplication(sys.argv[:1])
    _settle_heap = True
    GuiThreadCollector(app)  # Qt objects in collected cycles die on the GUI thread
    app.setApplicationName("Agent Desktop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("agent-desktop")
    icon = resources_dir() / "agent-desktop.png"
    if icon.is_file():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    app.setQuitOnLastWindowClosed(False)  # quitting goes through AgentApp.request_quit
    request = instance.request_from_args(args.dial, args.answer, args.hangup, args.links)
    single = instance.SingleInstance()
    if not single.claim():
        if instance.send_to_running(request):
            return None  # the running app does it
        log.warning("another app holds the instance socket but does not answer; starting")
    seat = build_seat(args, quit_app=app.quit, defer_engine=True)
    single.request.connect(seat.handle_request)
    tray: Tray | None = None
    if QSystemTrayIcon.isSystemTrayAvailable():
        from agent_desktop.ui import tray as tray_ui

        tray = tray_ui.Tray()
        seat.attach_tray(tray)
        log.info("tray icon shown: %s", tray.show())
    else:
        log.info("no system tray on this desktop: no tray icon")

    def start_engine() -> None:
        seat.ensure_engine()
        if os.environ.get(BENCH_READY_ENV):
            print(ENGINE_MARKER, flush=True)

    def shown() -> None:
        # PySide6 reads the source of every module that imports it (shibokensupport's
        # feature check, through linecache): ~3 MB of source lines kept for nothing.
        import linecache

        linecache.clearcache()
        settle_heap()
        # The login window is on screen first; then the phone engine: its modules (pjsua2,
        # QtNetwork: ~30 ms) load on a worker, the engine starts on the GUI thread (~4 ms).
        # (The floor of bench/cold_start.py starts its endpoint before its window; the bench
        # reports both moments.)
        QTimer.singleShot(0, seat, lambda: run_in_worker(
            load_engine_modules, on_success=lambda _: start_engine(),
            on_failure=lambda _exc: start_engine(), parent=seat))
        if seat.login_window.remember_box.isChecked():  # prefilled: say now if it can't be
            seat.probe_store()

    when_idle_and_shown(seat.login_window, shown)

    # Ctrl+C in the terminal quits cleanly; a timer lets Python see the signal.
    signal.signal(signal.SIGINT, lambda *_: seat.request_quit())
    tick = QTimer()
    tick.start(250)
    tick.timeout.connect(lambda: None)
    return Gui(app=app, seat=seat, login=seat.login_window, engine=seat.engine, tick=tick,
               single=single, tray=tray, request=request)


def run_gui(args: argparse.Namespace) -> int:
    gui = build_gui(args)
    if gui is None:
        return 0
    app, seat, login = gui.app, gui.seat, gui.login
    bench = os.environ.get(BENCH_READY_ENV, "")
    if bench:
        def ready() -> None:
            print(READY_MARKER, flush=True)
            if bench == "exit":
                seat.request_quit()

        when_idle_and_shown(login, ready)
    minimized = args.minimized or seat.settings.start_minimized
    if minimized and gui.tray is not None:
        log.info("started in the tray")
    elif minimized:
        login.showMinimized()
    else:
        login.show()
    if gui.request is not None:
        seat.handle_request(gui.request)  # e.g. a link that started the app: after login
    rc = app.exec()
    gui.single.close()
    seat.finish()  # idempotent: the engine is down before the QApplication goes
    log.info("agent desktop exits (%s)", rc)
    return int(rc)


def run_smoke_login(args: argparse.Namespace) -> int:
    """`--smoke-login`: the real login flow (build_seat + AgentApp.login) without a window;
    done when the session is active and the phone registered (or not, by the deadline).
    Settings and history go to a temporary folder; the password is never remembered."""
    from PySide6.QtWidgets import QApplication

    from agent_desktop.session.state import AgentState, Session, Sip

    report: dict[str, Any] = {"ok": False, "server": args.server, "team": args.team,
                              "agent": args.agent}
    password = os.environ.get(SMOKE_PASSWORD_ENV, "")
    if not (args.agent and password):
        report["error"] = f"--agent and ${SMOKE_PASSWORD_ENV} are required"
        print(json.dumps(report))
        return 2
    import tempfile

    scratch = tempfile.TemporaryDirectory(prefix="agent-desktop-smoke-")
    if args.history_file is None:
        args.history_file = str(Path(scratch.name) / "history.sqlite3")
    if args.recordings_dir is None:
        args.recordings_dir = str(Path(scratch.name) / "recordings")
    # stdout is for the report: what PJSIP prints there before its log goes to `logging` (and
    # anything else written to file descriptor 1) goes to stderr meanwhile.
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    app = QApplication(sys.argv[:1])
    settings = QSettings(str(Path(scratch.name) / "settings.ini"), QSettings.Format.IniFormat)
    seat = build_seat(args, quit_app=app.quit, settings=settings)
    prefilled = seat.login_window.form()  # --server/--team, or IT's (locked: always IT's)
    report.update(server=prefilled.server, team=prefilled.team)
    started = time.monotonic()

    def done(error: str = "") -> None:
        if "elapsed_s" in report:
            return
        state = seat.machine.state
        report.update(elapsed_s=round(time.monotonic() - started, 3),
                      session=state.session.value, sip=state.sip.value,
                      sip_reason=state.sip_reason, session_id=state.session_id)
        if error:
            report["error"] = error
            seat.request_quit()
            return
        client = seat.client
        assert client is not None

        def logged_out(exc: BaseException | None = None) -> None:
            report["logged_out"] = exc is None
            if exc is not None:
                report["error"] = f"logout: {getattr(exc, 'code', type(exc).__name__)}"
            report["ok"] = exc is None
            seat.request_quit()

        run_in_worker(client.logout, on_success=lambda _: logged_out(),
                      on_failure=logged_out, parent=seat)

    def on_change(_old: AgentState, new: AgentState, reason: str) -> None:
        if new.session is Session.ACTIVE and new.sip is Sip.REGISTERED:
            done()
        elif new.session is Session.ENDED or reason.startswith("login failed"):
            done(reason)

    seat.machine.changed.connect(on_change)
    QTimer.singleShot(int(args.smoke_timeout * 1000), seat,
                      lambda: done(f"timeout after {args.smoke_timeout:g} s"))
    QTimer.singleShot(0, seat, lambda: seat.login(LoginForm(
        server=prefilled.server, team=prefilled.team, agent=args.agent, password=password)))
    app.exec()
    seat.finish()
    if os.name == "posix":  # PJSIP's printf output still in C's stdout buffer: to stderr too
        import ctypes

        ctypes.CDLL(None).fflush(None)
    os.dup2(saved_stdout, 1)
    os.close(saved_stdout)
    print(json.dumps(report), flush=True)
    scratch.cleanup()
    return 0 if report["ok"] else 1
