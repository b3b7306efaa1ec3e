"""Fuzzes loading ``callback_data.json`` (read-only), see fuzz/README.md.

Usage: ``python fuzz/fuzz_load_callback_data.py [libFuzzer flags] [corpus directories]``.
"""

import _harness

if __name__ == "__main__":
    _harness.main(_harness.load_target("callback_data"))
