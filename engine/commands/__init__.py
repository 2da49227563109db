"""CLI command groups, one module each; engine.cli registers them (COMMAND_MODULES)."""
