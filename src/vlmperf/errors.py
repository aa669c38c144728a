"""Errors a user can fix. The CLI prints their message on one line and exits with code 2."""


class VlmperfError(Exception):
    """Base of every error vlmperf raises on purpose."""


class ConfigError(VlmperfError):
    """A configuration value is wrong; the message names the key, the file and what is allowed."""


class InputError(VlmperfError):
    """An input (model path, image, dataset) is missing or unusable; the message says what to fix."""
