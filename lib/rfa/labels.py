"""Machine names as words for people: problem domains, post types, confidence tiers.

ResolutionFlow stores domains and types as machine names (``line_of_business``,
``voip``). Pages, charts and the knowledge-gap suggested actions (written into data
files too) show them as words through :func:`humanize`, so a reader never sees an
underscore name and every place spells a domain the same way.
"""

from __future__ import annotations

ACRONYMS: dict[str, str] = {
    "m365": "M365",
    "voip": "VoIP",
    "vpn": "VPN",
    "psa": "PSA",
    "ai": "AI",
}
"""Words written in capitals (or mixed case) whatever the stored name's case."""


def humanize(name: str) -> str:
    """A machine name as words: ``"line_of_business"`` → ``"Line of business"``,
    ``"voip"`` → ``"VoIP"``; empty → ``"(none)"``.

    Underscores and hyphens become spaces, known acronyms (:data:`ACRONYMS`) their usual
    spelling, and an all-lower-case first word gets a capital; a name already in mixed
    case keeps it. Input: ``str``; output: ``str`` (plain text, not escaped).
    """
    words = name.replace("_", " ").replace("-", " ").split()
    if not words:
        return "(none)"
    words = [ACRONYMS.get(w.lower(), w) for w in words]
    first = words[0]
    if first == first.lower():
        words[0] = first[:1].upper() + first[1:]
    return " ".join(words)
