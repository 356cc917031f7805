"""Balanced adder trees (the depth of an ``L``-input sum is ``ceil(log2 L)`` adders, not ``L - 1``)."""

__all__ = ["tree_sum"]


def tree_sum(values):
    """Sum of Amaranth values as a balanced tree; widths grow by one bit per level, so nothing wraps."""
    values = list(values)
    if not values:
        raise ValueError("tree_sum needs at least one value")
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + values[len(values) & ~1:]
    return values[0]
