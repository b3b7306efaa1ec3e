"""Fuzzes loading ``bot_data.json`` (read-only), see fuzz/README.md.

Usage: ``python fuzz/fuzz_load_bot_data.py [libFuzzer flags] [corpus directories]``.
"""

import _harness

if __name__ == "__main__":
    _harness.main(_harness.load_target("bot_data"))
