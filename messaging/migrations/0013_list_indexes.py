from django.db import migrations

from config.pg_indexes import postgres_indexes, trigram


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0012_widgets"),
    ]

    operations = [
        postgres_indexes(
            trigram("message_text_trgm", "messaging_message", "UPPER(text)"),
            # The inbox's and the admin's order (SQLite cannot index NULLS LAST).
            (
                "conversation_recent",
                "CREATE INDEX IF NOT EXISTS conversation_recent ON messaging_conversation "
                "(last_message_at DESC NULLS LAST, id DESC)",
            ),
        ),
    ]
