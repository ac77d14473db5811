"""The one error a user of `starchat eval` sees as a message instead of a traceback."""


class EvalError(Exception):
    """Bad input or an unusable environment, described so the user can fix it."""


class OtherRunError(EvalError):
    """The output folder holds results of a different run; nothing there was touched."""
