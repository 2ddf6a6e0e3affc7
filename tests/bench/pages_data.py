"""The data set of the page benchmark, generated set-based on PostgreSQL.

For `messages` messages: messages/10 contacts, each with one WhatsApp address, one conversation
of ten messages (inbound and outbound in turn) and one ticket with two comments; a deal for every
third contact (a quarter of them open). Four WhatsApp Cloud channels (three routed round robin,
one first responder), every one worked by all of the 100 sales reps; one manager. Every
rep is responsible for 1% of the contacts; one contact in 200 has nobody yet (an unclaimed client
on the first-responder channel). Times spread over the last year, the newest rows last.
"""

from django.db import connection

AGENTS = 100
MANAGER = "bench-manager"
REP = "bench-rep-1"


def phone_of(contact_index: int) -> str:
    return f"+39335{contact_index:07d}"


def data_generate(*, messages: int) -> dict:
    from accounts.models import AgentProfile, Role, User
    from crm.models import Pipeline, Stage
    from integrations.models import IntegrationAccount
    from messaging.models import Channel

    contacts = messages // 10
    account = IntegrationAccount.objects.create(
        description="Bench WhatsApp",
        platform="whatsapp_cloud",
        settings={"app_id": "1", "waba_id": "2", "graph_version": "v23.0"},
        secrets={"app_secret": "s", "verify_token": "v", "access_token": "a"},
    )
    channels = [
        Channel.objects.create(
            name=name,
            account=account,
            provider="whatsapp_cloud",
            external_id=external_id,
            display_number=number,
            routing_mode=mode,
        )
        for name, external_id, number, mode in (
            ("Sales", "1001", "+15550100001", "round_robin"),
            ("Support", "1002", "+15550100002", "first_responder"),
            ("Orders", "1003", "+15550100003", "round_robin"),
            ("Returns", "1004", "+15550100004", "round_robin"),
        )
    ]
    manager = User.objects.create_user(MANAGER, password="x", is_staff=True)
    AgentProfile.objects.create(user=manager, role=Role.MANAGER)
    reps = User.objects.bulk_create(
        [User(username=f"bench-rep-{n}", is_staff=True) for n in range(AGENTS)]
    )
    profiles = AgentProfile.objects.bulk_create(
        [
            AgentProfile(user=user, role=Role.SALES_REP, max_concurrent_conversations=1000)
            for user in reps
        ]
    )
    through = AgentProfile.channels.through
    through.objects.bulk_create(
        [through(agentprofile=p, channel=c) for p in profiles for c in channels]
    )
    pipeline, _ = Pipeline.objects.get_or_create(name="Bench sales")
    stage, _ = Stage.objects.get_or_create(pipeline=pipeline, name="New", defaults={"position": 0})
    rep_ids = [user.pk for user in reps]
    channel_ids = [channel.pk for channel in channels]
    params = {
        "n": contacts,
        "reps": rep_ids,
        "channels": channel_ids,
        "pipeline": pipeline.pk,
        "stage": stage.pk,
    }
    with connection.cursor() as cursor:
        for statement in STATEMENTS:
            cursor.execute(statement, params)
        cursor.execute("VACUUM ANALYZE")
    return {"contacts": contacts, "messages": messages}


# %(n)s contacts; g is 1..n. The epoch of the data set is one year ago; row g is g/n into it.
STATEMENTS = [
    """
    INSERT INTO crm_contact (id, kind, name, phone, email, handle, created_at, updated_at,
                             responsible_id)
    SELECT g,
           CASE WHEN g %% 3 = 0 THEN 'customer' ELSE 'lead' END,
           (ARRAY['Giulia','Marco','Anna','Luca','Sara','Paolo','Elena','Davide'])[1 + g %% 8]
             || ' ' || (ARRAY['Rossi','Bianchi','Romano','Colombo','Ricci','Marino','Greco',
                              'Bruno','Gallo','Conti'])[1 + (g / 8) %% 10] || ' ' || g,
           '+39335' || lpad(g::text, 7, '0'),
           'client' || g || '@example.com', '',
           now() - interval '365 days' + (g::float / %(n)s) * interval '365 days',
           now() - interval '365 days' + (g::float / %(n)s) * interval '365 days',
           CASE WHEN g %% 200 = 0 THEN NULL
                ELSE (%(reps)s::int[])[1 + g %% array_length(%(reps)s::int[], 1)] END
    FROM generate_series(1, %(n)s) AS g
    """,
    "SELECT setval(pg_get_serial_sequence('crm_contact', 'id'), %(n)s)",
    """
    INSERT INTO crm_contactaddress (contact_id, transport, address, handle, first_seen_at,
                                    last_seen_at, verified, unreachable_reason,
                                    marketing_held_reason)
    SELECT id, 'whatsapp', phone, '', created_at, created_at, true, '', '' FROM crm_contact
    """,
    # One conversation per contact; the newest tenth are still open.
    """
    INSERT INTO messaging_conversation (id, status, opened_at, closed_at, last_inbound_at,
        last_message_at, last_message_status, last_message_type, last_message_direction,
        last_message_preview, channel_id, contact_id, assignee_id, assigned_at, widget_page)
    SELECT c.id,
           CASE WHEN c.id > %(n)s * 0.9 THEN 'open' ELSE 'closed' END,
           c.created_at,
           CASE WHEN c.id > %(n)s * 0.9 THEN NULL ELSE c.created_at + interval '2 hours' END,
           c.created_at + interval '80 minutes',
           c.created_at + interval '90 minutes',
           'read', 'text', 'out', 'The parcel for order ' || c.id || ' left the warehouse',
           (%(channels)s::int[])[1 + c.id %% array_length(%(channels)s::int[], 1)],
           c.id, c.responsible_id,
           CASE WHEN c.responsible_id IS NULL THEN NULL ELSE c.created_at END,
           ''
    FROM crm_contact c
    """,
    "SELECT setval(pg_get_serial_sequence('messaging_conversation', 'id'), %(n)s)",
    # Ten messages per conversation, inbound and outbound in turn, ten minutes apart.
    """
    INSERT INTO messaging_message (direction, provider_message_id, type, text, payload, raw,
        reply_to_provider_id, status, error_title, error_detail, created_at, attempts,
        media_state, media_file, media_error, media_attempts, channel_id, conversation_id,
        reactions)
    SELECT CASE WHEN k %% 2 = 0 THEN 'in' ELSE 'out' END,
           'wamid.' || v.id || '.' || k,
           'text',
           (ARRAY['Hello, I would like to know the price of order ',
                  'Thanks, when will the delivery of order ',
                  'Can you call me back about invoice ',
                  'The parcel for order ', 'Please confirm the appointment for ticket '])
             [1 + (v.id + k) %% 5] || (v.id * 10 + k) || ' ' || md5((v.id * 10 + k)::text),
           '{}', '{}', '',
           CASE WHEN k %% 2 = 0 THEN 'received' ELSE 'read' END,
           '', '', v.opened_at + k * interval '10 minutes', 0,
           '', '', '', 0, v.channel_id, v.id, '{}'
    FROM messaging_conversation v, generate_series(0, 9) AS k
    """,
    # One ticket per contact, closed but for the open tenth.
    """
    INSERT INTO tickets_ticket (id, number, title, priority, status, description, created_at,
                                updated_at, closed_at, assignee_id, channel_id, contact_id)
    SELECT v.id, 'TT' || v.id, 'Question about order ' || v.id,
           (ARRAY['low','normal','high'])[1 + v.id %% 3],
           v.status, 'The customer asks about order ' || v.id,
           v.opened_at, v.opened_at + interval '2 hours', v.closed_at,
           v.assignee_id, v.channel_id, v.contact_id
    FROM messaging_conversation v
    """,
    "SELECT setval(pg_get_serial_sequence('tickets_ticket', 'id'), %(n)s)",
    "UPDATE messaging_conversation SET ticket_id = id",
    """
    INSERT INTO tickets_ticketcomment (author_kind, text, is_internal, created_at, author_id,
                                       ticket_id)
    SELECT CASE WHEN k = 0 THEN 'customer' ELSE 'staff' END,
           CASE WHEN k = 0 THEN 'Where is my order ' || t.id || '?'
                ELSE 'Checking with the warehouse.' END,
           k = 1, t.created_at + k * interval '30 minutes',
           CASE WHEN k = 0 THEN NULL ELSE t.assignee_id END, t.id
    FROM tickets_ticket t, generate_series(0, 1) AS k
    """,
    # A deal for every third contact, with that contact's rep; a quarter of them open.
    """
    INSERT INTO crm_deal (id, name, status, amount, created_at, updated_at, closed_at,
                          responsible_id, pipeline_id, stage_id)
    SELECT c.id, 'Deal for ' || c.name, CASE WHEN c.id %% 4 = 0 THEN 'open' ELSE 'won' END,
           100 + c.id %% 900, c.created_at, c.created_at,
           CASE WHEN c.id %% 4 = 0 THEN NULL ELSE c.created_at + interval '3 days' END,
           c.responsible_id, %(pipeline)s, %(stage)s
    FROM crm_contact c WHERE c.id %% 3 = 1
    """,
    "SELECT setval(pg_get_serial_sequence('crm_deal', 'id'), %(n)s)",
    "INSERT INTO crm_deal_contacts (deal_id, contact_id) SELECT id, id FROM crm_deal",
]
