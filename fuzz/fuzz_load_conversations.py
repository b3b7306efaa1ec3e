"""Fuzzes loading ``conversations.json`` (read-only), see fuzz/README.md.

Usage: ``python fuzz/fuzz_load_conversations.py [libFuzzer flags] [corpus directories]``.
"""

import _harness

if __name__ == "__main__":
    _harness.main(_harness.load_target("conversations"))
