"""The value types plugins hand to the core through the hooks in :mod:`core.hookspecs`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import logging

    import pandas as pd
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.config import Settings
    from core.db import Database


@dataclass(frozen=True)
class Permission:
    """A permission a plugin defines, named ``<plugin>:<action>``."""

    name: str
    description: str


@dataclass(frozen=True)
class PluginInfo:
    """What ``plugin_info()`` returns: who the plugin is."""

    name: str
    title: str
    version: str
    description: str = ""
    permissions: tuple[Permission, ...] = ()


@dataclass
class JobContext:
    """What a job receives when it runs."""

    job_id: str
    database: Database
    settings: Settings
    plugin_settings: Any
    log: logging.Logger | Any
    services: Mapping[str, Any] = field(default_factory=dict)
    """The platform's services by name: ``events`` (:class:`core.events.EventBus`), ``cases``."""


JobFunc = Callable[[JobContext], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job. ``id`` is ``<job>``; the core prefixes ``<plugin>:``.

    ``trigger`` is ``"cron"`` (``schedule`` holds crontab fields such as ``{"hour": 2}``) or
    ``"interval"`` (``schedule`` holds ``{"seconds": 60}`` and the like). The function gets a
    :class:`JobContext` and may return a small summary dict that is kept in the run history.
    """

    id: str
    func: JobFunc
    trigger: Literal["cron", "interval"]
    schedule: Mapping[str, Any]
    description: str
    misfire_grace_seconds: int = 300


@dataclass(frozen=True)
class EventType:
    """An event type a plugin emits (``<plugin>.<kind>``) and what case it becomes by default.

    Inside ``dedup_window`` an event of the same type and dedup key merges into the first one.
    With ``creates_case`` each new event becomes a case of ``case_category`` for the worker of its
    grid; ``accept_sla`` and ``sla`` (to resolve) are the category's default SLA, counted in
    working hours when ``working_hours`` (settings may override all of these per type).
    """

    type: str
    title: str
    case_category: str
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    sla: timedelta = timedelta(hours=24)
    dedup_window: timedelta = timedelta(minutes=30)
    accept_sla: timedelta = timedelta(hours=2)
    working_hours: bool = False
    creates_case: bool = True


@dataclass(frozen=True)
class CityBrainSource:
    """A City Brain dataset a plugin pulls, and how its records become rows of ``model``.

    - ``dataset``: the City Brain dataset name (``GET /v1/datasets/<dataset>``).
    - ``natural_key``: the model columns that identify a row; the primary key or a unique
      constraint of the model's table, since it is the upsert's conflict target.
    - ``model``: the SQLAlchemy model the rows go into (the upsert target).
    - ``map_record(record)``: the model values of one record. Raising ``KeyError``, ``ValueError``
      or ``TypeError`` quarantines the record with the message as the reason.
    - ``validate(values)``: optional; a reason to quarantine the mapped values, or None. The
      values are also checked against the columns (null, type, length) before it is called.
    - ``update_columns``: the columns an existing row takes from City Brain; default every mapped
      column but the key (columns the street edits itself can be left out).
    - ``redact(record)``: optional; what the quarantine keeps of a bad record instead of the raw
      record, so that personal data does not land there in the clear.
    - ``record_type``: optional, for a dataset whose records become rows by renaming and checking
      alone; it makes a sync several times cheaper per record. A ``msgspec.Struct`` whose fields
      are model columns (``msgspec.field(name=...)`` for a record field of another name) plus the
      record's ``updated_at`` (a ``datetime``), with constraints (``msgspec.Meta``, ``Literal``,
      ``__post_init__``) at least as strict as ``map_record``: each page is decoded straight into
      it, checked in C, and stored without calling ``map_record``; a page it refuses anywhere is
      checked record by record through ``map_record`` as usual, which gives the reasons. So it
      must accept only what ``map_record`` accepts, and give the same values (test it with
      :func:`core.citybrain.typed.disagreements`). Its fields are checked against the columns
      when a sync starts (type, null, length); ``validate`` cannot be combined with it (put such
      checks in ``__post_init__``).
    """

    dataset: str
    natural_key: tuple[str, ...]
    model: type[Any]
    map_record: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    validate: Callable[[Mapping[str, Any]], str | None] | None = None
    update_columns: tuple[str, ...] | None = None
    redact: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    """Optional: the record as it may be stored in the quarantine (e.g. personal fields masked)."""
    record_type: type[Any] | None = None
    """Optional: a ``msgspec.Struct`` the page's records are decoded into and checked by (see above)."""


@dataclass(frozen=True)
class ReportSpec:
    """A named report: ``build(session, params)`` returns a pandas DataFrame."""

    name: str
    title: str
    build: Callable[[AsyncSession, Mapping[str, str]], Awaitable[pd.DataFrame]]
    params: Mapping[str, str] = field(default_factory=dict)
    permission: str | None = None
    """Who may run it; default ``<plugin>:read``."""


DemoLoader = Callable[["AsyncSession"], Awaitable[Mapping[str, int]]]
"""Loads demo rows into a session and returns counts per kind; must be safe to run twice."""
