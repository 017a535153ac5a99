"""The chef agent behind a module whose import waits until the test opens a gate.

``SILIK_TEST_GATE`` names a file; importing this module blocks until it exists
(at most 120 s: longer than a test waits for a kernel to be ready), so a test sees what the kernel does while its agent is loading.
"""

from __future__ import annotations

import os
import time

_gate = os.environ.get("SILIK_TEST_GATE", "")
_deadline = time.monotonic() + 120
while _gate and not os.path.exists(_gate) and time.monotonic() < _deadline:
    time.sleep(0.01)

from agents_fixtures.chef import agent  # noqa: E402

__all__ = ["agent"]
