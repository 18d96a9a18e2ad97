"""The errors kgan raises for things a user can fix; the CLI prints them as one line."""


class KganError(Exception):
    """A problem the user can act on; its message is shown as one line."""

    exit_code = 2


class DataError(KganError):
    """The image folder is missing, empty, or holds nothing usable."""


class OptionError(KganError):
    """An option is impossible or clashes with another one."""


class RunError(KganError):
    """A run folder or checkpoint is missing, incomplete or damaged."""


class TrainingDiverged(KganError):
    """A loss became NaN or infinite; training stopped to keep the last good checkpoint."""

    exit_code = 1
