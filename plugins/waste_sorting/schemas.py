"""Request and response shapes of the waste_sorting API (msgspec Structs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from plugins.waste_sorting.models import CATEGORIES

ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time, HH:MM")]


class CollectionPointIn(msgspec.Struct, forbid_unknown_fields=True):
    """A collection point to open. The deposit window is within one day: it opens before it closes."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)*$", max_length=32, examples=["NW-CP-001"])]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    community: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180, description="WGS84")]
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90, description="WGS84")]
    categories: Annotated[list[str], msgspec.Meta(min_length=1, description=f"Some of {', '.join(CATEGORIES)}")]
    deposit_opens: ClockTime
    deposit_closes: ClockTime
    active: bool = True

    def __post_init__(self) -> None:
        self.categories = list(dict.fromkeys(self.categories))  # each category once, in the order given

    def problems(self) -> list[dict[str, Any]]:
        """What msgspec cannot check on its own: known categories, and a window that opens before it closes."""
        found = []
        unknown = [category for category in self.categories if category not in CATEGORIES]
        if unknown:
            found.append(
                {"key": "categories", "source": "body", "message": f"unknown {unknown}; expected some of {CATEGORIES}"}
            )
        if self.deposit_opens >= self.deposit_closes:  # zero-padded HH:MM strings sort like the times they name
            found.append(
                {
                    "key": "deposit_closes",
                    "source": "body",
                    "message": f"{self.deposit_closes} is not after deposit_opens {self.deposit_opens}",
                }
            )
        return found


class CollectionPointOut(msgspec.Struct):
    """A collection point as the API shows it."""

    code: str
    name: str
    community: str
    lon: float
    lat: float
    categories: list[str]
    deposit_opens: str
    deposit_closes: str
    active: bool
    created_at: datetime
