"""Translations: every `tr("…")` / `tr_noop("…")` string of the app has a finished translation
in each resources/translations/*.ts with the same placeholders, the .qm is compiled from it,
and the translator goes in and out at run time (agent_desktop.i18n).

A failure here after changing a text: run scripts/translations.sh, translate the new entries
(type="unfinished"), run it again, commit the .ts and the .qm.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, QTranslator
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from pytestqt.qtbot import QtBot

from agent_desktop import i18n
from agent_desktop.app import AgentApp
from agent_desktop.session import errors as e
from agent_desktop.session.client import ApiClient
from agent_desktop.session.messages import CONTEXT, tr, user_message
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.settings import AppSettings
from agent_desktop.ui.login import LoginWindow
from tests.ui.fakes import no_keyring

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "agent_desktop").rglob("*.py"))
TS_FILES = sorted((ROOT / "resources" / "translations").glob("agent_desktop_*.ts"))
MARKERS = ("tr", "tr_noop")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
ACCELERATOR = re.compile(r"&[^&\s]")


Key = tuple[str, str]  # (source, disambiguation or "")


def marker_calls() -> Iterator[tuple[Path, ast.Call]]:
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in MARKERS):
                yield path, node


def marked_strings() -> dict[Key, str]:
    """Every literal passed to tr()/tr_noop() in the app -> where it is (file:line)."""
    found: dict[Key, str] = {}
    for path, node in marker_calls():
        args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        if args and isinstance(args[0], str):
            comment = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
            found.setdefault((args[0], comment), f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def ts_messages(path: Path) -> dict[Key, tuple[str, bool]]:
    """(source, disambiguation) -> (translation, finished) of one .ts file (one context)."""
    out: dict[Key, tuple[str, bool]] = {}
    for context in ET.parse(path).getroot().iter("context"):
        assert (context.findtext("name") or "") == CONTEXT, f"{path.name}: a second context"
        for m in context.iter("message"):
            t = m.find("translation")
            assert t is not None
            finished = t.get("type") not in ("unfinished", "obsolete", "vanished")
            key = (m.findtext("source") or "", m.findtext("comment") or "")
            out[key] = (t.text or "", finished and bool(t.text))
    return out


@pytest.fixture
def restore_language() -> Iterator[None]:
    yield
    app = QCoreApplication.instance()
    assert app is not None
    i18n.install_translator(app, "en")


def test_there_is_a_chinese_translation() -> None:
    assert [p.name for p in TS_FILES] == ["agent_desktop_zh_CN.ts"]
    assert len(marked_strings()) > 300


def test_every_marked_string_can_be_extracted() -> None:
    """tr(f"…") cannot be translated (fill placeholders after tr()), and lupdate reads the
    disambiguation only as the second positional argument, never as a keyword."""
    bad = [f"{path.relative_to(ROOT)}:{node.lineno}" for path, node in marker_calls()
           if node.keywords or any(isinstance(a, ast.JoinedStr) for a in node.args)]
    assert not bad


@pytest.mark.parametrize("ts", TS_FILES, ids=lambda p: p.name)
def test_every_string_is_translated(ts: Path) -> None:
    messages = ts_messages(ts)
    missing = {s: where for s, where in marked_strings().items()
               if s not in messages or not messages[s][1]}
    assert not missing, (f"{len(missing)} string(s) without a translation in {ts.name} "
                         f"(run scripts/translations.sh and translate them): {missing}")


@pytest.mark.parametrize("ts", TS_FILES, ids=lambda p: p.name)
def test_placeholders_and_accelerators_match(ts: Path) -> None:
    wrong = []
    for (source, _comment), (text, finished) in ts_messages(ts).items():
        if not finished:
            continue
        if Counter(PLACEHOLDER.findall(source)) != Counter(PLACEHOLDER.findall(text)):
            wrong.append(f"placeholders: {source!r} -> {text!r}")
        if bool(ACCELERATOR.search(source)) != bool(ACCELERATOR.search(text)):
            wrong.append(f"& accelerator: {source!r} -> {text!r}")
    assert not wrong


@pytest.mark.parametrize("ts", TS_FILES, ids=lambda p: p.name)
def test_qm_is_compiled_from_the_ts(ts: Path) -> None:
    translator = QTranslator()
    assert translator.load(str(ts.with_suffix(".qm"))), "run scripts/translations.sh"
    stale = [key for key, (text, finished) in ts_messages(ts).items()
             if finished and translator.translate(CONTEXT, key[0], key[1] or None) != text]
    assert not stale, f"the .qm is older than the .ts (run scripts/translations.sh): {stale}"


def test_without_translator_tr_gives_the_source() -> None:
    assert tr("Log in") == "Log in"
    assert user_message(e.ApiError(e.NET_REFUSED, server="h:1")).startswith(
        "Can't reach the call-center server at h:1")


def test_chinese_at_run_time_then_english_again(qapp: QApplication,
                                                restore_language: None) -> None:
    assert i18n.install_translator(qapp, "zh_CN") == "zh_CN"
    assert tr("Log in") == "登录"
    assert (tr("Call"), tr("Call", "dial button")) == ("通话", "呼叫")
    # a module-level table (tr_noop) is translated at use, placeholders filled after tr()
    text = user_message(e.ApiError(e.NET_REFUSED, server="h:1"))
    assert text.startswith("无法连接呼叫中心服务器 h:1")
    assert text.endswith("该地址无响应。")
    # Qt's own texts (qtbase_zh_CN.qm from PySide6)
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
    button = box.button(QDialogButtonBox.StandardButton.Cancel)
    assert button is not None
    assert "取消" in button.text()
    assert i18n.install_translator(qapp, "en") == "en"
    assert tr("Log in") == "Log in"


def test_system_language_and_unknown_language(qapp: QApplication, restore_language: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtCore import QLocale

    monkeypatch.setattr(i18n, "locale_for",
                        lambda lang: QLocale("zh_CN") if lang == "system" else QLocale(lang))
    assert i18n.install_translator(qapp, "system") == "zh_CN"
    assert tr("Log in") == "登录"
    assert i18n.install_translator(qapp, "fr_FR") == "en"  # no French: English, not Chinese
    assert tr("Log in") == "Log in"


def test_changing_the_language_setting_installs_the_translator(
        qtbot: QtBot, tmp_path: Path, restore_language: None) -> None:
    """New windows and dialogs come in the new language (the open ones after a restart)."""
    login = LoginWindow()
    qtbot.addWidget(login)
    seat = AgentApp(login_window=login, machine=AgentStateMachine(), store=no_keyring(),
                    client_factory=lambda url: ApiClient(url, client_version="ui/1"),
                    terminal="ui-i18n", quit_app=lambda: None,
                    settings_store=QSettings(str(tmp_path / "s.ini"),
                                             QSettings.Format.IniFormat))
    seat.apply_settings(replace(seat.settings, language="zh_CN"))
    assert tr("Log in") == "登录"
    later = LoginWindow()
    qtbot.addWidget(later)
    assert later.windowTitle() == "坐席工作台 — 登录"
    seat.apply_settings(replace(seat.settings, language="en"))
    assert tr("Log in") == "Log in"
    qtbot.waitUntil(lambda: AppSettings.load(QSettings(str(tmp_path / "s.ini"),
                                                       QSettings.Format.IniFormat)
                                             ).language == "en", timeout=3000)
    seat.finish()
