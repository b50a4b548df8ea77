"""Exceptions for failures a user can cause and fix (kept light so the CLI catches them cheaply).

The command line prints a :class:`UserError` as one line (or a short block) naming the file or key
and the fix, and exits with status 2; anything else is a bug in FaceX or a plugin and keeps its
traceback. ``FACEX_DEBUG=1`` shows the traceback of user errors too.
"""


class UserError(Exception):
    """A failure the user can fix: the message names the culprit (file, key, value) and the fix."""


class ConfigError(UserError, ValueError):
    """A config value is missing, unknown, of the wrong type or out of range; names key path and source."""


class RegistryError(UserError, LookupError):
    """A component cannot be resolved: unknown, ambiguous or provided by a broken plugin."""


class DataError(UserError, ValueError):
    """An input file (train list, pairs file, image, record file, checkpoint, ...) is missing a part,
    malformed or unsafe to load; the message names the file (and line or record)."""


class NonFiniteError(UserError, FloatingPointError):
    """Training diverged, or a model's weights or outputs are NaN/infinite; says where and what to change."""
