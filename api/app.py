"""The Litestar application: ``create_app(settings)`` is the one composition point.

It loads the enabled plugins, mounts each plugin's routes under ``/api/v1/<plugin-with-dashes>``
with its OpenAPI tag, wires the database session and pagination dependencies, problem+json
errors, the request id, the scheduler and the plugins' start-up and shut-down hooks.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin import ADMIN_ROUTES
from api.areas import AREA_ROUTES
from api.auth import AUTH_ROUTES, PUBLIC_PATHS, AuthenticationMiddleware
from api.cases import CASE_ROUTES
from api.citybrain import ROUTES as CITYBRAIN_ROUTES
from api.errors import EXCEPTION_HANDLERS
from api.events import EVENT_ROUTES
from api.health import health
from api.jobs import JOB_ROUTES
from api.middleware import request_context_middleware
from api.reports import list_reports, run_report
from core.areas.index import LiveAreaIndex
from core.cases.notifications import NotificationChannels
from core.cases.service import CaseService
from core.cases.sla import WorkCalendar
from core.citybrain.jobs import CityBrainService
from core.config import Settings, load_settings
from core.db import Database
from core.events import EventBus
from core.logs import get_logger
from core.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageParams
from core.plugins import PluginManager, PluginRecord, load_plugins
from core.scheduler import JobScheduler
from core.security.permissions import Authorizer
from core.security.setup import set_up_security
from core.version import VERSION
from core.web import provide_caller

log = get_logger(__name__)


async def provide_db_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """A session per request, committed after the handler returns and before the response is sent.

    A failed commit therefore becomes an error response: nothing is acknowledged that was not stored.
    """
    async with state.database.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def provide_page(
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    offset: Annotated[int, QueryParameter(ge=0, description="Items to skip")] = 0,
    format: Annotated[
        Literal["json", "csv", "xlsx"],
        QueryParameter(description="json: a page; csv or xlsx: the whole list as a file"),
    ] = "json",
) -> PageParams:
    """The ``limit``, ``offset`` and ``format`` of a list request."""
    return PageParams(limit=limit, offset=offset, format=format)


def sign_in_rate_limit(settings: Settings) -> DefineMiddleware:
    """Requests per minute and client address to the auth routes (guessing passwords takes many)."""
    return RateLimitConfig(rate_limit=("minute", settings.login_rate_per_minute)).middleware


def _plugin_router(record: PluginRecord) -> Router:
    return Router(path=record.url_prefix, route_handlers=record.routes, tags=[record.name])


def _mount_plugins(app: Litestar, plugins: PluginManager) -> None:
    """Mount each plugin's routes; a plugin whose routes cannot be mounted is marked failed."""
    for record in plugins.ok_plugins():
        if not record.routes:
            continue
        try:
            app.register(_plugin_router(record))
        except Exception as exc:
            record.status, record.error = "failed", f"register_routes: {type(exc).__name__}: {exc}"
            log.error("plugin_failed", plugin=record.name, hook="register_routes", error=record.error)


@dataclass
class Services:
    """The platform's long-lived services in one process, shared by the API, the jobs and the CLI."""

    scheduler: JobScheduler
    citybrain: CityBrainService
    events: EventBus
    cases: CaseService
    notifications: NotificationChannels


def build_services(
    settings: Settings,
    plugins: PluginManager,
    database: Database,
    authorizer: Authorizer,
    areas: Callable[[], Any] = lambda: None,
) -> Services:
    """Wire the services; ``areas`` returns the process's current area index (or None before it loads)."""

    def grid_for(lon: float, lat: float) -> int | None:
        index = areas()
        return index.grid_for(lon, lat) if index is not None else None

    def community_of(grid_id: int) -> int | None:
        index = areas()
        return index.community_for_grid(grid_id) if index is not None else None

    calendar = WorkCalendar.of(
        settings.tz, settings.work_day_start, settings.work_day_end, settings.holidays, settings.workdays_extra
    )
    cases = CaseService(database, authorizer, calendar, settings.sla, settings.routing, community_of=community_of)
    events = EventBus(database, plugins, EventBus.collect_types(plugins), grid_for, cases.route_event)
    scheduler = JobScheduler(database, settings)
    scheduler.add_plugin_jobs(plugins.ok_plugins())
    citybrain = CityBrainService(settings, database, plugins.ok_plugins())
    scheduler.add_jobs("citybrain", citybrain.job_specs())
    notifications = NotificationChannels(database, plugins)
    scheduler.services.update(events=events, cases=cases, notifications=notifications, citybrain=citybrain)
    return Services(scheduler, citybrain, events, cases, notifications)


def create_app(
    settings: Settings | None = None,
    *,
    plugins: PluginManager | None = None,
    database: Database | None = None,
) -> Litestar:
    """Build the application; the schema must already be up to date (``streetbrain db upgrade``).

    Args:
        settings: platform settings (default: read from the environment and TOML file).
        plugins: a loaded plugin manager (default: load the plugins the settings enable).
        database: the database to use (default: one for ``settings.database_url``).
    """
    settings = settings or load_settings()
    plugins = plugins or load_plugins(settings)
    database = database or Database(settings.database_url)
    authorizer = set_up_security(settings, plugins.ok_plugins())
    areas = LiveAreaIndex(database)  # app.state.areas: point -> grid, rebuilt when the areas change
    services = build_services(settings, plugins, database, authorizer, areas=lambda: app.state.get("areas"))
    scheduler, citybrain, events = services.scheduler, services.citybrain, services.events

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await areas.open()
        await plugins.acall("on_startup", app=app)
        if settings.scheduler_enabled:
            await scheduler.start()
        try:
            yield
        finally:
            await scheduler.shutdown()
            await events.drain()
            await plugins.acall("on_shutdown", app=app)
            await citybrain.aclose()
            await areas.close()
            await database.dispose()

    tags = [
        Tag(name="platform", description="Health and platform information"),
        Tag(name="auth", description="Sign-in and tokens"),
        Tag(name="admin", description="Staff accounts, API keys, permissions and the audit log"),
        Tag(name="jobs", description="Scheduled jobs, their runs, run now, pause and resume"),
        Tag(name="areas", description="Streets, communities and grids: GeoJSON in and out, locate a point"),
        Tag(name="events", description="Events reported by plugins, devices, City Brain and staff"),
        Tag(name="cases", description="The closed loop of work orders, their indicators, and the inbox"),
    ]
    tags.append(Tag(name="citybrain", description="City Brain sync state, quarantined records and the outbox"))
    tags += [
        Tag(name=record.name, description=record.title or record.name)
        for record in plugins.ok_plugins()
        if record.routes
    ]
    app = Litestar(
        route_handlers=[
            health,
            list_reports,
            run_report,
            *CITYBRAIN_ROUTES,
            # Only the auth routes pass the sign-in rate limit: the other routes skip that middleware.
            Router(path="/", route_handlers=AUTH_ROUTES, middleware=[sign_in_rate_limit(settings)]),
            *ADMIN_ROUTES,
            *JOB_ROUTES,
            *AREA_ROUTES,
            *EVENT_ROUTES,
            *CASE_ROUTES,
        ],
        dependencies={
            "caller": Provide(provide_caller, sync_to_thread=False),
            "db_session": Provide(provide_db_session),
            "page": Provide(provide_page, sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False, use_cache=True),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            request_context_middleware,
            DefineMiddleware(AuthenticationMiddleware, exclude=PUBLIC_PATHS),
        ],
        request_max_body_size=settings.max_request_bytes,
        cors_config=CORSConfig(allow_origins=settings.cors_origins) if settings.cors_origins else None,
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "database": database,
                "plugins": plugins,
                "scheduler": scheduler,
                "authorizer": authorizer,
                "areas": areas,
                "citybrain": citybrain,
                "events": events,
                "cases": services.cases,
            }
        ),
        openapi_config=OpenAPIConfig(
            title="StreetBrain",
            version=VERSION,
            description="Smart-street governance platform API",
            path="/schema",
            tags=tags,
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                    "ApiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
                }
            ),
            security=[{"BearerToken": []}, {"ApiKey": []}],
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        debug=False,
        logging_config=None,  # logging is configured once, structured, by core.logs
    )
    _mount_plugins(app, plugins)
    return app


def app_factory() -> Litestar:
    """Entry for ``uvicorn --factory api.app:app_factory``: everything from the environment."""
    return create_app()
