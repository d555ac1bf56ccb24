"""waste_sorting settings: ``[plugin_config.waste_sorting]`` or ``STREETBRAIN_WASTE_SORTING__<FIELD>``."""

from pydantic import BaseModel, Field


class WasteSortingSettings(BaseModel):
    """When the daily statistics are rolled up."""

    summary_hour: int = Field(default=1, ge=0, le=23, description="Hour of the day (platform time zone) of the summary")
