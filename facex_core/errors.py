"""Exceptions for failures a user can cause and fix: the CLI prints them without a traceback (unless
``FACEX_DEBUG=1``) and exits with status 2; any other exception is a bug and keeps its traceback."""


class UserError(Exception):
    """A failure the user can fix: the message names the culprit (file, key, value) and the fix."""


class ConfigError(UserError, ValueError):
    """A config value is missing, unknown, of the wrong type or out of range; names key path and source."""


class RegistryError(UserError, LookupError):
    """A component cannot be resolved: unknown, ambiguous or provided by a broken plugin."""


class DataError(UserError, ValueError):
    """An input file is missing a part, malformed or unsafe to load; names the file (and line or record)."""


class NonFiniteError(UserError, FloatingPointError):
    """Training diverged, or a model's weights or outputs are NaN/infinite; says where and what to change."""
