"""Hypothesis profiles of the suite and how many examples a property tries under each.

``placer`` (plain pytest, ``make test-all``, the run before landing): every property its full
count. ``placer-fast`` (``make test``, CI): a quarter of it, at least a few, so the fast set
still runs every property on varied inputs and the full count runs before each landing.
"""

from __future__ import annotations

from hypothesis import settings

FULL = "placer"
FAST = "placer-fast"
FAST_SHARE = 0.25
FAST_AT_LEAST = 4
DEFAULT_EXAMPLES = 100  # hypothesis' own default, for properties that do not name a count


def register() -> None:
    """Register both profiles and load the full one (``--hypothesis-profile`` picks another)."""
    # No test is timed: the machine is shared (2 cores, several engineers, CI), and speed is
    # measured in bench/. Hypothesis' own per-example deadline (200 ms) would make a property's
    # verdict depend on the load: 262 ms for a 0.7 ms example failed test_summary under load 18.
    settings.register_profile(FULL, deadline=None, max_examples=DEFAULT_EXAMPLES)
    settings.register_profile(FAST, deadline=None, max_examples=examples(DEFAULT_EXAMPLES, FAST))
    settings.load_profile(FULL)


def examples(full: int, profile: str | None = None) -> int:
    """The example count of a property whose full count is ``full``, under ``profile`` (by
    default the loaded one). Read when a test module is imported: the profile is loaded first."""
    if (profile or settings.get_current_profile_name()) != FAST:
        return full
    return min(full, max(FAST_AT_LEAST, round(full * FAST_SHARE)))
