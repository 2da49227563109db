"""M/M/k formulas: Poisson arrivals at rate λ, exponential service at rate μ per replica, k
replicas serving one first-come-first-served queue.

- offered load a = λ/μ; utilisation ρ = a/k; the queue is stable only when k > a.
- **the document's rule** for a utilisation target: replicas = ⌈λ / (μ·ρ_target)⌉.
- **Erlang C** (the standard formula; the source document's P_q is not it): the probability that
  an arrival waits, C(k, a) = (aᵏ/k!)·k/(k−a) / (Σ_{n<k} aⁿ/n! + (aᵏ/k!)·k/(k−a)), computed
  stably from the Erlang B recursion B(0) = 1, B(n) = a·B(n−1)/(n + a·B(n−1)),
  C = k·B / (k − a·(1 − B)).
- mean wait in the queue W_q = C / (kμ − λ).
- waiting-time distribution P(W_q > t) = C·e^{−(kμ−λ)t}, so the q-quantile of the wait is
  max(0, ln(C/(1−q)) / (kμ − λ)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError

MAX_REPLICAS = 1_000_000


class SizingError(InputError):
    """Rates or targets that describe no stable queue."""


def _positive(value: float, option: str, what: str) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise SizingError(f"{what} must be a positive finite number, got {value!r}", path=option)
    return float(value)


@dataclass(frozen=True)
class Queue:
    """An M/M/k queue: arrival rate λ and service rate μ per replica (per second)."""

    arrival: float
    service: float

    def __post_init__(self) -> None:
        _positive(self.arrival, "--arrival", "the arrival rate λ")
        _positive(self.service, "--service", "the service rate μ")

    @property
    def load(self) -> float:
        """Offered load a = λ/μ (replicas busy on average)."""
        return self.arrival / self.service

    def stable(self, k: int) -> bool:
        return k > self.load

    def check_stable(self, k: int) -> None:
        if not self.stable(k):
            raise SizingError(
                f"{k} replica(s) give utilisation λ/(kμ) = {self.load / k:.4g} ≥ 1: the queue "
                f"grows without bound (needs more than a = λ/μ = {self.load:.4g} replicas)",
                path="--replicas",
            )

    def utilisation(self, k: int) -> float:
        return self.load / k

    def p_wait(self, k: int) -> float:
        """Erlang C: the probability that an arrival waits (0 < C < 1 for a stable queue)."""
        self.check_stable(k)
        a = self.load
        b = 1.0
        for n in range(1, k + 1):
            b = a * b / (n + a * b)
        return k * b / (k - a * (1 - b))

    def mean_wait(self, k: int) -> float:
        return self.p_wait(k) / (k * self.service - self.arrival)

    def wait_above(self, k: int, t: float) -> float:
        """P(W_q > t)."""
        return self.p_wait(k) * math.exp(-(k * self.service - self.arrival) * t)

    def wait_quantile(self, k: int, q: float = 0.99) -> float:
        c = self.p_wait(k)
        if c <= 1 - q:
            return 0.0
        return math.log(c / (1 - q)) / (k * self.service - self.arrival)

    # ------------------------------------------------------------ sizing
    def replicas_for_utilisation(self, rho: float) -> int:
        """The document's rule: ⌈λ / (μ·ρ)⌉ (the fewest replicas with utilisation ≤ ρ)."""
        if not (math.isfinite(rho) and 0 < rho < 1):
            raise SizingError(
                f"the utilisation target ρ must lie strictly between 0 and 1, got {rho!r} "
                "(at ρ ≥ 1 the queue never empties)",
                path="--utilisation",
            )
        # a tiny tolerance keeps exact ratios (λ/(μρ) = 10.000000000000002) from rounding up
        return max(1, math.ceil(self.arrival / (self.service * rho) - 1e-9))

    def _smallest(self, ok: object, option: str, what: str) -> int:
        assert callable(ok)
        k = math.floor(self.load) + 1
        while not ok(k):
            k += 1
            if k > MAX_REPLICAS:
                raise SizingError(
                    f"no replica count up to {MAX_REPLICAS} meets {what}", path=option
                )
        return k

    def replicas_for_mean_wait(self, wait: float) -> int:
        _positive(wait, "--mean-wait", "the mean-wait target")
        return self._smallest(lambda k: self.mean_wait(k) <= wait, "--mean-wait", "the mean wait")

    def replicas_for_quantile(self, wait: float, q: float = 0.99) -> int:
        _positive(wait, "--p99-wait", "the p99-wait target")
        return self._smallest(
            lambda k: self.wait_quantile(k, q) <= wait, "--p99-wait", "the p99 wait"
        )


@dataclass(frozen=True)
class Row:
    target: str
    method: str
    replicas: int
    utilisation: float
    p_wait: float
    mean_wait: float
    p99_wait: float


def _row(queue: Queue, target: str, method: str, k: int) -> Row:
    return Row(
        target,
        method,
        k,
        queue.utilisation(k),
        queue.p_wait(k),
        queue.mean_wait(k),
        queue.wait_quantile(k, 0.99),
    )


def size(
    queue: Queue,
    *,
    utilisation: float | None = None,
    mean_wait: float | None = None,
    p99_wait: float | None = None,
    replicas: int | None = None,
) -> list[Row]:
    """One row per target (and for ``replicas``, the given count evaluated)."""
    rows = []
    if utilisation is not None:
        k = queue.replicas_for_utilisation(utilisation)
        rows.append(_row(queue, f"utilisation ≤ {utilisation:g}", "rule ⌈λ/(μ·ρ)⌉", k))
    if mean_wait is not None:
        k = queue.replicas_for_mean_wait(mean_wait)
        rows.append(_row(queue, f"mean wait ≤ {mean_wait:g}s", "Erlang C", k))
    if p99_wait is not None:
        k = queue.replicas_for_quantile(p99_wait)
        rows.append(_row(queue, f"p99 wait ≤ {p99_wait:g}s", "Erlang C", k))
    if replicas is not None:
        if replicas < 1:
            raise SizingError(f"must be at least 1, got {replicas}", path="--replicas")
        queue.check_stable(replicas)
        rows.append(_row(queue, f"{replicas} replicas", "Erlang C", replicas))
    if not rows:
        raise SizingError(
            "give a target: --utilisation RHO, --mean-wait SECONDS or --p99-wait SECONDS "
            "(or --replicas K to evaluate a count)"
        )
    return rows
