"""Layer groups: the blocks of a layer table that hold weights, bottom to top.

Every tuning tool counts in groups: discriminative rates give each one a factor, gradual
unfreezing opens one per epoch from the top, the freeze sweep cuts between them. The top group
is the head (the block this package adds, or a user model's last block with weights).
"""


def groups(layers):
    """[(block, [layer indices])] for the blocks that hold weights, bottom to top."""
    found = {}
    for row in layers:
        if row.params:
            found.setdefault(row.block, []).append(row.index)
    return list(found.items())


def frozen_below_top(layers, count):
    """Names of the layers below the top `count` groups (1: the head alone trains), as the
    prefix `freeze_to` would freeze: every layer before the lowest of those groups."""
    found = groups(layers)
    count = max(1, min(count, len(found)))
    first = min(found[-count][1])
    return tuple(row.name for row in layers[:first])


def describe(count, found):
    """'head only', 'top 1 block', 'top 2 blocks', or 'everything' for `count` top groups."""
    if count >= len(found):
        return "everything"
    if count <= 1:
        return "head only"
    return f"head + top {count - 1} block{'s' if count > 2 else ''}"
