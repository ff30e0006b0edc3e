"""Server-side rendering: one Jinja2 environment per language, with the agency's time zone for every time shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from evault.web.i18n import (
    LANGUAGE_COOKIE,
    LANGUAGES,
    ROLE_NAMES,
    choose_language,
    load_translations,
)
from evault.web.navigation import links_for


def local_time(value: datetime | None, zone: ZoneInfo) -> str:
    """Show an aware UTC time in the agency's zone, to the second ("2025-03-31 10:00:00")."""
    if value is None:
        return "—"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class WebTemplates:
    """The page templates of one running vault, in each language."""

    environments: dict[str, Environment]

    @classmethod
    def load(cls, *, zone: ZoneInfo, agency_name: str) -> WebTemplates:
        """Build the environments and load every language's catalog."""
        translations = {language: load_translations(language) for language in LANGUAGES}
        environments = {}
        for language, catalog in translations.items():
            environment = Environment(
                loader=PackageLoader("evault.web", "templates"),
                autoescape=select_autoescape(default=True),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            environment.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
            environment.filters["local_time"] = lambda value, zone=zone: local_time(value, zone)
            environment.globals.update(
                language=language, languages=LANGUAGES, agency_name=agency_name, zone_name=zone.key,
                role_names={role: catalog.gettext(name) for role, name in ROLE_NAMES.items()},
                navigation=links_for,
            )
            environments[language] = environment
        return cls(environments=environments)


def request_language(request: Request) -> str:
    """Return the language this browser chose, defaulting to Chinese."""
    return choose_language(request.cookies.get(LANGUAGE_COOKIE))


def web_templates(request: Request) -> WebTemplates:
    """Return the running app's templates."""
    templates: WebTemplates = request.app.state.web_templates
    return templates


def render_page(request: Request, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    """Render a template in the browser's language; pages are never cached (sign-out must end them)."""
    language = request_language(request)
    environment = web_templates(request).environments[language]
    html = environment.get_template(template).render(request=request, **values)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
