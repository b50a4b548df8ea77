"""Exceptions users see (kept in a light module so the CLI can catch them without heavy imports)."""


class ConfigError(ValueError):
    """A config value is missing, unknown or of the wrong type; the message names key path and source."""


class RegistryError(LookupError):
    """A component cannot be resolved: unknown, ambiguous or provided by a broken plugin."""
