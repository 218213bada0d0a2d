"""Screen pop: the URL template, its encoding, and the ring / answer / off setting."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from agent_desktop.screenpop import PopWhen, ScreenPop, ScreenPopSettings, build_url

TEMPLATE = "https://crm.example/search?phone={caller_id}&queue={queue}"
VALUES = {"caller_id": "+49 30/123&x=1", "queue": "sales & support", "caller_name": "Zoë"}


def test_values_are_percent_encoded() -> None:
    assert build_url(TEMPLATE, VALUES) == (
        "https://crm.example/search?phone=%2B49%2030%2F123%26x%3D1&queue=sales%20%26%20support")
    assert build_url("https://crm.example/c/{caller_name}", VALUES) == \
        "https://crm.example/c/Zo%C3%AB"
    # Unknown names stay as written; missing values are empty.
    assert build_url("https://x.example/?a={nope}&c={call_id}", VALUES) == \
        "https://x.example/?a={nope}&c="


def pop(when: PopWhen, template: str = TEMPLATE) -> tuple[ScreenPop, list[str]]:
    opened: list[str] = []
    return ScreenPop(ScreenPopSettings(template, when),
                     opener=lambda url: opened.append(url) is None), opened


def test_on_ring_opens_once_per_call() -> None:
    sp, opened = pop(PopWhen.RING)
    assert sp.answered("call-1", VALUES) is None
    url = sp.ringing("call-1", VALUES)
    assert opened == [url] == [build_url(TEMPLATE, VALUES)]
    assert sp.ringing("call-1", VALUES) is None  # the same call again: no second tab
    sp.ringing("call-2", {"caller_id": "2002"})
    assert opened[-1] == "https://crm.example/search?phone=2002&queue="


def test_on_answer_and_off() -> None:
    sp, opened = pop(PopWhen.ANSWER)
    assert sp.ringing("call-1", VALUES) is None
    assert sp.answered("call-1", VALUES) is not None
    assert len(opened) == 1
    off, opened_off = pop(PopWhen.OFF)
    assert off.ringing("c", VALUES) is None
    assert off.answered("c", VALUES) is None
    empty, opened_empty = pop(PopWhen.RING, template="  ")
    assert empty.ringing("c", VALUES) is None
    assert opened_off == opened_empty == []


def test_only_http_urls_are_opened() -> None:
    sp, opened = pop(PopWhen.RING, template="file:///etc/{caller_id}")
    assert sp.ringing("c", VALUES) is None
    sp2, opened2 = pop(PopWhen.RING, template="{caller_id}")  # a value cannot become a scheme
    assert sp2.ringing("c", {"caller_id": "javascript:alert(1)"}) is None
    assert opened == opened2 == []


def test_settings_round_trip(tmp_path: Path) -> None:
    qs = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert ScreenPopSettings.load(qs) == ScreenPopSettings("", PopWhen.OFF)
    ScreenPopSettings(TEMPLATE, PopWhen.ANSWER).save(qs)
    qs.sync()
    again = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    loaded = ScreenPopSettings.load(again)
    assert loaded == ScreenPopSettings(TEMPLATE, PopWhen.ANSWER)
    assert loaded.enabled
