"""The real server driving a real Asterisk: fixtures shared by the PBX integration tests."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest

from callcenter_server.asterisk import AsteriskPbx, PbxOptions
from callcenter_server.service import CallCenter
from pbx.sandbox import AsteriskSandbox, SandboxError
from tests.conftest import TEST_SETTINGS
from tests.pbx_fixtures import discard, new_sandbox
from tests.support.live import LiveServer, start_live_server

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 5.0, what: str = "") -> T:
    """Poll an outside system (Asterisk's CLI) until `probe` returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or probe}")
        time.sleep(0.05)


class PbxLab:
    """An Asterisk sandbox plus the server driving it."""

    def __init__(self, box: AsteriskSandbox, server: LiveServer, pbx: AsteriskPbx) -> None:
        self.box, self.server, self.pbx = box, server, pbx

    def queue(self, name: str) -> str:
        return self.box.rx(f"queue show {name}")

    def member_line(self, queue: str, agent_id: int) -> str | None:
        needle = f"(Local/agent{agent_id}@cc-agents"
        for line in self.queue(queue).splitlines():
            if needle in line:
                return line
        return None

    def wait_member(self, queue: str, agent_id: int, present: bool = True,
                    contains: str = "", timeout: float = 5.0) -> None:
        def probe() -> bool:
            line = self.member_line(queue, agent_id)
            if not present:
                return line is None
            return line is not None and contains in line
        eventually(probe, timeout, f"agent {agent_id} {'in' if present else 'out of'} {queue}"
                   f" {contains}")


def start_box(name: str) -> AsteriskSandbox:
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        pytest.skip("the PBX sandbox needs root (chroot, mmdebstrap)")
    box = new_sandbox(name)
    try:
        box.start(fresh=True)
    except SandboxError as exc:
        pytest.fail(f"PBX sandbox did not start: {exc}")
    return box


def pbx_options(box: AsteriskSandbox) -> PbxOptions:
    return PbxOptions(host="127.0.0.1", port=box.ami_port, username=box.ami_user,
                      secret=box.ami_secret, config_dir=box.generated_dir,
                      ring_timeout_s=5, retry_after_s=2)


def run_lab(db_url: str, name: str) -> Iterator[PbxLab]:
    box = start_box(name)
    holder: dict[str, AsteriskPbx] = {}

    def make_pbx(center: CallCenter) -> AsteriskPbx:
        holder["pbx"] = AsteriskPbx(center, pbx_options(box))
        return holder["pbx"]

    try:
        with start_live_server(replace(TEST_SETTINGS, db_url=db_url), pbx=make_pbx) as server:
            lab = PbxLab(box, server, holder["pbx"])
            eventually(lambda: lab.pbx.reconciled, 10, "first reconcile")
            yield lab
    finally:
        discard(box)


def copy_seeded_sqlite(template: Path, tmp: Path) -> str:
    path = tmp / "callcenter.sqlite3"
    shutil.copy(template, path)
    return f"sqlite:///{path}"
