"""The login window: server, team, agent, password, remember; errors in the agent's words.

The window does no network work itself: it emits `login_requested(LoginForm)` and the
composition root runs the login through `run_in_worker`, calling `set_busy`, `show_error` and
`set_remember_notice` back on the GUI thread. While busy the form is disabled and a progress
bar runs; the event loop never waits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from PySide6 import QtCore
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QCloseEvent, QFont, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.session.messages import tr, user_message
from agent_desktop.ui.ink import ink

log = logging.getLogger("agent_desktop.ui.login")

#: Error codes after which the login needs a phone number (dynamic device mode).
DEVICE_CODES = frozenset({"device_required", "device_in_use", "device_not_selectable"})
#: Error codes after which this app can register as the phone first (self-adapting mode).
PHONE_CODES = frozenset({"no_device_at_ip", "phone_rejected", "phone_unreachable",
                         "phone_certificate_untrusted"})


@dataclass(frozen=True)
class LoginForm:
    server: str
    team: str
    agent: str
    password: str = field(repr=False)
    remember: bool = False
    device_number: str = ""
    #: Self-adapting agents: this app registers as `device_number` with it before logging in
    #: (the server then finds the phone registered from this computer).
    phone_password: str = field(default="", repr=False)


class LoginWindow(QWidget):
    """Signals: login_requested(LoginForm), closed() when the agent closes the window,
    typing_started() once, at the agent's first keystroke in a field (the app loads what the
    login needs then), remember_wanted() each time "remember" gets ticked."""

    login_requested = Signal(object)
    closed = Signal()
    typing_started = Signal()
    remember_wanted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Agent Desktop — Log in"))
        self.setObjectName("LoginWindow")
        self._busy = False

        self.server_edit = self._edit(tr("Server address"), "http://127.0.0.1:8080")
        self.team_edit = self._edit(tr("Team"), "demo")
        self.agent_edit = self._edit(tr("Agent number"), "1001")
        self.password_edit = self._edit(tr("Password"), "")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.device_edit = self._edit(tr("Phone number"), "8003")
        self.phone_password_edit = self._edit(tr("Phone password"), "")
        self.phone_password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.phone_password_edit.setToolTip(tr("The SIP password of this phone number, from "
                                               "your team admin"))
        self.remember_box = QCheckBox(tr("Remember my password on this computer"))
        self.remember_box.setAccessibleName(tr("Remember password"))
        self.remember_notice = QLabel()
        self.remember_notice.setObjectName("rememberNotice")
        self.remember_notice.setWordWrap(True)
        self.remember_notice.setAccessibleName(tr("Password storage notice"))
        self.remember_notice.hide()

        self.error_label = QLabel()
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        # Its style sheet and flags are set with the first error, the notice's with the first
        # notice: a style sheet engages Qt's style-sheet machinery (~1 MB) and `Qt`'s first
        # use costs ~11 ms, neither needed to show the window.
        self.error_label.setAccessibleName(tr("Login error"))
        self.error_label.hide()

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # indeterminate
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(6)
        self.progress.setAccessibleName(tr("Logging in"))
        self.progress.hide()

        self.login_button = QPushButton(tr("Log in"))
        self.login_button.setAccessibleName(tr("Log in"))
        self.login_button.setDefault(True)
        self.login_button.clicked.connect(self.submit)

        form = QFormLayout()
        form.addRow(tr("&Server:"), self.server_edit)
        form.addRow(tr("&Team:"), self.team_edit)
        form.addRow(tr("&Agent:"), self.agent_edit)
        form.addRow(tr("&Password:"), self.password_edit)
        self._device_label = QLabel(tr("P&hone number:"))
        self._device_label.setBuddy(self.device_edit)
        form.addRow(self._device_label, self.device_edit)
        self._phone_password_label = QLabel(tr("Phone pass&word:"))
        self._phone_password_label.setBuddy(self.phone_password_edit)
        form.addRow(self._phone_password_label, self.phone_password_edit)
        self._set_device_visible(False)
        self._set_phone_password_visible(False)

        title = QLabel(tr("Log in to the call center"))
        font = title.font()
        font.setPointSizeF(15)
        font.setWeight(QFont.Weight.DemiBold)
        title.setFont(font)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addWidget(self.remember_box)
        layout.addWidget(self.remember_notice)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.login_button)
        self.setMinimumWidth(420)
        self.remember_box.toggled.connect(self._update_notice)
        self.remember_box.toggled.connect(lambda on: self.remember_wanted.emit() if on else None)
        self._notice_text = ""
        self._typed = False

    def _edit(self, accessible: str, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setAccessibleName(accessible)
        edit.setPlaceholderText(placeholder)
        edit.returnPressed.connect(self.submit)  # Enter logs in from any field
        edit.textEdited.connect(self._on_typing)  # the agent's keys only, not prefill()
        return edit

    @Slot()
    def _on_typing(self) -> None:
        if not self._typed:
            self._typed = True
            self.typing_started.emit()

    def _set_device_visible(self, visible: bool) -> None:
        self._device_label.setVisible(visible)
        self.device_edit.setVisible(visible)

    def _set_phone_password_visible(self, visible: bool) -> None:
        self._phone_password_label.setVisible(visible)
        self.phone_password_edit.setVisible(visible)

    # ----------------------------------------------------------------- API

    def prefill(self, *, server: str = "", team: str = "", agent: str = "",
                password: str = "", remember: bool = False) -> None:
        self.server_edit.setText(server)
        self.team_edit.setText(team)
        self.agent_edit.setText(agent)
        self.password_edit.setText(password)
        self.remember_box.setChecked(remember)

    def form(self) -> LoginForm:
        return LoginForm(
            server=self.server_edit.text().strip(), team=self.team_edit.text().strip(),
            agent=self.agent_edit.text().strip(), password=self.password_edit.text(),
            remember=self.remember_box.isChecked(),
            device_number=self.device_edit.text().strip() if self.device_edit.isVisible()
            else "",
            phone_password=self.phone_password_edit.text()
            if self.phone_password_edit.isVisible() else "",
        )

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def error_text(self) -> str:
        return self.error_label.text() if not self.error_label.isHidden() else ""

    @Slot()
    def submit(self) -> None:
        if self._busy:
            return
        f = self.form()
        missing = [name for name, value in ((tr("server address"), f.server),
                                            (tr("agent number"), f.agent),
                                            (tr("password"), f.password)) if not value]
        if missing:
            self._show_text(tr("Please fill in: {fields}.").format(fields=", ".join(missing)))
            return
        self.clear_error()
        self.login_requested.emit(f)

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        for w in (self.server_edit, self.team_edit, self.agent_edit, self.password_edit,
                  self.device_edit, self.phone_password_edit, self.remember_box,
                  self.login_button):
            w.setEnabled(not busy)
        self.login_button.setText(tr("Logging in…") if busy else tr("Log in"))
        self.progress.setVisible(busy)

    def show_error(self, error: BaseException) -> None:
        """Show `error` in the agent's words (and ask for a phone number when that is it)."""
        code = getattr(error, "code", "")
        if code in DEVICE_CODES and code != "device_not_selectable":
            self._set_device_visible(True)
            self._set_phone_password_visible(False)
            self.device_edit.setFocus()
        elif code in PHONE_CODES:
            self._set_device_visible(True)
            self._set_phone_password_visible(True)
            (self.phone_password_edit if self.device_edit.text() else self.device_edit).setFocus()
        self._show_text(user_message(error))
        if code == "bad_credentials":
            self.password_edit.selectAll()
            self.password_edit.setFocus()

    def _show_text(self, text: str) -> None:
        if not self.error_label.styleSheet():
            self.error_label.setTextInteractionFlags(
                QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            self.error_label.setStyleSheet(
                "QLabel { color: #a40000; background: #fdecea; border: 1px solid #f5c2c0;"
                " border-radius: 4px; padding: 6px; }")
        self.error_label.setText(text)
        self.error_label.show()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()

    def set_remember_notice(self, text: str) -> None:
        """The credential store's word on remembering (empty: it will be remembered)."""
        self._notice_text = text
        self._update_notice()

    @Slot()
    def _update_notice(self) -> None:
        show = bool(self._notice_text) and self.remember_box.isChecked()
        if show and not self.remember_notice.styleSheet():
            self.remember_notice.setStyleSheet(f"color: {ink('warn')};")
        self.remember_notice.setText(self._notice_text)
        self.remember_notice.setVisible(show)

    # ----------------------------------------------------------------- events

    def focus_first_empty(self) -> None:
        """Put the cursor where the agent has to type (the password, usually)."""
        for edit in (self.server_edit, self.team_edit, self.agent_edit, self.password_edit):
            if not edit.text():
                edit.setFocus()
                return
        self.login_button.setFocus()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._busy and not self.error_text:
            self.focus_first_empty()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter):
            self.submit()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closed.emit()
        super().closeEvent(event)
