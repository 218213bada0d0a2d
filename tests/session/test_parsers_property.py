"""Random JSON into every parser: only ProtocolError may come out (10,000 cases in all)."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_desktop.session import models as m
from agent_desktop.session.errors import ProtocolError, error_from_problem
from agent_desktop.session.events import SseParser
from tests.session.support import SAMPLES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=5),
    max_leaves=12,
)
PARSERS = {p.__name__: p for p in m.PARSERS}


def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _parse(name: str, value: object) -> None:
    with contextlib.suppress(ProtocolError):
        PARSERS[name](value, "body")


@fast(3000)
@given(st.sampled_from(sorted(PARSERS)), json_values)
def test_random_json(name: str, value: object) -> None:
    _parse(name, value)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, object]:
    """A valid sample with one subtree replaced or deleted: close to real, wrong in one place."""
    name = draw(st.sampled_from(sorted(SAMPLES)))
    doc = copy.deepcopy(SAMPLES[name])
    paths = _paths(doc)[1:]
    if not paths:
        return name, draw(json_values)
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return name, doc


@fast(5000)
@given(mutated())
def test_mutated_valid_bodies(case: tuple[str, object]) -> None:
    _parse(*case)


def test_every_sample_parses() -> None:
    for name, sample in SAMPLES.items():
        PARSERS[name](json.loads(json.dumps(sample)), "body")


@fast(1000)
@given(st.integers(100, 599), json_values, st.none() | st.text(max_size=10))
def test_problem_bodies(status: int, body: object, retry_after: str | None) -> None:
    err = error_from_problem(status, body, retry_after_header=retry_after)
    assert err is None or isinstance(err.code, str)


@fast(1000)
@given(st.lists(st.text(max_size=30), max_size=20))
def test_sse_parser_never_raises(lines: list[str]) -> None:
    parser = SseParser()
    for line in lines:
        parser.feed(line.replace("\n", "").replace("\r", ""))
