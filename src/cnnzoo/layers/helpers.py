"""Small arithmetic shared by the families."""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round `value` to the nearest multiple of `divisor`, never dropping below 90% of it.

    The channel rounding of the MobileNet papers' reference code (`_make_divisible`).
    """
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return new_value
