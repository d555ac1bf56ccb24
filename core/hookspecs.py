"""THE plugin contract of StreetBrain: every hook a plugin may implement.

A plugin is a module (or object) with functions decorated ``@hookimpl`` whose names are the
hooks below. A hook implementation may accept any subset of the arguments of its spec, and
may be a plain function or ``async def`` (the core awaits what needs awaiting). Each plugin is
listed in the ``streetbrain.plugins`` entry-point group of its distribution::

    [project.entry-points."streetbrain.plugins"]
    parking = "streetbrain_parking"

The entry-point name is the plugin name: it prefixes its tables (``parking_spaces``), its
permissions (``parking:manage``), its event types (``parking.overstay``), its job ids
(``parking:sweep``) and its routes (``/api/v1/parking/...``).

Hooks named ``register_*`` and ``plugin_info`` are called once at start-up; a plugin that
raises in one of them is marked failed and skipped. ``on_event``, ``on_startup`` and
``on_shutdown`` are called at run time; an error there is logged and isolated.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "streetbrain"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def plugin_info() -> Any:
    """Say who the plugin is. Required of every plugin.

    Returns:
        a :class:`core.contracts.PluginInfo` (name, title, version, description, permissions).

    Example::

        @hookimpl
        def plugin_info():
            return PluginInfo(name="parking", title="Parking", version="0.1.0",
                              permissions=(Permission("parking:manage", "Edit parking spaces"),))
    """


@hookspec
def register_settings() -> Any:
    """Give the plugin's settings model, validated at start-up.

    Values come from the TOML table ``[plugin_config.<plugin>]`` and from environment
    variables ``STREETBRAIN_<PLUGIN>__<FIELD>``; an invalid value stops start-up with a
    message naming the variable.

    Returns:
        a pydantic ``BaseModel`` subclass whose fields all have defaults.

    Example::

        class ParkingSettings(BaseModel):
            overstay_minutes: int = 120

        @hookimpl
        def register_settings():
            return ParkingSettings
    """


@hookspec
def register_models() -> Any:
    """Give the modules that define the plugin's SQLAlchemy models.

    Models subclass :class:`core.db.Base`; every table name starts with ``<plugin>_``.

    Returns:
        a list of modules (or dotted module names).

    Example::

        @hookimpl
        def register_models():
            from . import models
            return [models]
    """


@hookspec
def register_migrations() -> Any:
    """Give the folder of the plugin's own Alembic versions.

    The plugin's revisions form their own history, kept in the version table
    ``alembic_version_<plugin>``; ``streetbrain db revision --plugin NAME -m MSG`` writes new ones.

    Returns:
        a ``pathlib.Path`` (or str) of the versions folder.

    Example::

        @hookimpl
        def register_migrations():
            return Path(__file__).parent / "migrations"
    """


@hookspec
def register_routes(settings: Any, plugin_settings: Any) -> Any:
    """Give the plugin's Litestar route handlers, controllers or routers.

    They are mounted under ``/api/v1/<plugin-name-with-dashes>`` with the plugin's OpenAPI tag.
    Handlers receive ``db_session: AsyncSession`` by dependency injection.

    Args:
        settings: the platform :class:`core.config.Settings`.
        plugin_settings: this plugin's validated settings (see ``register_settings``), or None.

    Returns:
        a list of handlers, ``Controller`` classes or ``Router`` objects.

    Example::

        @get("/spaces")
        async def list_spaces(db_session: AsyncSession) -> list[Space]: ...

        @hookimpl
        def register_routes():
            return [list_spaces]
    """


@hookspec
def register_jobs(settings: Any, plugin_settings: Any) -> Any:
    """Give the plugin's scheduled jobs.

    Args:
        settings: the platform :class:`core.config.Settings`.
        plugin_settings: this plugin's validated settings (see ``register_settings``), or None.

    Returns:
        a list of :class:`core.contracts.JobSpec`; their ids become ``<plugin>:<id>``.

    Example::

        async def sweep(ctx: JobContext) -> dict:
            ...
            return {"closed": 3}

        @hookimpl
        def register_jobs():
            return [JobSpec(id="sweep", func=sweep, trigger="interval",
                            schedule={"minutes": 5}, description="Close stale sessions")]
    """


@hookspec
def register_event_types() -> Any:
    """Give the event types the plugin emits, with the case each becomes by default.

    Returns:
        a list of :class:`core.contracts.EventType` named ``<plugin>.<kind>``.

    Example::

        @hookimpl
        def register_event_types():
            return [EventType(type="parking.overstay", title="Overstay",
                              case_category="traffic", severity="low", sla=timedelta(hours=4))]
    """


@hookspec
def register_citybrain_sources() -> Any:
    """Give the City Brain datasets the plugin pulls and how a record maps onto its model.

    Each source names the dataset, the model (the upsert target), its natural key (the primary
    key or a unique constraint: the conflict target) and ``map_record(record)``, which returns the
    model values of one record; raising ``KeyError``, ``ValueError`` or ``TypeError`` there
    quarantines the record with the message as the reason. Optional: ``validate(values)`` returns
    a reason to quarantine, ``update_columns`` limits what an existing row takes from City Brain,
    ``redact`` masks what the quarantine keeps, and ``record_type`` (a ``msgspec.Struct`` with the
    same checks as ``map_record``) lets the core decode and check whole pages in C, several times
    cheaper per record. The core syncs each dataset as the job ``citybrain:sync_<dataset>`` (see
    docs/citybrain.md).

    Returns:
        a list of :class:`core.contracts.CityBrainSource`.

    Example::

        @hookimpl
        def register_citybrain_sources():
            return [CityBrainSource(dataset="parking_lots", natural_key=("code",),
                                    model=Lot, map_record=lambda r: {"code": r["id"], "name": r["name"]})]
    """


@hookspec
def register_reports() -> Any:
    """Give named reports, each a function returning a pandas DataFrame (served as JSON, CSV, XLSX).

    Returns:
        a list of :class:`core.contracts.ReportSpec`.

    Example::

        async def occupancy(session, params):
            rows = (await session.execute(select(Space.zone, func.count()).group_by(Space.zone))).all()
            return pd.DataFrame(rows, columns=["zone", "spaces"])

        @hookimpl
        def register_reports():
            return [ReportSpec(name="occupancy", title="Spaces per zone", build=occupancy)]
    """


@hookspec
def register_cli_commands() -> Any:
    """Give click commands, mounted under ``streetbrain <plugin> ...``.

    Returns:
        a list of ``click.Command`` objects.

    Example::

        @click.command()
        def recount(): ...

        @hookimpl
        def register_cli_commands():
            return [recount]
    """


@hookspec
def register_demo_data() -> Any:
    """Give a loader of realistic demo data for ``streetbrain demo``.

    The loader is ``async def load(session) -> dict[str, int]`` (rows added per kind); it must
    add nothing when its data is already there.

    Returns:
        a :data:`core.contracts.DemoLoader`.

    Example::

        async def load(session):
            if await session.scalar(select(func.count()).select_from(Space)):
                return {}
            session.add_all([Space(code=f"P{i}") for i in range(20)])
            return {"spaces": 20}

        @hookimpl
        def register_demo_data():
            return load
    """


@hookspec
def on_event(event: Any, database: Any, events: Any) -> Any:
    """React to a new event from anywhere in the platform (any plugin, any device, City Brain).

    Called after the event is stored (merged duplicates are not delivered again). An exception is
    logged and isolated: the other plugins still get the event, and delivery is retried later
    (so an implementation should be idempotent, e.g. keyed by ``event.id``).

    Args:
        event: a :class:`core.events.Event` (``id``, type ``<plugin>.<kind>``, source, payload, grid_id ...).
        database: the :class:`core.db.Database`, for writes of the plugin's own.
        events: the :class:`core.events.EventBus` that delivers it, to emit follow-up events
            (``events.emit(session, ...)`` in the plugin's own transaction, then ``events.after_commit``);
            ``events.plugins.get(name).settings`` holds a plugin's validated settings.

    Example::

        @hookimpl
        async def on_event(event, database):
            if event.type == "video_net.illegal_parking":
                async with database.session() as session:
                    session.add(Sighting(event_id=event.id, grid_id=event.grid_id))
    """


@hookspec
def deliver_notification(notification: Any, database: Any) -> Any:
    """Send a notification through a channel of the plugin's (DingTalk or WeCom robot, SMS, ...).

    Every notification is in the recipient's in-app inbox (``GET /api/v1/notifications``) first;
    then a job hands it to every plugin implementing this hook, retrying while one raises.

    Args:
        notification: a :class:`core.cases.models.Notification` (user_id, kind, title, body, case_id).
        database: the :class:`core.db.Database`, e.g. to look up the recipient's channel address.

    Returns:
        nothing; raise to have the delivery retried (up to ten times).

    Example::

        @hookimpl
        async def deliver_notification(notification, database):
            await httpx.AsyncClient().post(ROBOT_URL, json={"msgtype": "text",
                                           "text": {"content": notification.title}})
    """


@hookspec
def on_startup(app: Any) -> Any:
    """Run when the API application starts (after the schema is up to date).

    Args:
        app: the ``litestar.Litestar`` application; ``app.state`` holds ``database`` and ``settings``.

    Example::

        @hookimpl
        async def on_startup(app):
            app.state.parking_cache = await load_zones(app.state.database)
    """


@hookspec
def on_shutdown(app: Any) -> Any:
    """Run when the API application stops.

    Args:
        app: the ``litestar.Litestar`` application.

    Example::

        @hookimpl
        async def on_shutdown(app):
            await app.state.parking_cache.close()
    """
