"""Who is signed in to the web app: the session cookie, and the CSRF token every form carries."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from vault.api.deps import CSRF_HEADER, CsrfRefused, csrf_token_matches, signed_in_by_cookie
from vault.errors import Unauthenticated
from vault.identities.sign_in import SignedIn

CSRF_FIELD = "csrf_token"


class SignInRequired(Unauthenticated):
    """A page needs a signed-in person; the browser is sent to the sign-in page."""

    code = "sign_in_required"



def require_person(request: Request, person: Annotated[SignedIn | None, Depends(signed_in_by_cookie)]) -> SignedIn:
    """Return the signed-in person, or send the browser to sign in first."""
    if person is None:
        raise SignInRequired("请先登录 (sign in first)", details={"next": request.url.path})
    return person


SignedInDep = Annotated[SignedIn, Depends(require_person)]


async def check_csrf(request: Request, person: SignedInDep) -> SignedIn:
    """Refuse a state-changing request unless it carries this session's CSRF token (form field or header)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get(CSRF_FIELD) or "")
    if not csrf_token_matches(sent, person):
        raise CsrfRefused("表单已过期或来源不明，请刷新页面后重试 (the form's CSRF token is missing or wrong)")
    return person


CsrfDep = Annotated[SignedIn, Depends(check_csrf)]


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None,
               samesite: str = "lax") -> None:
    """Set an HttpOnly cookie, Secure when the vault is reached over TLS (or settings say always)."""
    mode = request.app.state.vault.settings.secure_cookies
    secure = mode == "always" or (mode == "auto" and request.url.scheme == "https")
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=secure,
                        samesite=samesite, path="/")  # type: ignore[arg-type]
