"""Settings for `make bench`: the production settings plus the bench-only ceiling route.

config/settings.py reads everything from the environment; here the production switches are
defaulted (DEBUG off, local hosts only) before it is imported, so its own checks for a DEBUG-off
start-up (SECRET_KEY, SECRETS_ENCRYPTION_KEYS) apply unchanged. bench/run.py sets the rest.
"""

import os

os.environ.setdefault("DEBUG", "False")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")

from config.settings import *  # noqa: F403
from config.settings import DEBUG

if DEBUG:
    raise RuntimeError("bench.settings measures a production-like server: set DEBUG=False.")

ROOT_URLCONF = "tests.bench.urls"
