"""`make bench-campaigns`: the bench settings, with the sandbox's status webhooks delayed by a
factor the bench chooses (BENCH_SANDBOX_STATUS_DELAY; 1 = the sandbox's own pace)."""

import os

from tests.bench.settings import *  # noqa: F403

SANDBOX_STATUS_DELAY = float(os.environ.get("BENCH_SANDBOX_STATUS_DELAY", "1"))
