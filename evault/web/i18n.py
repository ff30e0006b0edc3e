"""The web app's languages: message catalogs (gettext .po files, one per page area) merged per language."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "zh_CN"
# Messages are written in English in templates and code; zh_CN is the default language users see.
LANGUAGES = {"zh_CN": "中文", "en": "English"}
LANGUAGE_COOKIE = "evault_lang"


def N_(message: str) -> str:
    """Mark a message for translation where it is defined; it is translated where it is shown."""
    return message


ROLE_NAMES = {
    "officer": N_("Officer"),
    "reviewer": N_("Reviewer"),
    "approver": N_("Approver"),
    "records_manager": N_("Records manager"),
    "auditor": N_("Auditor"),
    "admin": N_("Administrator"),
}


def read_catalog(language: str) -> Catalog:
    """Merge every .po file of one language into one catalog."""
    merged = Catalog(locale=language, domain="messages")
    for po_file in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if message.id and message.string:
                    merged[message.id] = message
    return merged


def load_translations(language: str) -> gettext.NullTranslations:
    """Return the translations for one language (English is the messages themselves)."""
    if language == "en":
        return gettext.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(language))
    compiled.seek(0)
    return Translations(compiled, domain="messages")


def choose_language(cookie_value: str | None) -> str:
    """Return the language a person chose, or the default (Chinese)."""
    return cookie_value if cookie_value in LANGUAGES else DEFAULT_LANGUAGE
