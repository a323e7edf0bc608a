"""Each trial a Ray task with its own CPU/GPU request, retried when its worker dies; joins
`ray_address` or starts a local instance. Ray is imported only when this executor is built."""
from __future__ import annotations

import socket
from typing import Any, Callable, Iterator, Sequence

from ..errors import DistillnasError
from .base import EXECUTORS, ExecutionConfig, Executor, WorkQueue


@EXECUTORS.register("ray", 'trials as Ray tasks, on this machine or a cluster')
class RayExecutor(Executor):
    """Trials run as Ray tasks on a local instance or a cluster, re-run when a worker dies."""
    def __init__(self, cfg: ExecutionConfig) -> None:
        import ray

        self.ray, self.cfg = ray, cfg
        self.started = False
        if not ray.is_initialized():
            if cfg.ray_address:
                ray.init(address=cfg.ray_address, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(include_dashboard=False, log_to_driver=False)
            self.started = True

    CONNECT_TIMEOUT_S = 5.0

    @classmethod
    def check(cls, cfg: ExecutionConfig) -> None:
        """A `ray_address` must be host:port (or ray://host:port, or auto) and answer within
        seconds: Ray itself retries an unreachable cluster for minutes."""
        address = cfg.ray_address
        if address is None or address == "auto":
            return
        host, port = parse_address(address)
        try:
            socket.create_connection((host, port), timeout=cls.CONNECT_TIMEOUT_S).close()
        except OSError as e:
            reason = "timed out" if isinstance(e, socket.timeout) else (e.strerror or type(e).__name__)
            raise DistillnasError(f"--ray-address {address!r}: no Ray cluster answers at {host}:{port} ({reason} "
                                  f"within {cls.CONNECT_TIMEOUT_S:g} s); start one with 'ray start --head' or "
                                  "leave --ray-address out to start a local instance") from None

    @classmethod
    def trial_threads(cls, cfg: ExecutionConfig) -> int:
        """A Ray worker gets its CPU share: oversubscribed OpenMP threads were measured 20x slower
        on 2 cores."""
        return cfg.threads or max(1, int(cfg.cpus_per_trial))

    def _remote(self, fn: Callable[..., Any]) -> Any:
        return self.ray.remote(fn).options(num_cpus=self.cfg.cpus_per_trial, num_gpus=self.cfg.gpus_per_trial,
                                           max_retries=self.cfg.retries, retry_exceptions=False)

    def _get(self, ref: Any) -> Any:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as e:  # re-raise our own errors as themselves
            cause = getattr(e, "cause", None)
            if isinstance(cause, DistillnasError):
                raise cause from None
            raise

    def map(self, fn: Callable[..., Any], items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        remote = self._remote(fn)
        pending = {remote.remote(*item): i for i, item in enumerate(items)}
        while pending:
            done, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), self._get(ref)

    def capacity(self) -> int:
        """Trials the cluster runs at once (by CPUs, and by GPUs when trials ask for a fraction of
        one: gpus_per_trial 0.25 puts four on each GPU): jobs are submitted only as slots free
        up, so a job queued later with a higher priority (a promotion) still runs before older ones."""
        total = self.ray.cluster_resources()
        slots = int(float(total.get("CPU", 1.0)) // self.cfg.cpus_per_trial)
        if self.cfg.gpus_per_trial > 0:
            slots = min(slots, int(float(total.get("GPU", 0.0)) / self.cfg.gpus_per_trial + 1e-9))
        return max(1, slots)

    def drain(self, queue: WorkQueue) -> Iterator[tuple[Any, Any]]:
        remotes: dict[Callable[..., Any], Any] = {}
        pending: dict[Any, Any] = {}
        limit = self.capacity()
        while True:
            while len(pending) < limit and (job := queue.pop()) is not None:
                key, fn, args = job
                if fn not in remotes:
                    remotes[fn] = self._remote(fn)
                remote = remotes[fn]
                pending[remote.remote(*args)] = key
            if not pending:
                return
            done, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), self._get(ref)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def parse_address(address: str) -> tuple[str, int]:
    """(host, port) of a Ray address `host:port` or `ray://host:port`; a clear error otherwise."""
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or any(c.isspace() for c in rest) or not port.isdigit() or not 0 < int(port) < 65536:
        raise DistillnasError(f"--ray-address {address[:200]!r} is not a Ray address: give host:port (the head "
                              "node's GCS, e.g. 127.0.0.1:6379), ray://host:port or auto")
    return host, int(port)
