"""CLI command groups, one module each; engine.cli registers them (COMMAND_MODULES)."""

from engine.errors import InputError


def check_time_limit(value: float | None, option: str = "--time-limit") -> None:
    """A time limit is a positive number of seconds (negatives and NaN are refused, not ignored)."""
    if value is not None and not value > 0:
        raise InputError(f"must be a positive number of seconds, got {value:g}", path=option)


def check_at_least(value: int | None, least: int, option: str) -> None:
    """Counts such as --threads: refused below ``least`` instead of reaching a solver."""
    if value is not None and value < least:
        raise InputError(f"must be at least {least}, got {value}", path=option)
