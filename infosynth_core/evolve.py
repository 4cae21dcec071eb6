"""The genetic loop: colonies and generations (paper §3, DESIGN.md "The method").

``N_c`` colonies each start from ``B_s`` seeds sampled from the run's seed set. In each
generation every colony takes ``steps_per_generation`` operator steps. A step is a
**mutation** (probability r: the engine proposes an easier, an equal and a harder variant of
one pool problem) or a **crossover** (``C`` new problems, each from a batch of ``B_c`` pool
problems). Each step's candidates then pass

1. MinHash-LSH dedup against the colony's pool, against every seed of the run's seed set
   (also those in no colony's pool) and each other (``dedup_threshold``),
2. k-farthest filtering (when on): the ``keep`` candidates least similar (cosine on sentence
   embeddings) to the colony's pool survive,
3. verification with code feedback (``verify.py``: the first solve, then up to
   ``feedback_rounds`` = N_it rounds of feedback).

Every kept candidate joins the colony's pool, also when it fails verification (it can still
seed new problems); only verified ones are benchmark items. At the end of a generation the
verified problems of all colonies are deduplicated again (merge), and the generation is
recorded: counts per operator, tokens, seconds, novelty and diversity of everything verified
so far against the seeds (``projection.measure``), topic coverage.

**A failing endpoint ends the run.** Endpoint failures (after the client's retries) are counted
run-wide in the checkpoint (``state["endpoint"]``: steps answered, steps and verifications lost
to API errors, the last error). When no step has been answered yet and
``max(4, 2 * colonies)`` steps in a row were lost, the run stops with outcome
``"endpoint_failed"``: nothing it could do would produce a problem, and every further call
would only wait for the same error. The runner marks such a run ``failed`` with the reason.

**Checkpoints.** After every colony step the whole loop state (pools as problem ids, each
colony's random state, step counters, the generation's counts) is written to the store; the
step's problems and attempts are written before it. A killed runner resumes from the last
checkpoint and redoes only the unfinished steps: their LLM calls hit the response cache and
problems already stored under the same id are reused, so no verified problem is lost and no
cached call is paid twice. Colonies have their own random streams, so the run is the same
whatever order their concurrent steps finish in.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import dedup
from .config import RunConfig
from .degeneracy import find_degeneracies
from .engines.base import Candidate, Engine, Proposal, Usage
from .errors import BudgetExceededError, LLMError
from .evolve_records import GenerationCounts, generation_record, is_benchmark_item, metrics_inputs
from .loopwatch import LoopWatch
from .metrics_worker import PENDING, MetricsWorker
from .problem import Origin, Problem
from .sandbox import Sandbox
from .select import k_farthest
from .store import Store
from .verify import Verification, verify_candidate

__all__ = ["Evolution", "StepControl"]

#: called between steps; returns "stop" to end the run there (it may wait while paused)
StepControl = Callable[[], Awaitable[str | None]]


def _endpoint_tally() -> dict[str, Any]:
    """Run-wide endpoint counters kept in the checkpoint (see the module docstring)."""
    return {
        "steps_answered": 0,
        "steps_lost": 0,
        "verifications_lost": 0,
        "failed_in_a_row": 0,
        "last_error": None,
    }


def step_rng(random_state: int, colony: int, generation: int, step: int) -> random.Random:
    """The random stream of one colony step: a function of where the step is, so a resumed
    or differently scheduled run draws exactly the same numbers."""
    return random.Random(f"infosynth:{random_state}:colony:{colony}:gen:{generation}:step:{step}")


class Evolution:
    """One run of the genetic loop over a store; see the module docstring.

    Parameters
    ----------
    store, run_id
        Where the run lives (created with ``store.create_run``); its checkpoint is
        ``RunInfo.state``.
    config
        The validated :class:`~infosynth_core.config.RunConfig`.
    engine, sandbox
        The candidate generator and the sandbox that verifies.
    embedder, tagger
        Sentence embedder (k-farthest, metrics) and topic tagger for problems without topics.
    control
        Awaited between steps; returning ``"stop"`` ends the run there (pause waits inside).
    progress
        Called with a dict after every step (generation, steps done/total, verified, usage).
    spent
        What the LLM endpoint has billed this run so far (kept in the checkpoint as
        ``llm_spent`` so a resumed run's budget counts it).
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        config: RunConfig,
        engine: Engine,
        sandbox: Sandbox,
        *,
        embedder,
        tagger=None,
        control: StepControl | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        spent: Callable[[], Usage] | None = None,
    ):
        self.store, self.run_id, self.config = store, run_id, config
        self.engine, self.sandbox = engine, sandbox
        self.embedder, self.tagger = embedder, tagger
        self.control, self.progress = control, progress
        self.spent = spent
        self.stop_reason: str | None = None
        self._vectors: dict[str, np.ndarray] = {}  # problem id -> embedding
        self._indexes: dict[int, dedup.GrowingIndex] = {}  # colony -> MinHash-LSH of its pool
        self._seed_index: dedup.GrowingIndex | None = None  # MinHash-LSH of all the seeds
        self._sigs: dict = {}  # problem id -> MinHash signature
        self._benchmark: set[str] = set()  # ids of verified, non-duplicate problems
        self._executor = ThreadPoolExecutor(
            max_workers=max(2, sandbox.n_workers * 2), thread_name_prefix="sandbox"
        )
        # Embedding runs off the event loop, concurrent requests batched together.
        from .embed import BatchingEncoder

        self._encoder = BatchingEncoder(embedder)
        self._metrics = MetricsWorker()  # generation metrics, measured off the loop
        self._seeds: list[Problem] = []
        self._problems: dict[str, Problem] = {}
        self._pks: dict[str, int] = {}
        self._state: dict[str, Any] = {}
        self._started = time.monotonic()
        self._steps_at_start = 0
        self._session = int(time.time() * 1000) % 1_000_000_007  # this runner session

    # ------------------------------------------------------------------ state
    def _load(self) -> None:
        run = self.store.get_run(self.run_id)
        self._seeds = list(self.store.seed_set_problems(self.config.seed_set))
        self._problems = {p.id: p for p in self._seeds}
        for sp in self.store.problems(run_id=self.run_id):
            self._problems[sp.problem.id] = sp.problem
            if self._in_benchmark(sp.problem):
                self._benchmark.add(sp.problem.id)
            self._pks[sp.problem.id] = sp.pk
        state = dict(run.state or {})
        if not state.get("colonies"):
            state = self._initial_state()
            self.store.save_run_state(self.run_id, state)
        self._state = state
        if "endpoint" in state:  # a resumed run gives the endpoint a fresh chance
            state["endpoint"]["failed_in_a_row"] = 0
        self._steps_at_start = self._steps_done()
        self._log_step()  # this session's start: the baseline of its first step's sample

    def _warm(self) -> None:
        """Embedding work before the first step, run off the event loop (in a thread): the
        colonies' seeds in one batched pass (cached in the store across runs) instead of
        many small ones inside the steps, and the topic tagger's bank."""
        if self.config.k_farthest or self.tagger is not None:
            pool_ids = {i for col in self._state["colonies"] for i in col["pool"]}
            seeds = [p for p in self._seeds if p.id in pool_ids and p.id not in self._vectors]
            for p, v in zip(seeds, self._embed_texts([p.problem for p in seeds]), strict=True):
                self._vectors[p.id] = v
        if self.tagger is not None:
            self.tagger.warm()  # embeds the bank once
        cfg = self.config
        index = dedup.GrowingIndex(threshold=cfg.dedup_threshold, num_perm=cfg.dedup_permutations)
        sigs = index.signatures([p.problem for p in self._seeds])
        self._sigs.update({p.id: sig for p, sig in zip(self._seeds, sigs, strict=True)})
        index.add([p.id for p in self._seeds], sigs=sigs)
        self._seed_index = index
        self._resubmit_pending_metrics()
        _settle_heap()

    def _initial_state(self) -> dict[str, Any]:
        cfg = self.config
        ids = [p.id for p in self._seeds]
        colonies = []
        for c in range(cfg.colonies):
            rng = random.Random(f"infosynth:{cfg.random_state}:colony:{c}")
            pool = rng.sample(ids, min(cfg.seeds_per_colony, len(ids)))
            colonies.append({"pool": pool, "steps_done": 0})
        return {
            "version": 1,
            "generation": 1,
            "colonies": colonies,
            "counts": GenerationCounts().to_dict(),
            "generation_started": None,
            "verified": 0,
            "usage": Usage().to_dict(),
            "endpoint": _endpoint_tally(),
        }

    def _steps_done(self) -> int:
        s = self._state
        per_gen = self.config.colonies * self.config.steps_per_generation
        done_now = sum(c["steps_done"] for c in s["colonies"])
        return (s["generation"] - 1) * per_gen + done_now

    def _log_step(self) -> None:
        """One entry of the forecast's step log (:func:`infosynth_core.forecast.log_step`)."""
        from .forecast import log_step

        usage = self.spent().to_dict() if self.spent is not None else self._state["usage"]
        log_step(
            self._state,
            verified=self._state.get("verified", 0),
            usage=usage,
            session=self._session,
            now=time.time(),
        )

    def _save(self) -> None:
        if self.spent is not None:  # everything the endpoint billed, finished steps or not
            self._state["llm_spent"] = self.spent().to_dict()
        self.store.save_run_state(self.run_id, self._state)

    # ------------------------------------------------------------------ run
    async def run(self) -> str:
        """Run (or resume) to the end. Returns ``"finished"``, ``"stopped"`` (a control
        asked), ``"budget"`` (the token/cost cap was reached) or ``"endpoint_failed"`` (no
        call to the endpoint has succeeded and it keeps failing: see the module docstring)."""
        self._load()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._warm)
        cfg = self.config
        watch = LoopWatch()
        try:
            async with watch:
                while self._state["generation"] <= cfg.generations:
                    if self._state["verified"] >= cfg.n_problems:
                        break
                    g = self._state["generation"]
                    if self._state.get("generation_started") is None:
                        self._state["generation_started"] = time.time()
                        self._save()
                    await asyncio.gather(*(self._colony(c, g) for c in range(cfg.colonies)))
                    if self.stop_reason:
                        break
                    # dedup merge, statement embeddings, store writes: off the loop (a thread)
                    await loop.run_in_executor(self._executor, self._finish_generation, g)
                if not self.stop_reason:
                    self._write_metrics(await self._metrics.wait_all())
            # this session's event-loop stalls (:mod:`infosynth_core.loopwatch`), for diagnosis
            self._state["loop"] = watch.report()
            self._save()
            return self.stop_reason or "finished"
        finally:
            gc.unfreeze()  # what _settle_heap froze can be collected again
            self._metrics.close()  # a stopped run's last metrics stay pending until resumed
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._encoder.close()

    async def _colony(self, c: int, g: int) -> None:
        cfg = self.config
        while True:
            col = self._state["colonies"][c]
            if col["steps_done"] >= cfg.steps_per_generation or self.stop_reason:
                return
            if self._state["verified"] >= cfg.n_problems:
                return
            if self.control is not None and await self.control() == "stop":
                self.stop_reason = self.stop_reason or "stopped"
                return
            rng = step_rng(cfg.random_state, c, g, col["steps_done"])
            counts = GenerationCounts()
            try:
                new_ids = await self._step(c, g, col["steps_done"], rng, counts)
            except BudgetExceededError as exc:
                self.stop_reason = "budget"
                self.store.add_event(self.run_id, "error", "budget", str(exc), {"colony": c})
                return
            col = self._state["colonies"][c]
            col["pool"] = col["pool"] + new_ids
            col["steps_done"] += 1
            merged = GenerationCounts.from_dict(self._state["counts"])
            merged.add(counts)
            self._state["counts"] = merged.to_dict()
            self._state["usage"] = (Usage(**self._state["usage"]) + counts.usage()).to_dict()
            self._state["verified"] = len(self._benchmark)
            self._log_step()
            self._report(g)
            self._save()
            self._write_metrics(self._metrics.ready())

    @staticmethod
    def _in_benchmark(p: Problem) -> bool:
        return is_benchmark_item(p)

    def _report(self, g: int) -> None:
        """Progress into the checkpoint (read by the dashboard), and to ``progress``."""
        cfg = self.config
        total = cfg.generations * cfg.colonies * cfg.steps_per_generation
        done = self._steps_done()
        elapsed = time.monotonic() - self._started
        rate = (done - self._steps_at_start) / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else None
        info = {
            "generation": g,
            "generations": cfg.generations,
            "steps_done": done,
            "steps_total": total,
            "verified": self._state["verified"],
            "n_problems": cfg.n_problems,
            "eta_s": eta,
            "usage": self.spent().to_dict() if self.spent else self._state["usage"],
        }
        info["forecast"] = self._forecast_line(total - done)
        self._state["progress"] = info
        if self.progress is not None:
            self.progress(info)

    def _forecast_line(self, steps_left: int) -> str:
        from .forecast import forecast_from_log, format_forecast

        cfg, usage = self.config, self.spent() if self.spent is not None else None
        return format_forecast(
            forecast_from_log(
                self._state.get("step_log") or [],
                target=cfg.n_problems,
                verified=self._state["verified"],
                steps_left=steps_left,
                spent_tokens=usage.tokens if usage else 0,
                spent_usd=usage.cost_usd if usage else 0.0,
                budget_tokens=cfg.llm.budget_tokens if cfg.llm else None,
                budget_usd=cfg.llm.budget_usd if cfg.llm else None,
                draws=200,
            )
        )

    # ------------------------------------------------------------------ one step
    async def _step(
        self, c: int, g: int, s: int, rng: random.Random, counts: GenerationCounts
    ) -> list[str]:
        cfg = self.config
        pool = [
            self._problems[i] for i in self._state["colonies"][c]["pool"] if i in self._problems
        ]
        mutation = rng.random() < cfg.mutation_ratio or len(pool) < 2
        try:
            if mutation:
                parent = pool[rng.randrange(len(pool))]
                proposal = await self.engine.mutate(parent, rng=rng)
            else:
                batch = rng.sample(pool, min(cfg.crossover_batch, len(pool)))
                proposal = await self.engine.crossover(batch, count=cfg.crossover_count, rng=rng)
        except BudgetExceededError:
            raise
        except LLMError as exc:
            counts.step("mutation" if mutation else "crossover", api_error=True)
            self.store.add_event(
                self.run_id,
                "error",
                "api_error",
                f"colony {c} step {s}: {exc}",
                {"colony": c, "lost": "step"},
            )
            self._endpoint_failed(str(exc), step=True)
            return []
        counts.step("mutation" if mutation else "crossover", proposal=proposal)
        tally = self._endpoint()
        tally["steps_answered"] += 1
        tally["failed_in_a_row"] = 0
        for note in proposal.notes:
            self.store.add_event(self.run_id, "info", "engine", note, {"colony": c, "step": s})
        kept = await self._filter(proposal, pool, counts, c)
        ids = [f"g{g}-c{c}-s{s}-{j}" for j in range(len(kept))]
        for pid, (_cand, sig, _vec) in zip(ids, kept, strict=True):
            self._sigs[pid] = sig
        results = await asyncio.gather(
            *(
                self._verify(pid, cand, g, c, vec=vec)
                for pid, (cand, _sig, vec) in zip(ids, kept, strict=True)
            )
        )
        kept = [cand for cand, _sig, _vec in kept]
        results = await self._score_tests(results)
        for cand, problem in zip(kept, results, strict=True):
            status = "degenerate" if problem.metadata.get("degenerate") else problem.status
            counts.outcome(cand.operator, status, problem.metadata.get("usage", {}))
            if problem.metadata.get("api_error"):
                counts.verification_api_error()
        return ids

    async def _score_tests(self, problems: list[Problem]) -> list[Problem]:
        """Mutation score (test strength, :mod:`infosynth_core.mutants`) of the step's new
        benchmark items, in one sandbox batch off the event loop; stored in
        ``metadata.mutation_score``. Problems scored before a restart keep their score."""
        todo = [
            i
            for i, p in enumerate(problems)
            if self._in_benchmark(p) and "mutation_score" not in p.metadata
        ]
        if not todo or self.config.mutation_mutants == 0:
            return problems
        from .mutants import mutation_scores

        batch = [problems[i] for i in todo]
        scores = await asyncio.get_running_loop().run_in_executor(
            self._executor,
            lambda: mutation_scores(
                batch,
                self.sandbox,
                max_mutants=self.config.mutation_mutants,
                random_state=self.config.random_state,
            ),
        )
        out = list(problems)
        for i, score in zip(todo, scores, strict=True):
            p = out[i]
            meta = {**p.metadata, "mutation_score": score.to_dict()}
            out[i] = p.model_copy(update={"metadata": meta})
            self.store.update_problem(self._pks[p.id], out[i])
            self._problems[p.id] = out[i]
        return out

    # ------------------------------------------------------------------ endpoint failures
    def _endpoint(self) -> dict[str, Any]:
        return self._state.setdefault("endpoint", _endpoint_tally())

    def _endpoint_failed(self, message: str, *, step: bool) -> None:
        """Count an endpoint failure; stop the run when the endpoint never answered."""
        tally = self._endpoint()
        tally["last_error"] = message[:1000]
        if not step:
            tally["verifications_lost"] += 1
            return
        tally["steps_lost"] += 1
        tally["failed_in_a_row"] += 1
        limit = max(4, 2 * self.config.colonies)
        if tally["steps_answered"] == 0 and tally["failed_in_a_row"] >= limit:
            self.stop_reason = self.stop_reason or "endpoint_failed"

    def _index(self, c: int, pool: list[Problem]) -> dedup.GrowingIndex:
        """Colony ``c``'s MinHash-LSH index, brought up to date with its pool."""
        cfg = self.config
        index = self._indexes.get(c)
        if index is None:
            index = self._indexes[c] = dedup.GrowingIndex(
                threshold=cfg.dedup_threshold, num_perm=cfg.dedup_permutations
            )
        missing = [p for p in pool if p.id not in index]
        unsigned = [p for p in missing if p.id not in self._sigs]
        if unsigned:
            sigs = index.signatures([p.problem for p in unsigned])
            self._sigs.update({p.id: sig for p, sig in zip(unsigned, sigs, strict=True)})
        index.add([p.id for p in missing], sigs=[self._sigs[p.id] for p in missing])
        return index

    async def _filter(
        self, proposal: Proposal, pool: list[Problem], counts: GenerationCounts, c: int
    ) -> list[tuple[Candidate, Any, np.ndarray | None]]:
        """The step's candidates that are neither near-duplicates (of the colony, of any seed,
        of each other) nor dropped by k-farthest, each with its MinHash signature and, when
        one was computed, its embedding. Kept per call, not in a shared map: two colonies may
        propose the same statement at the same time."""
        cfg = self.config
        cands = [c for c in proposal.candidates if c.problem.strip()]
        for cand in cands:
            counts.bump(cand.operator, "proposed")
        if not cands:
            return []
        index = self._index(c, pool)
        sigs = index.signatures([cand.problem for cand in cands])
        hits = index.query(sigs)
        if self._seed_index is not None:  # a copy of any seed, in this colony or not
            hits = [h + s for h, s in zip(hits, self._seed_index.query(sigs), strict=True)]
        fresh, fresh_sigs = [], []
        for cand, sig, hit in zip(cands, sigs, hits, strict=True):
            twin = any(
                not sig.is_empty() and sig.jaccard(other) >= cfg.dedup_threshold
                for other in fresh_sigs
            )
            if hit or twin:  # near-duplicate of the pool or of an earlier candidate
                counts.bump(cand.operator, "duplicates")
            else:
                fresh.append(cand)
                fresh_sigs.append(sig)
        vecs: list[np.ndarray | None] = [None] * len(fresh)
        if cfg.k_farthest and len(fresh) > cfg.keep:
            cvec = await self._embed_async([c.problem for c in fresh])
            pvec = await self._pool_vectors(pool)
            chosen = sorted(int(i) for i in k_farthest(cvec, pvec, cfg.keep, mode=cfg.similarity))
            fresh = [fresh[i] for i in chosen]
            fresh_sigs = [fresh_sigs[i] for i in chosen]
            vecs = [cvec[i] for i in chosen]
        for cand in fresh:
            counts.bump(cand.operator, "kept")
        return list(zip(fresh, fresh_sigs, vecs, strict=True))

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embedder.encode(texts), dtype=np.float64)

    async def _embed_async(self, texts: list[str]) -> np.ndarray:
        return np.asarray(await self._encoder.encode(texts), dtype=np.float64)

    async def _pool_vectors(self, pool: list[Problem]) -> np.ndarray:
        missing = [p for p in pool if p.id not in self._vectors]
        if missing:
            vecs = await self._embed_async([p.problem for p in missing])
            for p, v in zip(missing, vecs, strict=True):
                self._vectors[p.id] = v
        return np.stack([self._vectors[p.id] for p in pool]) if pool else np.zeros((0, 1))

    # ------------------------------------------------------------------ verification
    async def _verify(
        self, pid: str, cand: Candidate, g: int, c: int, *, vec: np.ndarray | None = None
    ) -> Problem:
        existing = self._problems.get(pid)
        if existing is not None and existing.status != "unverified":
            return existing  # verified (or failed) before a restart: reuse, don't redo
        topics = tuple(cand.topics)
        if vec is None and (self.tagger is not None or self.config.k_farthest):
            vec = (await self._embed_async([cand.problem]))[0]
        if vec is not None:
            self._vectors[pid] = vec  # the pool's vector when this problem becomes a parent
        if not topics and self.tagger is not None and vec is not None:
            topics = tuple(self.tagger.tag_vectors(vec[None, :])[0])
        problem = Problem(
            id=pid,
            problem=cand.problem,
            solution=cand.solution,
            entry_point=cand.entry_point,
            topics=topics,
            difficulty=cand.difficulty,
            origin=Origin(operator=cand.operator, parents=cand.parents, generation=g, colony=c),
            metadata={
                "engine": self.engine.name,
                "model": self.engine.model,
                "payload": cand.payload,
            },
        )
        if pid in self._pks:
            pk = self._pks[pid]
            self.store.delete_attempts(pk)  # an unfinished verification is redone whole
            self.store.update_problem(pk, problem)
        else:
            pk = self.store.add_problems(self.run_id, [problem])[0]
            self._pks[pid] = pk
        self._problems[pid] = problem
        ver: Verification = await verify_candidate(
            cand,
            self.engine,
            self.sandbox,
            rounds=self.config.feedback_rounds + 1,  # the first solve, then N_it feedback rounds
            executor=self._executor,
            run_id=f"{self.run_id}-{pid}",
            on_attempt=lambda a: self.store.add_attempt(pk, a),
        )
        meta = dict(problem.metadata)
        if ver.api_error:
            self.store.add_event(
                self.run_id,
                "error",
                "api_error",
                f"{pid}: {ver.api_error}",
                {"colony": c, "lost": "verification"},
            )
            self._endpoint_failed(ver.api_error, step=False)
            meta["api_error"] = ver.api_error[:1000]
        meta["usage"] = ver.usage.to_dict()
        meta["rounds"] = len(ver.attempts)
        if ver.attempts and ver.attempts[-1].outcomes:
            last = ver.attempts[-1]
            meta["test_quality"] = {
                "tests": len(last.outcomes),
                "asserts": last.details.get("n_asserts"),
                "coverage": last.details.get("coverage"),
            }
        update: dict[str, Any] = {
            "status": ver.status if ver.status != "unverified" else "error",
            "solution": ver.solution,
            "tests": ver.tests,
            "entry_point": ver.entry_point,
            "metadata": meta,
        }
        if ver.status == "passed":
            findings = find_degeneracies(
                problem.model_copy(update=update),
                parents=[self._problems[i] for i in cand.parents if i in self._problems],
            )
            if findings:  # passed its tests, but not worth keeping: never a benchmark item
                meta["degenerate"] = [{"kind": f.kind, "detail": f.detail} for f in findings]
                self.store.add_event(
                    self.run_id,
                    "info",
                    "degenerate",
                    f"{pid}: " + "; ".join(f.detail for f in findings),
                    {"colony": c, "kinds": [f.kind for f in findings]},
                )
        if ver.status == "passed" and not meta.get("degenerate"):
            update["topics"], meta["tagger"] = await self._llm_topics(problem, pid)
        if ver.status == "passed" and self.config.rephrase and not meta.get("degenerate"):
            statement, usage = await self.engine.rephrase(problem)
            if statement:
                meta["original_problem"] = problem.problem
                meta["rephrase_usage"] = usage.to_dict()
                update["problem"] = statement
        final = problem.model_copy(update=update)
        self.store.update_problem(pk, final)
        self._problems[pid] = final
        if self._in_benchmark(final):
            self._benchmark.add(pid)
        return final

    async def _llm_topics(self, problem: Problem, pid: str) -> tuple[tuple[str, ...], str]:
        """Topics of a verified problem in an LLM run from the LLM topic tagger (paper §3.4;
        temperature 0, from the topic bank), the embedding tagger's as the fallback when the
        model names no bank topic or its call fails. Returns (topics, tagger name)."""
        fallback = (problem.topics, "embedding" if self.tagger is not None else "engine")
        tag = getattr(self.engine, "tag", None)
        if self.config.engine != "llm" or tag is None:
            return fallback
        try:
            topics, _usage = await tag(problem.problem)
        except (LLMError, BudgetExceededError) as exc:
            self.store.add_event(
                self.run_id, "warning", "tagger",
                f"{pid}: the LLM topic tagger failed ({exc}); embedding topics kept",
            )  # fmt: skip
            return fallback
        return (tuple(topics), "llm") if topics else fallback

    # ------------------------------------------------------------------ metrics
    def _submit_metrics(self, g: int, benchmark: list[Problem]) -> dict[str, Any]:
        """Hand generation ``g``'s vectors to the background worker: ``{"pending": ...}``,
        or ``{"skipped": why}`` when there is nothing to measure."""
        cfg = self.config
        found = metrics_inputs(self._seeds, benchmark, self._embed_texts, cfg.metrics, g)
        if isinstance(found, dict):
            return found
        self._metrics.submit(g, *found, cfg.metrics.model_dump(), cfg.random_state)
        return {"pending": PENDING}

    def _write_metrics(self, measured: dict[int, dict[str, Any]]) -> None:
        """Put measured metrics into their generations' records."""
        if not measured:
            return
        for rec in self.store.generation_metrics(self.run_id):
            g = rec["generation"]
            if g in measured:
                self.store.record_generation(self.run_id, g, {**rec, "metrics": measured[g]})

    def _resubmit_pending_metrics(self) -> None:
        """A resumed run measures the generations a stop left ``pending``."""
        for rec in self.store.generation_metrics(self.run_id):
            if "pending" in (rec.get("metrics") or {}):
                g = rec["generation"]
                benchmark = [
                    p
                    for p in self._problems.values()
                    if self._in_benchmark(p) and p.origin.generation <= g
                ]
                measured = self._submit_metrics(g, benchmark)
                if "pending" not in measured:
                    self._write_metrics({g: measured})

    # ------------------------------------------------------------------ generation end
    def _finish_generation(self, g: int) -> None:
        cfg = self.config
        verified = [
            p
            for p in self._problems.values()
            if p.origin.operator != "seed" and p.status == "passed"
        ]
        merged = 0
        fresh = [p for p in verified if "duplicate_of" not in p.metadata]
        groups = dedup.near_duplicates(
            [p.id for p in fresh],
            [p.problem for p in fresh],
            threshold=cfg.dedup_threshold,
            num_perm=cfg.dedup_permutations,
        )
        for group in groups:
            for pid in group.ids:
                if pid == group.kept:
                    continue
                p = self._problems[pid]
                meta = dict(p.metadata)
                meta["duplicate_of"] = group.kept
                updated = p.model_copy(update={"metadata": meta})
                self.store.update_problem(self._pks[pid], updated)
                self._problems[pid] = updated
                self._benchmark.discard(pid)
                merged += 1
        benchmark = [p for p in self._problems.values() if self._in_benchmark(p)]
        started = self._state.get("generation_started") or time.time()
        record = generation_record(
            g,
            GenerationCounts.from_dict(self._state["counts"]),
            seeds=self._seeds,
            benchmark=benchmark,
            metrics=self._submit_metrics(g, benchmark),
            seconds=time.time() - started,
            merge_duplicates=merged,
        )
        self.store.record_generation(self.run_id, g, record)
        self._state.update(
            {
                "generation": g + 1,
                "counts": GenerationCounts().to_dict(),
                "generation_started": None,
                "verified": len(benchmark),
            }
        )
        for col in self._state["colonies"]:
            col["steps_done"] = 0
        self._save()
        _settle_heap()


def _settle_heap() -> None:
    """Collect, then freeze what survives (``gc.freeze``), at moments when no request is in
    flight (before the first step, at each generation's end).

    A loaded runner holds about 600,000 objects tracked by the garbage collector, nearly all
    of them the code of torch, transformers, pydantic and openai. A full collection walks them
    all: 150–400 ms with the GIL held, on whichever thread triggered it, during which the event
    loop reads no answer (measured with ``bench/loop.py``: the loop's longest stall was 0.45 s
    at c = 16). Frozen objects are skipped by later collections, so those cost only what the
    run allocated since. ``Evolution.run`` unfreezes at its end.
    """
    gc.collect()
    gc.freeze()
