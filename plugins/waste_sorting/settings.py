"""waste_sorting settings: ``[plugin_config.waste_sorting]`` or ``STREETBRAIN_WASTE_SORTING__<FIELD>``."""

from typing import Any

from pydantic import BaseModel, Field


class WasteSortingSettings(BaseModel):
    """Job hours, the thresholds of the grid workers' lists and the points (积分) earning rules."""

    summary_hour: int = Field(default=1, ge=0, le=23, description="Hour of the day (platform time zone) of the summary")
    rollup_hour: int = Field(default=2, ge=0, le=23, description="Hour of the nightly rollup and daily push")
    rollup_days_back: int = Field(default=3, ge=1, le=60, description="Days before yesterday the rollup redoes")
    lists_weekday: str = Field(default="mon", pattern="^(mon|tue|wed|thu|fri|sat|sun)$", description="Weekly lists")
    non_participation_days: int = Field(default=7, ge=1, le=365, description="N: no deposit in N days")
    low_accuracy_min_inspections: int = Field(default=3, ge=1, description="M: at least M inspections")
    low_accuracy_threshold: float = Field(default=0.6, gt=0, le=1, description="accuracy below this")
    low_accuracy_days: int = Field(default=30, ge=1, le=365, description="inspections of the last N days count")
    bin_full_percent: float = Field(default=90, gt=0, le=100, description="a reading at or above raises an event")
    points_per_deposit_day: int = Field(default=1, ge=0, description="points for a day with any deposit")
    points_per_correct: int = Field(default=2, ge=0, description="points per deposit inspected correct")
    points_per_incorrect: int = Field(default=-1, le=0, description="points per deposit inspected incorrect")
    max_batch: int = Field(default=10_000, ge=1, le=100_000, description="records per deposit batch")


def current_settings(state: Any) -> WasteSortingSettings:
    """This plugin's validated settings, from the app state's plugin manager (defaults when absent)."""
    for record in state.plugins.ok_plugins():
        if record.name == "waste_sorting" and isinstance(record.settings, WasteSortingSettings):
            return record.settings
    return WasteSortingSettings()
