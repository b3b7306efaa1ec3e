"""Review finding: a bot data member's stale copy hides a later change (data loss).

When a member changes to a value whose copy cannot be kept (a set of tuples, a dict with a
non-str key, ...), ``Rounds._encode_members`` writes its new line but leaves the member's
previous copy in ``state.copies`` (``codec.copies`` returns nothing for it). When the
application then sets the member back to its previous value, the comparison with the stale
copy says "unchanged": nothing is written and the file keeps the value in between.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from jsonpersist import JsonPersistence


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ([1, 2], {(1, 2)}),
        ({"a": 1}, {"a": 1, ("t",): 2}),
        ("hello", {1.5: "x"}),
    ],
    ids=["set-of-tuples", "tuple-key", "float-key"],
)
async def test_a_member_set_back_to_its_earlier_value_is_saved(
    tmp_path: Path, first: Any, second: Any
) -> None:
    persistence = JsonPersistence(tmp_path)
    bot_data = await persistence.get_bot_data()
    for value in (first, second, first):
        bot_data["x"] = value
        await persistence.update_bot_data(copy.deepcopy(bot_data))  # as PTB hands it over
    await persistence.flush()

    again = JsonPersistence(tmp_path)
    try:
        assert (await again.get_bot_data())["x"] == first
    finally:
        await again.flush()
