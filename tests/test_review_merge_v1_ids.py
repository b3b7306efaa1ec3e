"""Review finding: the merge driver reads version-1 ids the loader refuses, and changes them.

``jsonpersist check`` (and the bot's load) refuse a version-1 ``user_data.json`` whose id is
not written plainly (``"1_0"``, ``" 7"``, ``"+5"``, an Arabic-Indic digit one). The merge
driver converts it with ``int()`` instead: a clean merge (exit 0) that writes another id
(10, 7, 5, 1) into a file that now passes ``check``. docs/git.md says a side that is not a
state file goes to git's line merge and is reported as a conflict, so that a person looks at it.
"""

from __future__ import annotations

import orjson
import pytest

from jsonpersist import CorruptStateError
from jsonpersist._merge import merge_texts


@pytest.mark.parametrize("key", ["1_0", " 7", "+5", "\u0661"])
def test_a_version_1_id_the_loader_refuses_is_not_merged_as_another_id(key: str) -> None:
    raw = orjson.dumps({"jsonpersist": 1, "category": "user_data", "data": {key: {"a": 1}}})
    with pytest.raises(CorruptStateError):
        merge_texts(raw, raw, raw)
