"""Fixtures of the team-view tests: offscreen Qt, and no worker task may outlive its test."""

from __future__ import annotations

from tests.support.qt_tests import drain_workers, offscreen_notes

_drain_workers = drain_workers
pytest_collection_modifyitems = offscreen_notes(__file__)
