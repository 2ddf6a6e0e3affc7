"""Schema post-processing: every operation documents the API's one error body, and ids in paths
say the range the server takes."""

from config.api_filters import ID_SCHEMA

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "additionalProperties": False,
            "properties": {
                "code": {
                    "type": "string",
                    "description": "For programs: `invalid`, `not_authenticated`, "
                    "`permission_denied`, `not_found`, `throttled`, `outside_window`, "
                    "`outside_window_no_template`, `not_writable`, `ticket_closed`, "
                    "`idempotency_key_reused`, ...",
                },
                "message": {"type": "string", "description": "For people."},
                "fields": {
                    "type": "object",
                    "description": "Input field (dotted for nested ones) -> its problems.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}

COMMON = {
    "401": "No credentials, or an unknown, revoked or expired key or token",
    "403": "Not allowed (read-only role, not one of your clients, ...)",
    "429": "Too many requests: wait for Retry-After seconds",
}
WRITES = {"post", "put", "patch"}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            wanted = dict(COMMON)
            query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            if "{" in path or method in WRITES:
                wanted["404"] = "Not found, or not visible to you"
            elif query & {"page", "cursor"}:
                wanted["404"] = "A page past the end, or an invalid cursor"
            if method in WRITES or query:
                wanted["400"] = "Invalid input: `fields` says where"
            for status, description in wanted.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = content
    return result


def bound_path_ids(result, generator, request, public):
    """A path id is a row's 64-bit id: the schema says so, like the id filters do. The server
    answers 404 for any other value (it names no row), never a 500."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"] = {**parameter["schema"], **ID_SCHEMA}
    return result
