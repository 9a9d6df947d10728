"""The twin markets: what the same number of ads would earn (true reward) if their
elements were chosen uniformly at random (what the existing app effectively does) or by
the oracle (the best elements under the truth). No database needed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from sim.truth import BrandTruth, Truth


@dataclass(frozen=True)
class TwinDay:
    random_rewards: tuple[float, ...]
    oracle_reward: float
    # The same ads on the brand's objective metric (Truth.objective_metric).
    random_metrics: tuple[float, ...] = ()
    oracle_metric: float | None = None


@dataclass(frozen=True)
class TwinMarkets:
    truth: Truth
    seed: int | None = None

    def random_ads(self, brand: BrandTruth | int, day: date, n: int) -> list[dict[str, str]]:
        """The elements of `n` uniformly random ads of `brand` on `day` (seeded per day)."""
        b = self.truth.brand(brand)
        seed = self.truth.seed if self.seed is None else self.seed
        rng = np.random.default_rng([seed, 5, b.index, day.toordinal()])
        return [self.truth.random_tags(rng) for _ in range(n)]

    def random_rewards(self, brand: BrandTruth | int, day: date, n: int) -> tuple[float, ...]:
        """True rewards of `n` uniformly random ads of `brand` on `day`."""
        return tuple(self.truth.true_reward(brand, t) for t in self.random_ads(brand, day, n))

    def day(self, brand: BrandTruth | int, day: date, n: int) -> TwinDay:
        ads = self.random_ads(brand, day, n)
        return TwinDay(
            tuple(self.truth.true_reward(brand, t) for t in ads),
            self.truth.oracle_reward(brand),
            tuple(self.truth.true_metric(brand, t) for t in ads),
            self.truth.oracle_metric(brand),
        )
