"""The one place that turns an error into words for the agent, and the app's `tr`.

Every visible string goes through `tr`, which translates through Qt
(`QCoreApplication.translate`, one context for the whole app) and returns its argument while
no translator is installed (or no QCoreApplication exists). Placeholders are filled *after*
`tr` so translators see them. Strings kept in module-level tables are marked with `tr_noop`
(translated later, at use, with `tr(text)`), because a module is imported before the translator
is installed. `scripts/translations.sh` extracts both with pyside6-lupdate
(resources/translations/).
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from . import errors as e

# lupdate gives a free function's tr() the empty context, so that is the app's one context.
CONTEXT = ""


def tr(source: str, disambiguation: str | None = None) -> str:
    """`source` in the user's language (the source itself when there is no translation)."""
    return QCoreApplication.translate(CONTEXT, source, disambiguation)


def tr_noop(source: str) -> str:
    """Mark `source` for extraction only; translate it with `tr(source)` where it is shown."""
    return source


_BY_CODE: dict[str, str] = {
    # login
    "bad_credentials": tr_noop("Wrong team, agent number or password."),
    "rate_limited": tr_noop("Too many failed attempts. Wait {wait} and try again."),
    "not_an_agent": tr_noop("This account has no agent seat; log in with an agent number."),
    # the session is over
    "session_expired": tr_noop(
        "You were logged out: no contact with the server for too long (timeout)."),
    "session_revoked": tr_noop("A team admin logged you out{because}."),
    "session_replaced": tr_noop(
        "You logged in again on this computer; this window was logged out."),
    "session_ended": tr_noop("You are logged out."),
    "invalid_token": tr_noop("Your session is no longer valid. Log in again."),
    "unauthenticated": tr_noop("You are not logged in."),
    "forbidden": tr_noop("You are not allowed to do this."),
    # devices and membership
    "device_fixed": tr_noop("Your phone is set by your team admin and cannot be changed."),
    "device_not_selectable": tr_noop("You cannot choose a phone number with this account."),
    "device_required": tr_noop("Enter the number of the phone you want to use."),
    "device_in_use": tr_noop("Another agent is using this phone number."),
    "no_device_at_ip": tr_noop(
        "No phone is registered from this computer. To use this app as your phone, enter its "
        "phone number and phone password, then log in."),
    "no_device": tr_noop("You have no phone yet, so you cannot check in."),
    "checked_in": tr_noop("Check out of your queues before changing the phone."),
    "static_member": tr_noop("You are a permanent member of this queue and cannot check out."),
    "not_member": tr_noop("You are not a member of this queue."),
    "group_not_found": tr_noop("This queue does not exist (any more)."),
    "agent_not_found": tr_noop("No such agent."),
    "device_not_found": tr_noop("No such phone number."),
    "terminal_not_found": tr_noop("That workstation is not logged in."),
    "team_not_found": tr_noop("No such team."),
    "unknown_pause_reason": tr_noop("This pause reason is not one of your team's."),
    "not_in_wrapup": tr_noop("You are not in wrap-up."),
    "pbx_unavailable": tr_noop("The phone system is unreachable. Try again in a moment."),
    # client-side
    e.NET_REFUSED: tr_noop(
        "Can't reach the call-center server at {server}: nothing answers there."),
    e.NET_DNS: tr_noop(
        "Can't reach the call-center server at {server}: the name is unknown."),
    e.NET_TIMEOUT: tr_noop(
        "Can't reach the call-center server at {server}: it does not answer."),
    e.NET_TLS: tr_noop("Can't reach the call-center server at {server}: its security "
                       "certificate is not trusted."),
    e.NET_OTHER: tr_noop("Can't reach the call-center server at {server}."),
    e.NET_BAD_URL: tr_noop(
        "“{server}” is not a server address. It looks like https://host:port."),
    e.PROTO_NOT_SERVER: tr_noop(
        "{server} does not look like a call-center server. Check the address."),
    e.PHONE_REJECTED: tr_noop("The phone system refused this phone number and phone password."),
    e.PHONE_UNREACHABLE: tr_noop("The phone system does not answer, so this app could not "
                                 "register as your phone. Try again in a moment."),
    e.PHONE_UNTRUSTED: tr_noop("The phone system's security certificate is not trusted, so "
                               "this app could not register as your phone. Ask your IT "
                               "department to check the phone system's certificate."),
}

_BY_KIND: list[tuple[type[e.ApiError], str]] = [
    (e.NetworkError, tr_noop("Can't reach the call-center server at {server}.")),
    (e.ProtocolError, tr_noop("The server at {server} gave an answer this app does not "
                              "understand. Check the address, or tell your administrator.")),
    (e.RateLimitedError, tr_noop("The server is busy. Wait {wait} and try again.")),
    (e.ServiceUnavailableError, tr_noop(
        "The call-center server has a problem. Try again in a moment.")),
    (e.AuthenticationError, tr_noop("You are not logged in.")),
    (e.ForbiddenError, tr_noop("You are not allowed to do this.")),
    (e.NotFoundError, tr_noop("Not found.")),
    (e.ConflictError, tr_noop("This is not possible right now.")),
    (e.InvalidRequestError, tr_noop("The server refused the request.")),
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
    template = tr(template)
    because = ""
    if error.code == "session_revoked" and error.detail and error.detail != error.title:
        because = tr(": “{reason}”").format(reason=error.detail)
    return template.format(server=error.server or tr("the configured address"),
                           wait=_wait(error.retry_after), because=because)
