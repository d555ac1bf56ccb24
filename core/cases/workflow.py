"""The closed loop of a case, in one table: which action leads from which status to which, and who may.

    reported --accept--> accepted --dispatch--> dispatched --start--> in_progress --resolve--> resolved
    reported --reject--> rejected                                       ^                         |
    reported|accepted --link--> duplicate (of a main case)              +--------return-----------+
    resolved --close--> closed                     (dispatch again: dispatched -> dispatched, to someone else)

``handler_only`` actions are for the case's assignee (an admin may act for them).
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("reported", "accepted", "rejected", "dispatched", "in_progress", "resolved", "closed", "duplicate")
OPEN_STATUSES = ("reported", "accepted", "dispatched", "in_progress", "resolved")
TERMINAL_STATUSES = ("rejected", "closed", "duplicate")


@dataclass(frozen=True)
class Transition:
    """One allowed step."""

    action: str
    sources: tuple[str, ...]
    target: str
    permission: str
    handler_only: bool = False
    needs_assignee: bool = False
    needs_main_case: bool = False
    label: str = ""


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("accept", ("reported",), "accepted", "cases:accept", label="立案"),
        Transition("reject", ("reported",), "rejected", "cases:accept", label="不予立案"),
        Transition("link", ("reported", "accepted"), "duplicate", "cases:accept", needs_main_case=True, label="并案"),
        Transition("dispatch", ("accepted", "dispatched"), "dispatched", "cases:dispatch", needs_assignee=True,
                   label="派遣"),
        Transition("start", ("dispatched",), "in_progress", "cases:handle", handler_only=True, label="处置"),
        Transition("resolve", ("in_progress",), "resolved", "cases:handle", handler_only=True, label="反馈"),
        Transition("return", ("resolved",), "in_progress", "cases:verify", label="返工"),
        Transition("close", ("resolved",), "closed", "cases:verify", label="核查结案"),
    )
}  # fmt: skip


def allowed_actions(status: str) -> list[str]:
    """The actions that may follow ``status``."""
    return [t.action for t in TRANSITIONS.values() if status in t.sources]
