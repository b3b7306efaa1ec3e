"""Review finding: a clean merge can hold one bot data key twice, and the bot refuses it.

Python takes ``1``, ``1.0`` and ``True`` for one dict key. Two branches that each added one
of them with different values write different JSON keys, so the merge driver merges them
cleanly (exit 0), and the result fails ``jsonpersist check`` and the bot's load ("the same
key appears twice"). Both sides added the same entry differently: that is a conflict.
"""

from __future__ import annotations

import pytest

from jsonpersist._merge import merge_texts

HEAD = b'[{"jsonpersist":2,"category":"bot_data"}\n'


@pytest.mark.parametrize("other", [b"true", b"1.0"])
def test_the_same_bot_data_key_added_on_both_sides_in_two_spellings_conflicts(
    other: bytes,
) -> None:
    base = HEAD + b',["a",1]\n]\n'
    ours = HEAD + b',[1,"one"]\n,["a",1]\n]\n'
    theirs = HEAD + b',["a",1]\n,[' + other + b',"two"]\n]\n'

    result = merge_texts(base, ours, theirs)

    assert result.conflicts
