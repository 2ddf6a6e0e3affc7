"""The sandbox: a small emulator of the Meta Graph API endpoints Switchboard uses.

It answers like Meta and posts signed webhooks back to Switchboard, so a fresh install works
without Meta credentials. Its views answer 404 unless `settings.SANDBOX_ENABLED` is true.
"""
