"""app/runtime.py: calls run on the scoring thread in arrival order; a short call marked inline runs on
the event loop only while that thread is idle, so two scorings never overlap."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime import Runtime
from app.taxonomy import Taxonomy
from tests.conftest import make_client

SCORING_THREAD = "claimscan-scoring"


@pytest.fixture
def runtime(tmp_path: Path, taxonomy: Taxonomy) -> Iterator[Runtime]:
    runtime = Runtime(tmp_path, taxonomy)
    yield runtime
    runtime.close()


def _thread_name() -> str:
    return threading.current_thread().name


def test_an_inline_call_runs_on_the_event_loop_when_the_scoring_thread_is_idle(runtime: Runtime) -> None:
    async def main() -> tuple[str, str, str]:
        handed_over = await runtime.run(_thread_name)
        inline = await runtime.run(_thread_name, inline=True)
        return handed_over, inline, _thread_name()

    handed_over, inline, loop_thread = asyncio.run(main())
    assert handed_over.startswith(SCORING_THREAD)
    assert inline == loop_thread and not inline.startswith(SCORING_THREAD)


def test_an_inline_call_waits_its_turn_on_the_scoring_thread_while_that_is_busy(runtime: Runtime) -> None:
    release = threading.Event()
    order: list[str] = []

    def slow() -> None:
        release.wait(10)
        order.append("slow")

    def short() -> str:
        order.append("short")
        return _thread_name()

    async def main() -> str:
        busy = asyncio.ensure_future(runtime.run(slow))
        await asyncio.sleep(0)  # the slow call is submitted
        inline = asyncio.ensure_future(runtime.run(short, inline=True))
        await asyncio.sleep(0.05)
        assert order == []  # not run beside the busy thread
        release.set()
        await busy
        return await inline

    assert asyncio.run(main()).startswith(SCORING_THREAD)
    assert order == ["slow", "short"]


def test_a_failing_call_still_counts_as_done(runtime: Runtime) -> None:
    def fail() -> None:
        raise ValueError("boom")

    async def main() -> str:
        with pytest.raises(ValueError, match="boom"):
            await runtime.run(fail)
        return await runtime.run(_thread_name, inline=True)

    assert not asyncio.run(main()).startswith(SCORING_THREAD)  # the thread is idle again


def _score_threads(
    monkeypatch: pytest.MonkeyPatch, words: int, others_in_flight: int = 0, **settings: object
) -> list[str]:
    """The threads POST /score scored on, for a document of about ``words`` words, while the worker counts
    ``others_in_flight`` more requests than this one; and that the count is back to 0 afterwards."""
    from app.scoring import Scorer

    threads: list[str] = []
    in_flight: list[int] = []
    original = Scorer.score

    with make_client(**settings) as client:
        metrics = client.app.state.metrics  # type: ignore[attr-defined]

        def recorded(self: Scorer, request: object) -> object:
            threads.append(_thread_name())
            in_flight.append(metrics.in_flight)
            return original(self, request)  # type: ignore[arg-type]

        monkeypatch.setattr(Scorer, "score", recorded)
        metrics.in_flight += others_in_flight
        response = client.post("/score", json={"text": "Our drops cure tinnitus. " * (words // 4)})
        metrics.in_flight -= others_in_flight
        assert response.status_code == 200
        assert response.json()["summary"]["sentences"] == words // 4
        assert metrics.in_flight == 0
    assert in_flight == [1 + others_in_flight]
    return threads


@pytest.mark.parametrize(
    ("limit", "words", "on_thread"),
    [(20_000, 10, False), (20_000, 5_000, True), (0, 10, True)],
)
def test_score_sends_a_document_over_the_inline_limit_to_the_scoring_thread(
    monkeypatch: pytest.MonkeyPatch, limit: int, words: int, on_thread: bool
) -> None:
    (thread,) = _score_threads(monkeypatch, words, inline_max_chars=limit)
    assert thread.startswith(SCORING_THREAD) == on_thread


def test_score_uses_the_scoring_thread_while_the_worker_serves_another_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under load, scoring on the event loop would hold up every other request there, health checks included.
    (thread,) = _score_threads(monkeypatch, 10, others_in_flight=1)
    assert thread.startswith(SCORING_THREAD)
