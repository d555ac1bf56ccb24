"""street_vendors settings: ``[plugin_config.street_vendors]`` or ``STREETBRAIN_STREET_VENDORS__<FIELD>``."""

from pydantic import BaseModel, Field


class StreetVendorsSettings(BaseModel):
    """How often the capacity of the vending points is summed up."""

    capacity_summary_minutes: int = Field(default=60, ge=5, le=24 * 60)
