"""Review finding: the merge driver orders bot data keys beyond 64 bits unlike the bot.

The bot writes an int key too large for a plain JSON number (``{"$int": "..."}``) among the
other int keys, in numeric order. The merge driver sorts it among the tagged keys, after the
str keys; the bot's next save moves the line back, a diff of a line nobody changed.
"""

from __future__ import annotations

from jsonpersist._merge import merge_texts

HEAD = b'[{"jsonpersist":2,"category":"bot_data"}\n'
BIG = b',[{"$int":"100000000000000000000"},9]\n'


def bot_data(*lines: bytes) -> bytes:
    return HEAD + b"".join(lines) + b"]\n"


def test_a_merge_keeps_the_bots_order_of_a_big_int_key() -> None:
    # As the bot writes them: ints (the big one included) in numeric order, then str keys.
    base = bot_data(b",[5,1]\n", BIG, b',["a",3]\n')
    ours = bot_data(b",[5,2]\n", BIG, b',["a",3]\n')
    theirs = bot_data(b",[5,1]\n", BIG, b',["a",4]\n')

    result = merge_texts(base, ours, theirs)

    assert not result.conflicts
    assert result.data == bot_data(b",[5,2]\n", BIG, b',["a",4]\n')
