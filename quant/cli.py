"""Command-line pieces shared by the project's front ends (``python -m quant``, ``demo.py``,
``python -m verif.cosim``): an argument parser whose errors are one line, and argument types."""

import argparse

__all__ = ["ArgumentParser", "positive_int"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
