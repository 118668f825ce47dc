"""Measure one peer: ``python -m bench.peers.measure rq_bench --variant simple``.

See bench/peers/common.py for what is measured and how.
"""

from __future__ import annotations

import sys

from bench.peers.common import main

if __name__ == "__main__":
    sys.exit(main())
