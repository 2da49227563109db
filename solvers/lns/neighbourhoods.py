"""Which bins to free next: guided choices (what limits the objective now) mixed with random ones.

Each strategy proposes about ``size`` bins from the incumbent's state; a share of every
neighbourhood is drawn at random so that the search keeps moving. Strategies that help are
chosen more often (adaptive weights, as in ALNS).

- ``unplaced``: bins an unplaced item (high priority first) could use, nearest to fitting;
- ``chain``: bins an unplaced item could use that hold items able to go elsewhere (which take
  the scarce bins' room), together with the roomiest bins those items may move to: one
  neighbourhood holds the whole move (an ejection chain);
- ``lp``: bins of one class of alike bins where the LP relaxation places more items than the
  incumbent does (chosen by that shortfall), and bins of classes holding more than the LP's;
- ``fair`` (``fairness`` objectives): bins where the tenants at the lowest weighted dominant
  share could place one more item (their groups are admitted first);
- ``stranded``: bins whose free capacity is lopsided (cpu left but no memory, GPUs but no cpu);
- ``fragment``: bins whose free amount of the scarcest node resource is too small for the items
  waiting for it;
- ``holes`` (devices): for one waiting device request (more devices likelier), bins whose free
  device room summed over their devices would hold it (fragmented GPUs: moving the shares on
  them together opens whole devices), and the bins with the most free device room that the
  device items on those may move to;
- ``idle`` (devices, a ``value`` level): for a waiting device request drawn by its value (e.g.
  GPUs), the bins where its devices would fit in place of one item worth less (a whole-GPU
  pod for an 810-milli share that strands 190), the most gainful and nearest to having the
  cpu and memory first, and the roomiest bins their items may move to — at the same pod
  count a plan gains value only by such swaps;
- ``relief`` (devices, a ``value`` level): for waiting device requests drawn by their value,
  the bins whose free devices would hold one but whose cpu or memory would not, and the bins
  with the most free cpu and memory (whatever their devices: full ones too) that the items
  worth less on those may move to — the LP relaxation moves cpu-heavy pods from nodes with idle
  GPUs to nodes whose GPUs are taken but whose cpu is not, and places GPU pods in their room;
- ``rule``: the bins of one domain of a rule, where rules conflict;
- ``traffic``: bins holding the two ends of an expensive traffic pair;
- ``cost``: bins holding the items whose cost is furthest above their cheapest eligible bin;
- ``bins``: the least loaded bins in use (to empty) and bins with room for their items;
- ``related``: a bin and bins the same groups may use;
- ``random``: bins at random.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.ir import Affinity, AntiAffinity, Spread

from ..lowering import Key, Lowered
from .bound import Classes
from .sizes import sizes

RANDOM_SHARE = 0.25  # of every guided neighbourhood
REWARD = 1.0
DECAY = 0.9
MIN_WEIGHT = 0.2
IDLE_TRIES = 8  # waiting groups ``idle`` draws, at most
IDLE_GROUPS = 3  # of which at most this many get swap bins in one neighbourhood
# of the neighbourhoods, with a value level: ``idle`` first. ``relief`` is left to the adaptive
# weights: with half of this share (session 6) seed 1 of the 500-node samples ended 1-14 GPUs
# lower in three runs against two of main's, the other seeds and a held-out list 1-4 pods or
# 3 GPUs higher: no better than noise
IDLE_SHARE = 0.5
RELIEF_TRIES = 8  # waiting groups ``relief`` draws, at most
RELIEF_GROUPS = 3  # of which at most this many get bins in one neighbourhood


@dataclass
class State:
    """The incumbent as arrays: load per bin, items per (group, bin), unplaced per group."""

    x: np.ndarray  # [groups, bins]
    load: np.ndarray  # [bins, resources]
    unplaced: np.ndarray  # [groups]

    @classmethod
    def of(cls, lowered: Lowered, counts: Mapping[Key, int]) -> State:
        x = np.zeros(lowered.high.shape, np.int64)
        gi, bi = lowered.group_index, lowered.bin_index
        for (g, b), n in counts.items():
            if n > 0:
                x[gi[g], bi[b]] += n
        load = x.T @ lowered.demand
        count = np.array([g.count for g in lowered.problem.items], np.int64)
        return cls(x, load, count - x.sum(axis=1))


@dataclass
class Chooser:
    lowered: Lowered
    rng: np.random.Generator
    weights: dict[str, float] = field(default_factory=dict)
    classes: Classes | None = None  # with ``lp``: the LP relaxation's items per class of bins
    lp: np.ndarray | None = None
    focus: frozenset[int] = frozenset()  # groups the last neighbourhood was drawn for
    tally: dict[str, list[int]] = field(default_factory=dict)  # strategy: [rounds, improved]

    def __post_init__(self) -> None:
        p = self.lowered.problem
        terms = {t for level in p.objective for t in level}
        active = ["random", "related", "unplaced", "chain", "stranded", "fragment"]
        if any(isinstance(c, AntiAffinity | Affinity | Spread) for c in p.constraints):
            active.append("rule")
        if p.traffic and "traffic" in terms:
            active.append("traffic")
        if "cost" in terms and any(g.cost for g in p.items):
            active.append("cost")
        if "bins_used" in terms:
            active.append("bins")
        tenants = [t.name for t in p.tenants]
        self.tenant_of = np.array(
            [tenants.index(g.tenant) if g.tenant in tenants else -1 for g in p.items], np.int64
        )
        self.tenant_weight = np.array([t.weight for t in p.tenants], np.float64)
        if "fairness" in terms and (self.tenant_of >= 0).any():
            active.append("fair")
        devices = self.lowered.devices
        # per group: its worth in the ``value`` term (0 when no level scores value)
        self.value = np.array([g.value if "value" in terms else 0.0 for g in p.items])
        if devices is not None and devices.bins and (devices.need > 0).any():
            active.append("holes")
            if (self.value[devices.need > 0] > 0).any():
                active.extend(("idle", "relief"))
            self._device_room()
        self.weights = dict.fromkeys(active, 1.0)
        cap = self.lowered.capacity.astype(np.float64)
        self.cap = np.where(cap > 0, cap, 1.0)
        measured = sizes(self.lowered)
        self.dominant = measured.dominant
        self.scarcity = measured.scarcity[: len(self.lowered.resources)]
        self.eligible = (self.lowered.high > 0).sum(axis=1)

    def guide(self, classes: Classes, x: np.ndarray) -> None:
        """Follow the LP relaxation's items per class of bins (``x``: [groups, classes])."""
        self.classes, self.lp = classes, x
        self.class_of = np.zeros(len(self.lowered.bins), np.int64)
        for c, members in enumerate(classes.members):
            self.class_of[members] = c
        self.weights.setdefault("lp", 1.0)

    def pick(self, state: State, size: int) -> tuple[str, list[int]]:
        self.focus = frozenset()
        if "idle" in self.weights and self.rng.random() < IDLE_SHARE:
            # the value level's own share of the neighbourhoods, whatever the adaptive weights
            # say: every improvement counts the same there, and the level-1 strategies improve
            # ties (packing) often, so ``idle`` was drawn 2 to 30 times in 70-90 rounds
            guided = self._idle(state, size)
            if guided is not None and len(guided):
                return "idle", self._fill(list(dict.fromkeys(guided))[:size], size)
        names = list(self.weights)
        w = np.array([self.weights[n] for n in names])
        for _ in range(4):
            name = names[int(self.rng.choice(len(names), p=w / w.sum()))]
            guided = getattr(self, f"_{name}")(state, size)
            if guided is not None and len(guided):
                return name, self._fill(list(dict.fromkeys(guided))[:size], size)
        return "random", self._random(state, size).tolist()

    def reward(self, name: str, improved: bool) -> None:
        for n in self.weights:
            self.weights[n] = max(MIN_WEIGHT, self.weights[n] * DECAY)
        if improved and name in self.weights:
            self.weights[name] += REWARD
        count = self.tally.setdefault(name, [0, 0])
        count[0] += 1
        count[1] += int(improved)

    # ------------------------------------------------------------------ helpers

    def _fill(self, chosen: list[int], size: int) -> list[int]:
        """Keep at most (1 - RANDOM_SHARE) of the guided bins, the rest at random."""
        keep = max(1, round(size * (1 - RANDOM_SHARE)))
        chosen = chosen[:keep]
        bins = len(self.lowered.bins)
        if bins <= size:
            return list(range(bins))
        taken = set(chosen)
        while len(chosen) < size:
            b = int(self.rng.integers(bins))
            if b not in taken:
                taken.add(b)
                chosen.append(b)
        return chosen

    def _sample(self, candidates: np.ndarray, score: np.ndarray, size: int) -> np.ndarray:
        """Up to ``size`` candidates, drawn with probability growing with the score."""
        if len(candidates) <= size:
            return candidates
        s = np.asarray(score, np.float64)
        s = s - s.min() + 1e-3
        p = s / s.sum()
        return self.rng.choice(candidates, size=size, replace=False, p=p)

    def _random(self, state: State, size: int) -> np.ndarray:
        bins = len(self.lowered.bins)
        return self.rng.choice(bins, size=min(size, bins), replace=False)

    # ------------------------------------------------------------------ strategies

    def _related(self, state: State, size: int) -> np.ndarray | None:
        """A bin and others that the same groups may use (items can move between them)."""
        lw = self.lowered
        seed = int(self.rng.integers(len(lw.bins)))
        groups = np.flatnonzero(lw.open[:, seed])
        if not len(groups):
            return None
        shared = lw.open[groups].sum(axis=0).astype(float)
        candidates = np.flatnonzero(shared > 0)
        free = (self._free_share(state)[candidates]).max(axis=1)
        picked = self._sample(candidates, shared[candidates] / len(groups) + free, size - 1)
        return np.concatenate([[seed], picked[picked != seed]])

    def _unplaced(self, state: State, size: int) -> np.ndarray | None:
        waiting = np.flatnonzero(state.unplaced > 0)
        if not len(waiting):
            return None
        lw = self.lowered
        weight = np.array([lw.placed_weight[lw.problem.items[g].name] for g in waiting], float)
        g = int(self.rng.choice(waiting, p=weight / weight.sum()))
        candidates = np.flatnonzero(lw.open[g])
        if not len(candidates):
            return None
        free = lw.capacity[candidates] - state.load[candidates]
        deficit = np.maximum(lw.demand[g] - free, 0) / self.cap[candidates]
        score = -deficit.sum(axis=1)
        # nearest to fitting first, and some of the rest
        return self._sample(candidates, score * 10, size)

    def _chain(self, state: State, size: int) -> np.ndarray | None:
        waiting = np.flatnonzero(state.unplaced > 0)
        if not len(waiting):
            return None
        lw = self.lowered
        weight = np.array([lw.placed_weight[lw.problem.items[g].name] for g in waiting], float)
        small = self.dominant[waiting]
        weight = weight / (small + (float(small.mean()) or 1.0))
        g = int(self.rng.choice(waiting, p=weight / weight.sum()))
        candidates = np.flatnonzero(lw.open[g])
        if not len(candidates):
            return None
        # room on them held by items that could go where g cannot
        flexible = (self.eligible > self.eligible[g]).astype(float) * self.dominant
        movable = flexible @ state.x[:, candidates]
        half = max(1, size // 2)
        scarce = self._sample(candidates, movable * 10, half)
        on = np.flatnonzero(state.x[:, scarce].sum(axis=1) * (self.eligible > self.eligible[g]))
        if not len(on):
            return scarce
        return self._and_roomiest(state, scarce, on, size)

    def _and_roomiest(
        self, state: State, chosen: np.ndarray, movers: np.ndarray, size: int
    ) -> np.ndarray:
        """``chosen``, then up to ``size`` bins in all: of the bins the ``movers`` (groups) may
        go to, the ones with the most free room (scarcity-weighted) likelier."""
        targets = np.flatnonzero(self.lowered.open[movers].any(axis=0))
        targets = targets[~np.isin(targets, chosen)]
        if not len(targets):
            return chosen
        room = self._free_share(state)[targets] @ self.scarcity
        return np.concatenate([chosen, self._sample(targets, room * 10, size - len(chosen))])

    def _lp(self, state: State, size: int) -> np.ndarray | None:
        if self.lp is None or self.classes is None:
            return None
        per_class = np.zeros_like(self.lp)
        np.add.at(per_class.T, self.class_of, state.x.T)
        short = np.maximum(self.lp - per_class, 0.0) * (state.unplaced > 0)[:, None]
        want = short.sum(axis=0)
        if want.sum() < 0.5:
            return None
        c = int(self.rng.choice(len(want), p=want / want.sum()))
        self.focus = frozenset(np.flatnonzero(short[:, c] > 0.5).tolist())
        inside = np.array(self.classes.members[c])
        half = self._sample(inside, self._free_share(state)[inside] @ self.scarcity, size // 2 or 1)
        # where the incumbent holds more than the LP: the items to move out of the way
        over = np.maximum(per_class - self.lp, 0.0).sum(axis=0)
        over[c] = 0.0
        if over.sum() < 0.5:
            return half
        others = np.flatnonzero(over[self.class_of] > 0)
        return np.concatenate([half, self._sample(others, over[self.class_of[others]], size // 2)])

    def _fair(self, state: State, size: int) -> np.ndarray | None:
        lw = self.lowered
        placed = state.x.sum(axis=1).astype(np.float64)
        usage = np.zeros((len(self.tenant_weight), lw.demand.shape[1]))
        mine = self.tenant_of >= 0
        np.add.at(usage, self.tenant_of[mine], placed[mine, None] * lw.demand[mine])
        total = lw.capacity.sum(axis=0).astype(np.float64)
        share = (usage / np.where(total > 0, total, 1.0)).max(axis=1) / self.tenant_weight
        waiting = np.flatnonzero((state.unplaced > 0) & mine)
        if not len(waiting):
            return None
        lowest = share[self.tenant_of[waiting]].min()
        groups = waiting[share[self.tenant_of[waiting]] <= lowest + 1e-12]
        self.focus = frozenset(groups.tolist())
        free = lw.capacity - state.load
        each = max(1, size // len(groups))
        picked: list[int] = []
        for g in self.rng.permutation(groups)[:size]:
            candidates = np.flatnonzero(lw.open[g])
            if not len(candidates):
                continue
            deficit = np.maximum(lw.demand[g] - free[candidates], 0) / self.cap[candidates]
            picked.extend(self._sample(candidates, -deficit.sum(axis=1) * 10, each).tolist())
        return np.array(picked) if picked else None

    def _free_share(self, state: State) -> np.ndarray:
        return (self.lowered.capacity - state.load) / self.cap

    def _stranded(self, state: State, size: int) -> np.ndarray | None:
        lw = self.lowered
        demanded = lw.demand.sum(axis=0) > 0
        if demanded.sum() < 2:
            return None
        share = self._free_share(state)[:, demanded]
        score = share.max(axis=1) - share.min(axis=1)
        used = np.flatnonzero(state.load.sum(axis=1) > 0)
        if not len(used):
            return None
        return self._sample(used, score[used] * 10, size)

    def _fragment(self, state: State, size: int) -> np.ndarray | None:
        lw = self.lowered
        waiting = state.unplaced > 0
        if not waiting.any():
            return None
        want = (lw.demand[waiting] * state.unplaced[waiting, None]).sum(axis=0).astype(float)
        free = (lw.capacity - state.load).sum(axis=0).astype(float)
        scarcity = np.where(want > 0, want / np.maximum(free, 1.0), 0.0)
        r = int(np.argmax(scarcity))
        if scarcity[r] <= 0:
            return None
        smallest = lw.demand[waiting, r][lw.demand[waiting, r] > 0]
        need = smallest.min() if len(smallest) else 1
        left = lw.capacity[:, r] - state.load[:, r]
        candidates = np.flatnonzero((left > 0) & (left < need))
        if not len(candidates):
            candidates = np.flatnonzero(left > 0)
        if not len(candidates):
            return None
        return self._sample(candidates, left[candidates] / self.cap[candidates, r], size)

    def _device_room(self) -> None:
        """Per bin its free device room (devices pooled, in device units: a whole device is
        one, a share its fraction of the bin's device) and the size of one device."""
        devices = self.lowered.devices
        assert devices is not None
        bins = len(self.lowered.bins)
        self.device_unit = np.ones((bins, len(devices.resources)))
        self.device_room = np.zeros(bins)
        for b, info in devices.bins.items():
            if not len(info.capacity):
                continue
            unit = info.capacity.max(axis=0)
            self.device_unit[b] = np.where(unit > 0, unit, 1)
            self.device_room[b] = (info.free / self.device_unit[b]).max(axis=1).sum()

    def _units(self, groups: np.ndarray, bins: np.ndarray) -> np.ndarray:
        """Device units one item of ``groups`` takes on ``bins`` (broadcast together: pairs,
        or a [groups, bins] table from a column and a row)."""
        devices = self.lowered.devices
        assert devices is not None
        shares = (devices.share[groups] / self.device_unit[bins]).max(axis=-1)
        return np.asarray(devices.need[groups] * np.where(devices.whole[groups], 1.0, shares))

    def _device_free(self, state: State, bins: np.ndarray) -> np.ndarray:
        """Free device room on each bin in the incumbent (pooled over its devices)."""
        gi, k = np.nonzero(state.x[:, bins])
        used = np.zeros(len(bins))
        np.add.at(used, k, state.x[gi, bins[k]] * self._units(gi, bins[k]))
        return np.asarray(self.device_room[bins] - used)

    def _holes(self, state: State, size: int) -> np.ndarray | None:
        lw = self.lowered
        devices = lw.devices
        assert devices is not None
        waiting = np.flatnonzero((state.unplaced > 0) & (devices.need > 0))
        if not len(waiting):
            return None
        weight = np.array([lw.placed_weight[lw.problem.items[g].name] for g in waiting], float)
        weight = weight * devices.need[waiting]
        g = int(self.rng.choice(waiting, p=weight / weight.sum()))
        return self._open_devices(state, size, g)

    def _valued_waiting(self, state: State, tries: int) -> np.ndarray | None:
        """Up to ``tries`` groups with waiting device requests that a ``value`` level scores,
        drawn likelier the more value they add (None: none waits)."""
        devices = self.lowered.devices
        assert devices is not None
        waiting = np.flatnonzero((state.unplaced > 0) & (devices.need > 0) & (self.value > 0))
        if not len(waiting):
            return None
        weight = self.value[waiting]
        return np.asarray(
            self.rng.choice(
                waiting, size=min(tries, len(waiting)), replace=False, p=weight / weight.sum()
            )
        )

    def _idle(self, state: State, size: int) -> np.ndarray | None:
        """For a ``value`` level (e.g. GPUs placed): waiting device requests, likelier the more
        value they add; for each, the bins where its devices would fit in place of one device
        item worth less (e.g. a whole-GPU pod for an 810-milli share that strands 190 milli: at
        the same pod count the plan gains the difference), the most gainful and nearest to
        having the node resources first — half the neighbourhood, several swaps at once; and
        the roomiest bins the items on those may move to (to give the newcomers the cpu and
        memory they take beyond the items they replace)."""
        drawn = self._valued_waiting(state, IDLE_TRIES)
        if drawn is None:
            return None
        half = max(1, size // 2)
        swaps: list[int] = []
        focus: set[int] = set()
        each = max(1, half // min(IDLE_GROUPS, len(drawn)))
        for g in drawn:
            mine = self._swaps(state, each, int(g), exclude=swaps)
            if mine is None:
                continue
            focus.add(int(g))
            swaps.extend(mine.tolist())
            if len(swaps) >= half or len(focus) >= IDLE_GROUPS:
                break
        if not swaps:
            return None
        self.focus = frozenset(focus)
        chosen = np.array(swaps)
        movers = np.flatnonzero(state.x[:, chosen].sum(axis=1) > 0)
        return self._and_roomiest(state, chosen, movers, size)

    def _relief(self, state: State, size: int) -> np.ndarray | None:
        """For a ``value`` level: waiting device requests, likelier the more value they add;
        for each, the bins whose free devices would hold it but whose cpu or memory (node
        resources) would not, the least short first — a third of the neighbourhood; then the
        bins with the most free node resources (the least free of those the movers take),
        whatever their free devices, that the items on the chosen bins worth less than the
        waiting requests may move to. The LP relaxation of the Alibaba samples does this:
        cpu-heavy pods off the nodes with idle GPUs onto nodes whose GPUs are taken but whose
        cpu is not, whole-GPU pods into the room."""
        lw = self.lowered
        drawn = self._valued_waiting(state, RELIEF_TRIES)
        if drawn is None:
            return None
        third = max(1, size // 3)
        each = max(1, third // min(RELIEF_GROUPS, len(drawn)))
        chosen: list[int] = []
        focus: set[int] = set()
        for g in drawn:
            candidates = np.flatnonzero(lw.open[g] & (self.device_room > 0))
            candidates = candidates[~np.isin(candidates, chosen)]
            if not len(candidates):
                continue
            fits = (
                self._device_free(state, candidates)
                >= self._units(np.full(len(candidates), g), candidates) - 1e-9
            )
            free = lw.capacity[candidates] - state.load[candidates]
            short = (np.maximum(lw.demand[g] - free, 0) / self.cap[candidates]).sum(axis=1)
            useful = fits & (short > 0)
            if not useful.any():
                continue
            picked = self._sample(candidates[useful], 10.0 / (1.0 + 5.0 * short[useful]), each)
            chosen.extend(picked.tolist())
            focus.add(int(g))
            if len(chosen) >= third or len(focus) >= RELIEF_GROUPS:
                break
        if not chosen:
            return None
        self.focus = frozenset(focus)
        bins = np.array(chosen)
        worth = max(self.value[g] for g in focus)
        movers = np.flatnonzero((state.x[:, bins].sum(axis=1) > 0) & (self.value < worth))
        if not len(movers):
            return bins
        targets = np.flatnonzero(lw.open[movers].any(axis=0))
        targets = targets[~np.isin(targets, bins)]
        if not len(targets):
            return bins
        taken = lw.demand[movers].sum(axis=0) > 0
        room = self._free_share(state)[np.ix_(targets, np.flatnonzero(taken))].min(axis=1)
        return np.concatenate([bins, self._sample(targets, room * 10, size - len(bins))])

    def _swaps(self, state: State, size: int, g: int, exclude: list[int]) -> np.ndarray | None:
        """``idle``'s bins for waiting group g, none of ``exclude`` (None: no swap gains)."""
        lw = self.lowered
        devices = lw.devices
        assert devices is not None
        candidates = np.flatnonzero(lw.open[g] & (self.device_room > 0))
        candidates = candidates[~np.isin(candidates, exclude)]
        if not len(candidates):
            return None
        free = lw.capacity[candidates] - state.load[candidates]  # node resources
        room = self._device_free(state, candidates)
        need = self._units(np.full(len(candidates), g), candidates)
        cap = self.cap[candidates]

        def short(given: np.ndarray) -> np.ndarray:  # node resources g still lacks, in shares
            return np.asarray((np.maximum(lw.demand[g] - free - given, 0) / cap).sum(axis=1))

        fits = room >= need - 1e-9
        score = np.where(fits, self.value[g] / (1.0 + 5.0 * short(np.zeros_like(free))), 0.0)
        for h in np.flatnonzero(devices.need > 0):
            if self.value[h] >= self.value[g]:
                continue
            on = state.x[h, candidates] > 0
            if not on.any():
                continue
            freed = room + self._units(np.full(len(candidates), h), candidates) >= need - 1e-9
            gain = (self.value[g] - self.value[h]) / (1.0 + 5.0 * short(lw.demand[h]))
            score = np.maximum(score, np.where(on & freed, gain, 0.0))
        useful = score > 0
        if not useful.any():
            return None
        return self._sample(candidates[useful], score[useful] * 10, size)

    def _open_devices(self, state: State, size: int, g: int) -> np.ndarray | None:
        """Bins where waiting group g's devices would fit once the device items on them that
        take fewer device units than g move together, and the bins with the most free device
        room those items may go to."""
        lw = self.lowered
        devices = lw.devices
        assert devices is not None
        self.focus = frozenset({g})
        candidates = np.flatnonzero(lw.open[g] & (self.device_room > 0))
        if not len(candidates):
            return None
        need = self._units(np.full(len(candidates), g), candidates)
        free = self._device_free(state, candidates)
        requests = np.flatnonzero(devices.need > 0)
        on = state.x[requests][:, candidates] > 0
        # items with devices that take less than g: moving them together opens room for g
        less = self._units(requests[:, None], candidates[None, :]) < need[None, :]
        parts = (on & less).sum(axis=0)
        score = np.minimum(free / np.maximum(need, 1e-9), 1.0) + 0.1 * np.minimum(parts, 5)
        holes = self._sample(candidates, score * 10, max(1, size // 2))
        movers = requests[(state.x[requests][:, holes] > 0).any(axis=1)]
        movers = movers[movers != g]
        if not len(movers):
            return holes
        targets = np.flatnonzero(lw.open[movers].any(axis=0) & (self.device_room > 0))
        targets = targets[~np.isin(targets, holes)]
        if not len(targets):
            return holes
        room = self._device_free(state, targets)
        return np.concatenate([holes, self._sample(targets, room * 10, size - len(holes))])

    def _rule(self, state: State, size: int) -> np.ndarray | None:
        lw = self.lowered
        rules = [
            c for c in lw.problem.constraints if isinstance(c, AntiAffinity | Affinity | Spread)
        ]
        c = rules[int(self.rng.integers(len(rules)))]
        domains = list(lw.domains(c.topology).values())
        if not domains:
            return None
        selected = [lw.group_index[g] for g in lw.problem.selected(c.selector)]
        on = state.x[selected].sum(axis=0) if selected else np.zeros(len(lw.bins))
        picked: list[int] = []
        for _ in range(3):
            members = domains[int(self.rng.integers(len(domains)))]
            idx = np.array([lw.bin_index[b] for b in members])
            picked.extend(self._sample(idx, on[idx].astype(float), max(1, size // 3)).tolist())
        return np.array(picked)

    def _traffic(self, state: State, size: int) -> np.ndarray | None:
        lw = self.lowered
        pairs = lw.problem.traffic
        volume = np.array([t.volume for t in pairs], float) + 1e-9
        tr = pairs[int(self.rng.choice(len(pairs), p=volume / volume.sum()))]
        a, b = (lw.group_index[n] for n in tr.items)
        holding = np.flatnonzero((state.x[a] + state.x[b]) > 0)
        return holding if len(holding) else None

    def _cost(self, state: State, size: int) -> np.ndarray | None:
        lw = self.lowered
        p = lw.problem
        excess = np.zeros(len(lw.bins))
        for g, group in enumerate(p.items):
            if not group.cost:
                continue
            on = np.flatnonzero(state.x[g])
            if not len(on):
                continue
            costs = np.array([group.cost.get(lw.bins[b].name, 0.0) for b in on])
            eligible = np.flatnonzero(lw.open[g])
            cheapest = min((group.cost.get(lw.bins[b].name, 0.0) for b in eligible), default=0.0)
            excess[on] += state.x[g, on] * (costs - cheapest)
        used = np.flatnonzero(excess > 0)
        if not len(used):
            return None
        return self._sample(used, excess[used], size)

    def _bins(self, state: State, size: int) -> np.ndarray | None:
        used = np.flatnonzero(state.load.sum(axis=1) > 0)
        if not len(used):
            return None
        fill = (state.load[used] / self.cap[used]).max(axis=1)
        light = self._sample(used, 1.0 - fill, max(1, size // 2))
        room = self._sample(used, fill, max(1, size // 2))
        return np.concatenate([light, room])
