"""street_vendors settings: ``[plugin_config.street_vendors]`` or ``STREETBRAIN_STREET_VENDORS__<FIELD>``."""

from typing import Self

from pydantic import BaseModel, Field, model_validator


class StreetVendorsSettings(BaseModel):
    """The ladder's thresholds, the camera alert types taken as sightings, hotspot and suggestion tuning."""

    capacity_summary_minutes: int = Field(default=60, ge=5, le=24 * 60)
    """Interval of the ``capacity_summary`` job."""

    ladder_window_days: int = Field(default=30, ge=1, le=365)
    """A vendor's violations within this many days (the boundary included) count for the ladder."""
    warn_from: int = Field(default=2, ge=2, le=50)
    """The n-th violation in the window from which the stage is warn (警告)."""
    penalise_from: int = Field(default=3, ge=3, le=100)
    """The n-th violation in the window from which the stage is penalise (处罚)."""

    camera_event_types: list[str] = Field(default=["video_net.street_vendor", "video_net.road_occupation"])
    """Event types (of the video plugin or any other) whose events become camera sightings."""

    default_point_half_size_m: float = Field(default=25.0, gt=0, le=500)
    """A vending point without a polygon covers the square this far around its centre."""
    require_citybrain_licence: bool = False
    """True: a vendor's licence number must be in the synced ``market_licenses`` to count as licensed."""

    cell_size_m: float = Field(default=100.0, ge=20, le=2000)
    """Side of the metric cells of hotspots and suggestions."""
    suggestion_min_days: int = Field(default=8, ge=1, le=28)
    """A cell is suggested when it had sightings on at least this many distinct days of the last 4 weeks."""
    suggestion_window_share: float = Field(default=0.8, gt=0, le=1)
    """The proposed window is the shortest run of hours holding this share of the cell's sightings."""

    permit_reminder_days: int = Field(default=7, ge=1, le=60)
    """Permits expiring within this many days get a reminder event (once per permit and end date)."""

    @model_validator(mode="after")
    def _ladder_in_order(self) -> Self:
        """Warn comes before penalise."""
        if self.penalise_from <= self.warn_from:
            raise ValueError("penalise_from must be greater than warn_from")
        return self
