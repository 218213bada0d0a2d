"""A CallSession stand-in for widget unit tests: the same signals and commands, no SIP."""

from __future__ import annotations

from pathlib import Path

from keyring.backends import fail
from PySide6.QtCore import QObject, Signal

from agent_desktop.session.credentials import CredentialStore
from agent_desktop.sip import CallerId, CallQuality, CallState


class FakeCall(QObject):
    state_changed = Signal(object)
    media_active = Signal()
    hold_changed = Signal(bool)
    mute_changed = Signal(bool)
    dtmf_received = Signal(str, str)
    transfer_status = Signal(int, str, bool)
    recording_changed = Signal(str)
    ended = Signal(int, str)

    def __init__(self, number: str = "5550123", name: str = "", key: str = "call-1",
                 state: CallState = CallState.RINGING_IN) -> None:
        super().__init__()
        self.key = key
        self.caller_id = CallerId(name, number, f"sip:{number}@pbx")
        self.remote_uri = f'"{name}" <sip:{number}@pbx>'
        self.state = state
        self.held = False
        self.muted = False
        self.actions: list[str] = []
        self.dtmf: list[str] = []
        self.transfers: list[str] = []
        self.recording_path = ""
        self.auto_answer_after: float | None = None
        self.call_quality: CallQuality | None = None

    def set_state(self, state: CallState) -> None:
        self.state = state
        self.state_changed.emit(state)
        if state is CallState.DISCONNECTED:
            self.ended.emit(200, "Normal")

    def answer(self, code: int = 200) -> None:
        self.actions.append(f"answer {code}")
        self.set_state(CallState.CONFIRMED)

    def reject(self, code: int = 486) -> None:
        self.actions.append(f"reject {code}")
        self.set_state(CallState.DISCONNECTED)

    def hangup(self) -> None:
        self.actions.append("hangup")
        self.set_state(CallState.DISCONNECTED)

    def hold(self) -> None:
        self.held = True
        self.hold_changed.emit(True)

    def resume(self) -> None:
        self.held = False
        self.hold_changed.emit(False)

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self.mute_changed.emit(muted)

    def send_dtmf(self, digits: str, method: str = "auto") -> str:
        self.dtmf.append(digits)
        return "rfc4733"

    def transfer(self, target: str) -> None:
        self.transfers.append(target)

    def transfer_to_call(self, consult: FakeCall) -> None:
        self.transfers.append(f"replaces {consult.key}")

    def start_recording(self, path: str | Path) -> None:
        self.recording_path = str(path)
        Path(path).write_bytes(b"RIFF")
        self.recording_changed.emit(self.recording_path)

    def stop_recording(self) -> None:
        self.recording_path = ""
        self.recording_changed.emit("")

    def quality(self) -> CallQuality | None:
        return self.call_quality


def no_keyring() -> CredentialStore:
    """No keyring backend, stated here rather than taken from the machine (a test elsewhere
    in the process may have registered a backend class)."""
    return CredentialStore(fail.Keyring())  # type: ignore[no-untyped-call]


class FakeAudio(QObject):
    """The audio bridge's settings-screen face: devices, pins, meter, test sounds."""

    devices_changed = Signal()
    level_changed = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.pinned: dict[str, str | None] = dict.fromkeys(("microphone", "speaker", "ringer"))
        self.lists = {"microphone": [{"id": "mic", "description": "Microphone"},
                                     {"id": "headset-mic", "description": "Headset mic"}],
                      "speaker": [{"id": "speaker", "description": "Speaker"},
                                  {"id": "headset", "description": "Headset"}],
                      "ringer": [{"id": "speaker", "description": "Speaker"},
                                 {"id": "headset", "description": "Headset"}]}
        self.log: list[str] = []
        self.meter = False
        self.ringing = False
        self.aec = True

    def devices(self, kind: str) -> list[dict[str, str]]:
        return list(self.lists[kind])

    def set_device(self, kind: str, device_id: str | None) -> None:
        self.pinned[kind] = device_id
        self.log.append(f"pin {kind} {device_id}")

    def set_meter_enabled(self, on: bool) -> None:
        self.meter = on

    def start_test_tone(self, freq: float = 440.0, amplitude: float = 0.3,
                        seconds: float = 2.0) -> None:
        self.log.append(f"tone {freq:.0f}")

    def start_ringing(self, wav: Path | None = None, volume: float = 1.0) -> None:
        self.ringing = True

    def stop_ringing(self) -> None:
        self.ringing = False

    def is_ringing(self) -> bool:
        return self.ringing

    def aec_enabled(self) -> bool:
        return self.aec

    def set_aec_enabled(self, on: bool) -> None:
        self.aec = on
