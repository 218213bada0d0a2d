"""The softphone engine: the only package that imports pjsua2 (QObjects with signals outside).

engine = SipEngine(EngineConfig(), media_hook=bridge)   # on the GUI thread
engine.start()
account = engine.add_account(AccountSettings("8001", "secret", "pbx:5060"))
account.registration_changed.connect(...)
engine.incoming_call.connect(lambda call: call.answer())
call = account.make_call("8002")
...
engine.shutdown()   # staged; before the QApplication goes away
"""

from agent_desktop.sip._guard import SipError
from agent_desktop.sip.account import Account, AccountSettings, RegistrationState, Transport
from agent_desktop.sip.call import (
    CallDirection,
    CallerId,
    CallQuality,
    CallSession,
    CallState,
    auto_answer_delay,
    estimate_mos,
    parse_caller_id,
)
from agent_desktop.sip.engine import (
    EngineConfig,
    EngineState,
    MediaHook,
    NullAudio,
    SipEngine,
    Srtp,
    TlsSession,
    system_ca_file,
)

__all__ = [
    "Account",
    "AccountSettings",
    "CallDirection",
    "CallQuality",
    "CallSession",
    "CallState",
    "CallerId",
    "EngineConfig",
    "EngineState",
    "MediaHook",
    "NullAudio",
    "RegistrationState",
    "SipEngine",
    "SipError",
    "Srtp",
    "TlsSession",
    "Transport",
    "auto_answer_delay",
    "estimate_mos",
    "parse_caller_id",
    "system_ca_file",
]
