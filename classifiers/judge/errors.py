"""The judge's one error type, apart so the backends can raise it without importing the judge."""


class JudgeError(RuntimeError):
    """A judge that cannot work as configured (bad labels, a server without logprobs, ...)."""
