"""The serving state: the loaded model behind a reference that reloads swap atomically.

Requests take the current :class:`Scorer` once and keep it until they finish, so a
reload never changes the model under a request in flight; a failed reload leaves the old
one serving. Scoring runs on one dedicated thread per worker process: off the event loop,
but never several scorings fighting over the GIL (and over malloc arenas) at once. A single
short document is the exception: when that thread is idle, it is scored on the event loop
(see :meth:`Runtime.run`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from app.artifacts import LoadedModel, load_model
from app.errors import ArtifactError, ModelNotReady
from app.scoring import Scorer
from app.taxonomy import LABEL_IDS, Taxonomy

__all__ = ["Runtime"]

logger = logging.getLogger("claimscan")
_T = TypeVar("_T")
_WARM_UP_TEXT = "Our drops are FDA approved and cure tinnitus in days. Side effects include headache."


@dataclass(frozen=True)
class _Serving:
    loaded: LoadedModel
    scorer: Scorer


class Runtime:
    def __init__(self, models_dir: Path, taxonomy: Taxonomy) -> None:
        self.models_dir = models_dir
        self.taxonomy = taxonomy
        self._serving: _Serving | None = None
        self._reload_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claimscan-scoring")
        self._submitted = self._finished = 0  # calls handed to the scoring thread, and those it has done
        self.draining = False

    async def run(self, function: Callable[..., _T], *args: object, inline: bool = False) -> _T:
        """Run a CPU-bound call on the scoring thread; requests queue for it in arrival order.

        A call the caller marks ``inline`` (one short enough to hold the event loop for a few
        milliseconds) runs on the event loop instead when the scoring thread has nothing to do:
        handing it over costs two thread wake-ups, and on a busy host those cost more than the call.
        Scorings still never overlap: while one runs inline, the loop submits nothing.
        """
        if inline and self._submitted == self._finished:
            return function(*args)
        self._submitted += 1  # written on the event loop only; _finished on the scoring thread only
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._counted, function, args)

    def _counted(self, function: Callable[..., _T], args: tuple[object, ...]) -> _T:
        try:
            return function(*args)
        finally:
            self._finished += 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)

    @property
    def ready(self) -> bool:
        return self._serving is not None and not self.draining

    def current(self) -> _Serving:
        serving = self._serving
        if serving is None:
            raise ModelNotReady("the model is not loaded yet; retry shortly")
        return serving

    def scorer(self) -> Scorer:
        return self.current().scorer

    def load(self) -> LoadedModel:
        """Load what ``models/current`` names and swap it in; on failure keep the old model."""
        with self._reload_lock:
            loaded = load_model(self.models_dir, LABEL_IDS)
            scorer = Scorer(loaded.model, self.taxonomy, loaded.version)
            scorer.warm_up(_WARM_UP_TEXT)  # builds the lookup tables now, not on the first request
            self._serving = _Serving(loaded, scorer)
            logger.info("model loaded", extra={"model_version": loaded.version, "path": str(loaded.directory)})
            return loaded

    def reload(self) -> tuple[str, str]:
        """(previous version, new version); raises ArtifactError and keeps serving on failure."""
        previous = self._serving.loaded.version if self._serving else "none"
        try:
            loaded = self.load()
        except ArtifactError as exc:
            logger.error("reload failed, keeping %s: %s", previous, exc)
            raise
        return previous, loaded.version
