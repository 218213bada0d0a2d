"""The demo's caller simulator: an outside caller that rings the queues while anyone is there.

It registers on the PBX as the simulated PSTN gateway (user `pstn`), watches the team board
of the call-center server as the team admin, and whenever an agent is checked in, ready and
idle in a group, calls that group's extension (sales 7001, support 7002) and plays a prompt:
Asterisk's recorded "hello world" followed by a 440 Hz tone, over and over, until the agent
hangs up (or `--max-call` seconds pass). Then it waits `--every` seconds and calls again.

    python pbx/caller.py --server http://127.0.0.1:8080 --sip 127.0.0.1:5060
    (admin password from CALLER_ADMIN_PASSWORD, default "demo"; SIP password "pstn")

A demo tool, not part of the app: it owns its own pjsua2 endpoint (null sound device) on its
main thread; the board is polled on a worker thread that only sets plain Python values.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave
from pathlib import Path
from typing import Any

import pjsua2 as pj

log = logging.getLogger("caller")
RATE = 16000
SOUNDS = "usr/share/asterisk/sounds/en_US_f_Allison"


# ---------------------------------------------------------------------- the prompt


def write_prompt(path: Path, sounds_dir: Path | None, tone_hz: float = 440.0) -> None:
    """A 16 kHz mono WAV: "hello world" (when Asterisk's sounds and sox are there), a pause,
    then two seconds of tone and a second of silence."""
    speech = b""
    src = sounds_dir / "hello-world.gsm" if sounds_dir else None
    if src is not None and src.exists():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            speech = subprocess.run(
                ["sox", str(src), "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16",
                 "-c", "1", "-"], capture_output=True, check=True, timeout=10).stdout
    silence = bytes(RATE // 2 * 2)
    tone = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * tone_hz * i / RATE)))
                    for i in range(RATE * 2))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(speech + silence + tone + silence * 2)


# ---------------------------------------------------------------------- the board


class BoardWatcher:
    """Polls GET /teams/{team}/board as the team admin; `targets` lists the extensions of
    groups where some agent is checked in, not paused and idle."""

    def __init__(self, server: str, team: str, admin: str, password: str,
                 every: float = 2.0) -> None:
        if not server.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) server URL: {server}")
        self.server = server.rstrip("/")
        self.team, self.admin, self.password = team, admin, password
        self.every = every
        self.targets: list[str] = []
        self.error = ""
        self._token: str | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="board", daemon=True)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        if self._token:
            req.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (checked: http(s))
            raw = resp.read()
        return json.loads(raw) if raw else None

    def _login(self) -> None:
        reply = self._request("POST", "/api/v1/sessions", {
            "team": self.team, "agent": self.admin, "password": self.password,
            "terminal_id": "caller-simulator", "client_version": "caller-simulator/1"})
        self._token = reply["token"]

    def poll_once(self) -> list[str]:
        if self._token is None:
            self._login()
        try:
            board = self._request("GET", f"/api/v1/teams/{self.team}/board")
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # the session timed out or was replaced: log in again
                self._token = None
            raise
        extensions = {g["name"]: g.get("extension") for g in board["groups"]}
        found: list[str] = []
        for agent in board["agents"]:
            avail, activity = agent["availability"], agent["activity"]
            if (not avail["logged_in"] or not avail["checked_in"] or avail["paused"]
                    or avail["wrapup"]):
                continue
            if activity.get("state", "idle") != "idle":
                continue
            for g in agent["groups"]:
                ext = extensions.get(g["name"])
                if g["checked_in"] and ext and ext not in found:
                    found.append(ext)
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.targets = self.poll_once()
                self.error = ""
            except Exception as exc:
                self.targets = []
                if str(exc) != self.error:
                    log.warning("board: %s", exc)
                self.error = str(exc)
            self._stop.wait(self.every)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()


# ---------------------------------------------------------------------- the phone


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, sim: Simulator, acc: pj.Account) -> None:
        super().__init__(acc)
        self.sim = sim
        self.started = time.monotonic()
        self.connected = False
        self.over = False

    def onCallState(self, prm: Any) -> None:
        try:
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
                self.connected = True
                log.info("call answered by the agent")
            elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.over = True
                log.info("call ended: %s %s", info.lastStatusCode, info.lastReason)
        except Exception:
            log.exception("onCallState")

    def onCallMediaState(self, prm: Any) -> None:
        try:
            info = self.getInfo()
            for i, media in enumerate(info.media):
                if (media.type == pj.PJMEDIA_TYPE_AUDIO
                        and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE):
                    self.sim.player.startTransmit(self.getAudioMedia(i))
        except Exception:
            log.exception("onCallMediaState")


class Simulator:
    def __init__(self, args: argparse.Namespace, prompt: Path) -> None:
        self.args = args
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.logConfig.level = 1
        cfg.logConfig.consoleLevel = 1
        self.ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = 0
        self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        self.player = pj.AudioMediaPlayer()
        self.player.createPlayer(str(prompt), 0)  # loops
        acfg = pj.AccountConfig()
        acfg.idUri = f'"Demo caller" <sip:{args.user}@{args.sip}>'
        acfg.regConfig.registrarUri = f"sip:{args.sip}"
        acfg.regConfig.retryIntervalSec = 3
        acfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", args.user, 0, args.sip_password))
        self.acc = pj.Account()
        self.acc.create(acfg)
        self.call: Call | None = None
        self.next_call_at = time.monotonic() + 1.0
        self.running = True

    def registered(self) -> bool:
        info = self.acc.getInfo()
        return bool(info.regIsActive and info.regStatus == 200)

    def tick(self, targets: list[str]) -> None:
        now = time.monotonic()
        call = self.call
        if call is not None:
            if call.over:
                self.call = None  # released here, on the loop, not in its own callback
                self.next_call_at = now + self.args.every
            elif now - call.started > (self.args.max_call if call.connected
                                       else self.args.max_ring):
                log.info("hanging up after %.0f s", now - call.started)
                with contextlib.suppress(pj.Error):
                    call.hangup(pj.CallOpParam(True))
            return
        if not targets or now < self.next_call_at or not self.registered():
            return
        ext = random.choice(targets)  # noqa: S311 (a demo, not cryptography)
        log.info("calling queue %s", ext)
        self.call = Call(self, self.acc)
        try:
            prm = pj.CallOpParam(True)
            self.call.makeCall(f"sip:{ext}@{self.args.sip}", prm)
        except pj.Error as exc:
            log.warning("call to %s failed: %s", ext, exc.info())
            self.call = None
            self.next_call_at = now + self.args.every

    def shutdown(self) -> None:
        self.ep.hangupAllCalls()
        deadline = time.monotonic() + 2
        while self.call is not None and not self.call.over and time.monotonic() < deadline:
            self.ep.libHandleEvents(20)
        self.call = None
        with contextlib.suppress(pj.Error):
            self.acc.shutdown()
        self.acc = None
        self.player = None
        self.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", default="http://127.0.0.1:8080")
    p.add_argument("--team", default="demo")
    p.add_argument("--admin", default="supervisor", help="team admin account")
    p.add_argument("--sip", default="127.0.0.1:5060", help="the PBX, host:port")
    p.add_argument("--user", default="pstn")
    p.add_argument("--sip-password", default="pstn")
    p.add_argument("--every", type=float, default=5.0, help="seconds between calls")
    p.add_argument("--max-call", type=float, default=120.0, help="longest answered call, s")
    p.add_argument("--max-ring", type=float, default=40.0, help="longest unanswered ring, s")
    p.add_argument("--sounds", type=Path, default=None,
                   help="a folder with Asterisk's hello-world.gsm (default: the PBX root's)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s caller: %(message)s")
    sounds = args.sounds
    if sounds is None:
        from pbx.sandbox import default_root

        sounds = default_root() / SOUNDS
    with tempfile.TemporaryDirectory(prefix="caller-") as tmp:
        prompt = Path(tmp) / "prompt.wav"
        write_prompt(prompt, sounds)
        board = BoardWatcher(args.server, args.team, args.admin,
                             os.environ.get("CALLER_ADMIN_PASSWORD", "demo"))
        sim = Simulator(args, prompt)
        signal.signal(signal.SIGTERM, lambda *_: setattr(sim, "running", False))
        signal.signal(signal.SIGINT, lambda *_: setattr(sim, "running", False))
        board.start()
        log.info("calling the queues of team %s via %s while agents are checked in",
                 args.team, args.sip)
        try:
            while sim.running:
                sim.ep.libHandleEvents(20)
                sim.tick(board.targets)
        finally:
            board.stop()
            sim.shutdown()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
