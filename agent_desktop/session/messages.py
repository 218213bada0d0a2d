"""The one place that turns an error into words for the agent.

Every string goes through `tr`, a no-op marker that a later Qt translation step (lupdate with
`-tr-function-alias tr=...` or a switch to QCoreApplication.translate) can pick up; until then it
returns its argument. Placeholders are filled *after* `tr` so translators see them.
"""

from __future__ import annotations

from . import errors as e

CONTEXT = "session"


def tr(source: str, disambiguation: str | None = None) -> str:
    """Mark `source` for translation (context `session`); today it returns it unchanged."""
    del disambiguation
    return source


_BY_CODE: dict[str, str] = {
    # login
    "bad_credentials": tr("Wrong team, agent number or password."),
    "rate_limited": tr("Too many failed attempts. Wait {wait} and try again."),
    "not_an_agent": tr("This account has no agent seat; log in with an agent number."),
    # the session is over
    "session_expired": tr(
        "You were logged out: no contact with the server for too long (timeout)."),
    "session_revoked": tr("A team admin logged you out{because}."),
    "session_replaced": tr("You logged in again on this computer; this window was logged out."),
    "session_ended": tr("You are logged out."),
    "invalid_token": tr("Your session is no longer valid. Log in again."),
    "unauthenticated": tr("You are not logged in."),
    "forbidden": tr("You are not allowed to do this."),
    # devices and membership
    "device_fixed": tr("Your phone is set by your team admin and cannot be changed."),
    "device_not_selectable": tr("You cannot choose a phone number with this account."),
    "device_required": tr("Enter the number of the phone you want to use."),
    "device_in_use": tr("Another agent is using this phone number."),
    "no_device_at_ip": tr(
        "No phone is registered from this computer. To use this app as your phone, enter its "
        "phone number and phone password, then log in."),
    "no_device": tr("You have no phone yet, so you cannot check in."),
    "checked_in": tr("Check out of your queues before changing the phone."),
    "static_member": tr("You are a permanent member of this queue and cannot check out."),
    "not_member": tr("You are not a member of this queue."),
    "group_not_found": tr("This queue does not exist (any more)."),
    "agent_not_found": tr("No such agent."),
    "device_not_found": tr("No such phone number."),
    "terminal_not_found": tr("That workstation is not logged in."),
    "team_not_found": tr("No such team."),
    "unknown_pause_reason": tr("This pause reason is not one of your team's."),
    "not_in_wrapup": tr("You are not in wrap-up."),
    "pbx_unavailable": tr("The phone system is unreachable. Try again in a moment."),
    # client-side
    e.NET_REFUSED: tr("Can't reach the call-center server at {server}: nothing answers there."),
    e.NET_DNS: tr("Can't reach the call-center server at {server}: the name is unknown."),
    e.NET_TIMEOUT: tr("Can't reach the call-center server at {server}: it does not answer."),
    e.NET_TLS: tr("Can't reach the call-center server at {server}: its security certificate "
                  "is not trusted."),
    e.NET_OTHER: tr("Can't reach the call-center server at {server}."),
    e.NET_BAD_URL: tr("“{server}” is not a server address. It looks like https://host:port."),
    e.PROTO_NOT_SERVER: tr("{server} does not look like a call-center server. Check the address."),
    e.PHONE_REJECTED: tr("The phone system refused this phone number and phone password."),
    e.PHONE_UNREACHABLE: tr("The phone system does not answer, so this app could not register "
                            "as your phone. Try again in a moment."),
}

_BY_KIND: list[tuple[type[e.ApiError], str]] = [
    (e.NetworkError, tr("Can't reach the call-center server at {server}.")),
    (e.ProtocolError, tr("The server at {server} gave an answer this app does not understand. "
                         "Check the address, or tell your administrator.")),
    (e.RateLimitedError, tr("The server is busy. Wait {wait} and try again.")),
    (e.ServiceUnavailableError, tr("The call-center server has a problem. Try again in a moment.")),
    (e.AuthenticationError, tr("You are not logged in.")),
    (e.ForbiddenError, tr("You are not allowed to do this.")),
    (e.NotFoundError, tr("Not found.")),
    (e.ConflictError, tr("This is not possible right now.")),
    (e.InvalidRequestError, tr("The server refused the request.")),
]


def _wait(seconds: float | None) -> str:
    if seconds is None:
        return tr("a moment")
    s = max(1, round(seconds))
    if s < 90:
        return tr("{n} seconds").format(n=s) if s != 1 else tr("1 second")
    return tr("{n} minutes").format(n=round(s / 60))


def user_message(error: BaseException) -> str:
    """What to tell the agent about `error`, in the agent's words."""
    if not isinstance(error, e.ApiError):
        return tr("Something went wrong: {what}").format(what=type(error).__name__)
    template = _BY_CODE.get(error.code)
    if template is None:
        template = next((t for cls, t in _BY_KIND if isinstance(error, cls)), None)
    if template is None:
        return tr("Something went wrong ({code}).").format(code=error.code)
    because = ""
    if error.code == "session_revoked" and error.detail and error.detail != error.title:
        because = tr(": “{reason}”").format(reason=error.detail)
    return template.format(server=error.server or tr("the configured address"),
                           wait=_wait(error.retry_after), because=because)
