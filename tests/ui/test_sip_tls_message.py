"""A PBX whose TLS certificate does not verify gets its own message, not "no answer".

pjsip reports such a REGISTER as 503 (as if the PBX were down); the SIP engine marks it
(`Account.tls_certificate_rejected`, proven against the sandbox Asterisk in
tests/sip/test_engine_tls.py), and the app says what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.app import AgentApp
from agent_desktop.session import errors as e
from agent_desktop.session.client import ApiClient
from agent_desktop.session.messages import user_message
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.sip import RegistrationState
from agent_desktop.ui.login import PHONE_CODES, LoginWindow
from tests.ui.fakes import no_keyring

REASON = "SSL certificate verification error (PJSIP_TLS_ECERTVERIF)"


@pytest.fixture
def app(qtbot: QtBot) -> Iterator[AgentApp]:
    login = LoginWindow()
    qtbot.addWidget(login)
    seat = AgentApp(login_window=login, machine=AgentStateMachine(), store=no_keyring(),
                    client_factory=lambda url: ApiClient(url, client_version="ui/1"),
                    terminal="ui-tls", quit_app=lambda: None)
    yield seat
    seat.account = None
    seat.finish()  # as the other seats: nothing left for the GC to tear down later


def account(rejected: bool) -> SimpleNamespace:
    return SimpleNamespace(tls_certificate_rejected=rejected,
                           settings=SimpleNamespace(registrar="pbx.example:5061"))


def test_certificate_failure_is_named_as_such(app: AgentApp) -> None:
    machine = app.machine
    app.account = account(True)
    app._on_registration(RegistrationState.FAILED, 503, REASON)
    assert machine.state.sip_reason == (
        "the phone system's security certificate is not trusted (pbx.example:5061)")
    # a real outage still reads as one
    app.account = account(False)
    app._on_registration(RegistrationState.FAILED, 503, "Service Unavailable")
    assert machine.state.sip_reason.startswith("no answer from pbx.example:5061")


def test_login_message_for_an_untrusted_phone_system() -> None:
    text = user_message(e.ApiError(e.PHONE_UNTRUSTED))
    assert "security certificate is not trusted" in text
    assert e.PHONE_UNTRUSTED in PHONE_CODES
