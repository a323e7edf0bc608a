"""How one batch is evaluated: zero-cost screening, the first rung (with free repeats), and
successive halving over fidelities - synchronous (rung by rung, deterministic) or asynchronous
(ASHA: promotions queued as results arrive). Everything is derived from the store, so a batch
killed at any point resumes without losing or repeating a stored trial."""
from __future__ import annotations

import math
from typing import Any, Callable

from .config import SearchConfig
from .errors import DistillnasError
from .evaluators import Evaluator
from .execution import Executor, WorkQueue
from .progress import SearchProgress
from .reward import RewardConfig
from .selection import promotion_order
from .spaces import SearchSpace
from .store import TrialStore


def screen_batch(store: TrialStore, b: int, archs: list, space: SearchSpace, evaluator: Evaluator) -> None:
    """Over-sampled batch: score the new archs with the evaluator's cheap screen and store all
    but the best 1/k as 'screened' (free, never trained, not told), in one transaction. The
    scores are deterministic, so a batch killed before this pass is screened the same way on
    resume, and one killed after it is not screened twice."""
    k = evaluator.oversample
    done = store.batch_results(b)
    if k <= 1 or any(r["status"] == "screened" for r in done.values()):
        return
    first: dict[str, int] = {}
    for slot, tokens in enumerate(archs):
        arch = space.to_string(tokens)
        if slot not in done and arch not in first and store.find(arch, evaluator.rungs(b)[0]) is None:
            first[arch] = slot
    keep = -(-len(archs) // k)  # the batch the strategy would have asked for without the screen
    if len(first) <= keep:
        return
    slots = list(first.values())
    scores = evaluator.screen([archs[s] for s in slots])
    ranked = sorted(range(len(slots)), key=lambda i: -scores[i]["value"])
    store.add_trials(b, {slots[i]: {"arch": space.to_string(archs[slots[i]]), "tokens": list(archs[slots[i]]),
                                    "status": "screened", "wall_s": scores[i]["wall_s"],
                                    "extra": {"screen": {scores[i]["score"]: scores[i]["value"]}}}
                         for i in ranked[keep:]}, kept={slots[i]: scores[i]["value"] for i in ranked[:keep]})


def _seed(cfg: SearchConfig, b: int, slot: int) -> int:
    return cfg.strategy.seed * 100_003 + b * 1000 + slot


def _promotions(store: TrialStore, b: int, n: int, evaluator: Evaluator,
                reward: RewardConfig, objectives: int = 1) -> list[dict[int, int]]:
    """The bracket of batch b as far as its stored results decide it: per rung after the first,
    {slot: the slot of rung 0 it continues}. The best ceil(k / eta) of a rung's k archs in
    `promotion_order` (by reward; by constrained Pareto rank for a two-objective strategy) go
    on; deterministic, so a resumed batch promotes the same archs."""
    rungs, results = evaluator.rungs(b), store.batch_results(b)
    if len(rungs) < 2 or any(s not in results for s in range(n)):
        return []
    alive = {s: s for s in range(n) if results[s]["status"] != "screened"}
    out: list[dict[int, int]] = []
    offset = n
    for _ in rungs[1:]:
        if any(s not in results for s in alive):
            break  # the rung is unfinished: no promotion yet
        k = math.ceil(len(alive) / evaluator.eta)
        ok = promotion_order({s: results[s] for s in alive}, reward, objectives, _strata(evaluator, k))
        alive = {offset + i: alive[s] for i, s in enumerate(ok[:k])}
        out.append(alive)
        offset += k
    return out


def _strata(evaluator: Evaluator, promoted: int) -> int:
    """`promotion_order`'s cost strata: one per promoted arch under `fidelity.promote: strata`, else 0."""
    return promoted if evaluator.promote == "strata" else 0


def told_results(store: TrialStore, b: int, n: int, evaluator: Evaluator) -> dict[int, dict]:
    """Per slot of rung 0, the result the strategy is told: its result at the highest rung the
    arch reached in this batch (promotions are the slots past n, with extra.origin and rung), or
    at its first rung when the evaluator says so."""
    results = store.batch_results(b)
    told = {s: results[s] for s in range(n)}
    if evaluator.tell_first:
        return told
    best_rung = {s: 0 for s in range(n)}
    for s, r in sorted(results.items()):
        if s >= n and r["extra"].get("rung", 0) > best_rung.get(r["extra"].get("origin"), -1):
            best_rung[r["extra"]["origin"]] = r["extra"]["rung"]
            told[r["extra"]["origin"]] = r
    return told


def run_batch(store: TrialStore, b: int, archs: list, space: SearchSpace, evaluator: Evaluator,
               executor: Executor | None, cfg: SearchConfig, bar: SearchProgress, objectives: int = 1) -> int:
    """Evaluate batch b's first rung, then (successive halving) promote and continue its best
    archs rung by rung (ranked by the strategy's `objectives`); returns how many evaluations were paid."""
    rungs = evaluator.rungs(b)
    if len(rungs) > 1 and evaluator.asynchronous:
        return _run_asha(store, b, archs, space, evaluator, executor, cfg, bar, rungs, objectives)
    paid = _run_first_rung(store, b, archs, space, evaluator, executor, cfg, bar, rungs[0])
    for r in range(1, len(rungs)):
        promoted = _promotions(store, b, len(archs), evaluator, cfg.reward, objectives)
        if len(promoted) < r:
            raise DistillnasError(f"batch {b}: rung {r} cannot start, rung {r - 1} is unfinished")
        done = store.batch_results(b)
        origin = promoted[r - 1]
        todo, copies = _plan_repeats(store, b, [(s, space.to_string(archs[origin[s]])) for s in origin], done,
                                     evaluator.reuse_repeats, rungs[r], bar, lambda s: {"origin": origin[s], "rung": r})
        if todo:
            _need(executor, b, todo)
            fn, first_arg = evaluator.task(rungs[r], rungs[r - 1])
            todo = _longest_first(evaluator, executor, todo, lambda s: archs[origin[s]])  # type: ignore[arg-type]
            items = [(first_arg, archs[origin[s]], _seed(cfg, b, origin[s])) for s in todo]
            for i, result in executor.map(fn, items):  # type: ignore[union-attr]
                res = result.as_dict()
                res["extra"].update(origin=origin[todo[i]], rung=r)
                store.add_trial(b, todo[i], res)
                bar.update(res)
        results = store.batch_results(b)
        for slot, src in copies.items():
            _store_copy(store, b, slot, results[src], bar, origin=origin[slot], rung=r)
        paid += len(todo)
    return paid


def _longest_first(evaluator: Evaluator, executor: Executor, slots: list[int],
                   tokens: Callable[[int], tuple[int, ...]]) -> list[int]:
    """The slots in decreasing expected work (stable), when trials run in parallel: the batch
    then ends with short trials instead of one long trial on one worker while the others idle."""
    if executor.capacity() < 2 or len(slots) < 2:
        return slots
    work = {s: evaluator.work(tokens(s)) for s in slots}
    return sorted(slots, key=lambda s: -work[s])


def _need(executor: Executor | None, b: int, todo: list[int]) -> None:
    if executor is None:
        raise DistillnasError(f"batch {b} has {len(todo)} unevaluated trials but the budget is spent; "
                              "raise search.trials to finish it")


def _run_first_rung(store: TrialStore, b: int, archs: list, space: SearchSpace, evaluator: Evaluator,
                    executor: Executor | None, cfg: SearchConfig, bar: SearchProgress,
                    fidelity: float | None) -> int:
    """Evaluate the slots of batch b that have no stored result and return how many were paid.

    A repeat - of an arch stored before, or of one earlier in this batch - is free: its
    result is copied (marked `reused_from`) and told to the strategy like any other, unless
    the evaluator says repeats score differently (weight sharing)."""
    todo, copies = _plan_first_rung(store, b, archs, space, evaluator, fidelity, bar)
    if todo:
        _need(executor, b, todo)
        todo = _longest_first(evaluator, executor, todo, lambda s: archs[s])  # type: ignore[arg-type]
        fn, first_arg = evaluator.task(fidelity) if fidelity is not None else evaluator.task()
        items = [(first_arg, archs[slot], _seed(cfg, b, slot)) for slot in todo]
        for i, result in executor.map(fn, items):  # type: ignore[union-attr]
            r = result.as_dict()
            store.add_trial(b, todo[i], r)
            bar.update(r)
    if copies:
        results = store.batch_results(b)
        for slot, src in copies.items():
            _store_copy(store, b, slot, results[src], bar)
    return len(todo)


def _plan_first_rung(store: TrialStore, b: int, archs: list, space: SearchSpace, evaluator: Evaluator,
                     fidelity: float | None, bar: SearchProgress) -> tuple[list[int], dict[int, int]]:
    """(slots to evaluate, {slot: the earlier slot of this batch it repeats}); repeats of an arch
    stored before (at this fidelity) are copied at once."""
    return _plan_repeats(store, b, [(slot, space.to_string(t)) for slot, t in enumerate(archs)],
                         store.batch_results(b), evaluator.reuse_repeats, fidelity, bar)


def _plan_repeats(store: TrialStore, b: int, slots: list[tuple[int, str]], done: dict, reuse: bool,
                  fidelity: float | None, bar: SearchProgress,
                  where: Callable[[int], dict[str, int]] = lambda s: {}) -> tuple[list[int], dict[int, int]]:
    """One rung's (slot, arch) pairs planned: a slot stored already is skipped, an arch stored
    before at this fidelity is copied at once (free, marked by `where(slot)`: a promotion's origin
    and rung), one met twice is trained once and copied; returns (slots to train, {slot: the
    slot it copies})."""
    todo: list[int] = []
    first: dict[str, int] = {}  # arch -> the slot of this batch that evaluates it
    copies: dict[int, int] = {}  # slot -> the slot it repeats
    for slot, arch in slots:
        if slot in done:
            first.setdefault(arch, slot)
            continue
        seen = store.find(arch, fidelity) if reuse else None
        if seen is not None:
            _store_copy(store, b, slot, seen, bar, **where(slot))
        elif reuse and arch in first:
            copies[slot] = first[arch]
        else:
            first[arch] = slot
            todo.append(slot)
    return todo, copies


def _store_copy(store: TrialStore, b: int, slot: int, seen: dict[str, Any], bar: SearchProgress,
                **where: int) -> None:
    """Store a free copy of a stored result in this slot (`where`: a promotion's origin and rung)."""
    reused = {**seen, "extra": {**seen["extra"], "reused_from": seen["id"], **where}, "wall_s": 0.0}
    if not where:  # a first-rung slot: the copied trial's own promotion marks do not apply
        for key in ("origin", "rung"):
            reused["extra"].pop(key, None)
    store.add_trial(b, slot, reused)
    bar.update(reused)


class _Asha:
    """Asynchronous successive halving inside one bracket (Li et al., "A System for Massively
    Parallel Hyperparameter Tuning", MLSys 2020): whenever a result arrives, an arch in the top
    floor(k / eta) of the k finished at its rung, and not yet promoted, is queued for the next
    rung ahead of waiting first-rung work, so no worker waits for a rung to finish. Once a rung
    can receive no more results, its top ceil(k / eta) are promoted (synchronous halving's
    count). State is rebuilt from the store, so a resumed bracket keeps every stored result."""

    def __init__(self, store: TrialStore, b: int, n: int, rungs: list, evaluator: Evaluator,
                 cfg: SearchConfig, objectives: int = 1) -> None:
        self.store, self.b, self.n, self.rungs, self.ev, self.cfg = store, b, n, rungs, evaluator, cfg
        self.objectives = objectives
        results = store.batch_results(b)
        self.at: list[dict[int, dict]] = [{} for _ in rungs]  # rung -> {slot: result}
        self.origin: dict[int, int] = {}
        for s, r in results.items():
            if r["status"] == "screened":
                continue
            k = 0 if s < n else r["extra"]["rung"]
            self.at[k][s], self.origin[s] = r, s if s < n else r["extra"]["origin"]
        self.promoted = [{self.origin[s] for s in self.at[k + 1]} for k in range(len(rungs) - 1)]
        self.pending = [0 for _ in rungs]
        self.next_slot = max([n - 1, *results]) + 1
        self.tasks = [evaluator.task(f, rungs[k - 1] if k else None) for k, f in enumerate(rungs)]

    def queue(self, queue: WorkQueue, k: int, slot: int, tokens: tuple) -> None:
        fn, first = self.tasks[k]
        queue.put((k, slot), fn, (first, tokens, _seed(self.cfg, self.b, self.origin[slot])), priority=k)
        self.pending[k] += 1

    def promote(self, queue: WorkQueue, archs: list, space: SearchSpace, bar: SearchProgress) -> None:
        """Queue every promotion the finished results allow; one whose arch is stored at the next
        rung already is copied (free) instead, and may promote further at once."""
        while self._promote_once(queue, archs, space, bar):
            pass

    def _promote_once(self, queue: WorkQueue, archs: list, space: SearchSpace, bar: SearchProgress) -> bool:
        copied = False
        for k in reversed(range(len(self.rungs) - 1)):
            final = not any(self.pending[: k + 1])
            quota = (math.ceil if final else math.floor)(len(self.at[k]) / self.ev.eta)
            for s in promotion_order(self.at[k], self.cfg.reward, self.objectives)[:quota]:
                if self.origin[s] not in self.promoted[k]:
                    new, self.next_slot = self.next_slot, self.next_slot + 1
                    self.origin[new] = self.origin[s]
                    self.promoted[k].add(self.origin[s])
                    tokens = archs[self.origin[s]]
                    seen = self.store.find(space.to_string(tokens), self.rungs[k + 1]) if self.ev.reuse_repeats else None
                    if seen is None:
                        self.queue(queue, k + 1, new, tokens)
                        continue
                    _store_copy(self.store, self.b, new, seen, bar, origin=self.origin[s], rung=k + 1)
                    self.at[k + 1][new], copied = self.store.batch_results(self.b)[new], True
        return copied


def _run_asha(store: TrialStore, b: int, archs: list, space: SearchSpace, evaluator: Evaluator,
              executor: Executor | None, cfg: SearchConfig, bar: SearchProgress, rungs: list,
              objectives: int = 1) -> int:
    todo, copies = _plan_first_rung(store, b, archs, space, evaluator, rungs[0], bar)
    state, queue, paid = _Asha(store, b, len(archs), rungs, evaluator, cfg, objectives), WorkQueue(), 0
    for slot in todo:
        state.origin[slot] = slot
        state.queue(queue, 0, slot, archs[slot])
    done = store.batch_results(b)
    for dup, src in [(d, s) for d, s in copies.items() if s in done]:  # repeats of a slot stored before a resume
        _store_copy(store, b, dup, done[src], bar)
        state.at[0][dup], state.origin[dup] = store.batch_results(b)[dup], dup
    copies = {d: s for d, s in copies.items() if s not in done}
    waiting = {src: [s for s, c in copies.items() if c == src] for src in set(copies.values())}
    state.pending[0] += len(copies)
    state.promote(queue, archs, space, bar)
    if len(queue):
        _need(executor, b, [0] * len(queue))
    for (k, slot), result in executor.drain(queue) if len(queue) else ():  # type: ignore[union-attr]
        res = result.as_dict()
        if k:
            res["extra"].update(origin=state.origin[slot], rung=k)
        store.add_trial(b, slot, res)
        bar.update(res)
        state.at[k][slot], paid = store.batch_results(b)[slot], paid + 1
        state.pending[k] -= 1
        for dup in waiting.get(slot, []) if k == 0 else []:
            _store_copy(store, b, dup, state.at[0][slot], bar)
            state.at[0][dup], state.origin[dup] = store.batch_results(b)[dup], dup
            state.pending[0] -= 1
        state.promote(queue, archs, space, bar)
    return paid
