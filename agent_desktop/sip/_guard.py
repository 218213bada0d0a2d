"""Helpers shared by the engine modules: exception guards for pjsua2 callbacks."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pjsua2 as pj

log = logging.getLogger("agent_desktop.sip")

F = TypeVar("F", bound=Callable[..., Any])


class SipError(RuntimeError):
    """A pjsua2 operation failed (the message carries pjsua2's own reason)."""


# An error pjsua logs that we expect and handle: logged as INFO with why it is expected. Set
# on the GUI thread only, around one pjsua2 call (pjsua logs synchronously there).
_expected: tuple[str, str] | None = None


@contextlib.contextmanager
def expecting_pjsip_error(token: str, why: str) -> Iterator[None]:
    """Around a pjsua2 call that may fail with `token` (e.g. "PJSIP_EBUSY") on purpose."""
    global _expected
    _expected = (token, why)
    try:
        yield
    finally:
        _expected = None


def expected_error_note(message: str) -> str | None:
    """Why the error in this pjsua log message is expected, or None."""
    expected = _expected
    if expected is not None and expected[0] in message:
        return expected[1]
    return None


def describe(exc: BaseException) -> str:
    if isinstance(exc, pj.Error):
        try:
            return str(exc.info())
        except Exception:
            return repr(exc)
    return f"{type(exc).__name__}: {exc}"


def describe_status(status: int) -> str:
    """pjlib's text for a pj_status_t (e.g. 171173 -> "SSL certificate verification error")."""
    try:
        return str(pj.Endpoint.instance().utilStrError(status))
    except Exception:
        return f"status {status}"


def guarded(fn: F) -> F:
    """Wrap a pjsua2 callback: no exception may escape into native code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:  # nothing may reach native code
            log.error(
                "pjsua2 callback %s failed: %s", fn.__qualname__, describe(exc), exc_info=True
            )
            return None

    return wrapper  # type: ignore[return-value]
