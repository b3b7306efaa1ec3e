"""Fuzzes the codec's decoder (``Codec.loads``) on arbitrary bytes, see fuzz/README.md.

Usage: ``python fuzz/fuzz_codec.py [libFuzzer flags] [corpus directories]``.
"""

import _harness

if __name__ == "__main__":
    _harness.main(_harness.codec_target())
