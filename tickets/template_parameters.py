"""The values a channel's utility template is filled with when a staff comment has to reopen a
closed customer-service window. Channels name them as paths (`ticket.number`); only the paths
listed here exist, so a channel setting can never reach into arbitrary attributes of a model."""

import re

PATHS = {
    "ticket.number": lambda ctx: ctx["ticket"].number,
    "ticket.title": lambda ctx: ctx["ticket"].title,
    "ticket.status": lambda ctx: ctx["ticket"].get_status_display(),
    "ticket.priority": lambda ctx: ctx["ticket"].get_priority_display(),
    "comment.text": lambda ctx: ctx["comment_text"],
    # Meta rejects an empty parameter: a lead known only by number is greeted by number.
    "contact.name": lambda ctx: ctx["contact"].name or ctx["contact"].phone,
    "contact.phone": lambda ctx: ctx["contact"].phone,
    "author.name": lambda ctx: (
        ctx["author"].get_full_name() or ctx["author"].get_username() if ctx["author"] else ""
    ),
    "channel.name": lambda ctx: ctx["channel"].name,
}

# Meta refuses template parameters with new lines, tabs or more than four spaces in a row
# (error 132018), so a multi-line comment is folded onto one line.
_WHITESPACE = re.compile(r"\s+")


class UnknownParameterPath(ValueError):
    def __init__(self, path):
        super().__init__(
            f"Unknown template parameter {path!r}: use one of {', '.join(sorted(PATHS))}."
        )


def parameter_paths_check(paths) -> list[str]:
    """The paths as a clean list; raises `UnknownParameterPath` for one that does not exist."""
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError('Template parameters must be a list of paths, like ["ticket.number"].')
    for path in paths:
        if path.strip() not in PATHS:
            raise UnknownParameterPath(path)
    return [p.strip() for p in paths]


def parameters_fill(*, paths, ticket, contact, channel, author, comment_text: str) -> list[str]:
    context = {
        "ticket": ticket,
        "contact": contact,
        "channel": channel,
        "author": author,
        "comment_text": comment_text,
    }
    values = []
    for path in parameter_paths_check(paths):
        value = _WHITESPACE.sub(" ", str(PATHS[path](context) or "")).strip()
        values.append(value or "-")
    return values
