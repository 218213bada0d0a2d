"""Provisioning documents of any shape: applied, or refused with a ProvisioningError. Never a
crash, on SQLite and PostgreSQL (which refuses NUL bytes and over-long text)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from callcenter_server.db.engine import make_engine
from callcenter_server.provision import ProvisioningError, apply_document
from callcenter_server.security import FAST_PROFILE, Passwords

PASSWORDS = Passwords(FAST_PROFILE)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6),
                    st.floats(allow_nan=True), st.text(max_size=80),
                    st.sampled_from(["demo", "8001", "5000", "sales", "frontdesk", "supervisor",
                                     "fixed", "dynamic", "self_adapting", "static", "internal",
                                     "external", "user", "team_admin", "x" * 300, "a\x00b"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=3)),
    max_leaves=8)


def entity(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: json_values for k in keys})


teams = st.fixed_dictionaries({"name": st.sampled_from(["demo", "new", "", "n" * 70])}, optional={
    "heartbeat_interval_s": json_values, "session_timeout_s": json_values,
    "wrapup_s": json_values,
    "pause_reasons": st.one_of(json_values, st.lists(entity(["code", "label"]), max_size=3)),
    "rates": st.one_of(json_values, st.lists(entity(["prefix", "per_minute"]), max_size=3)),
    "accounts": st.lists(entity(["username", "password", "role", "display_name"]), max_size=3),
    "devices": st.lists(entity(["number", "kind", "owner", "extension", "sip_password",
                                "description"]), max_size=3),
    "groups": st.lists(entity(["name", "queue", "extension"]), max_size=3),
    "agents": st.lists(entity(["number", "name", "password", "owner", "device_mode", "device",
                               "admin_account", "groups"]), max_size=3),
})
documents = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={
        "teams": st.one_of(json_values, st.lists(teams, max_size=2)),
        "system_admins": st.one_of(json_values, st.lists(entity(["username", "password"]),
                                                         max_size=2)),
    }),
)


def test_any_document_is_applied_or_refused_cleanly(db_url: str) -> None:
    engine = make_engine(db_url, writer=True)

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(doc=documents)
    def check(doc: Any) -> None:
        with Session(engine) as db:
            try:
                apply_document(db, doc, PASSWORDS)
                db.flush()
            except ProvisioningError:
                pass
            finally:
                db.rollback()

    try:
        check()
    finally:
        engine.dispose()
