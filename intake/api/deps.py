"""Request-scoped access to the runtime and to the authenticated staff member."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from intake.directory.accounts import staff_for_token
from intake.domain.errors import Forbidden, Unauthorized
from intake.domain.models import Staff
from intake.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="token printed by `intake staff add`")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def current_staff(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Staff:
    """The staff member the bearer token names. No token, a malformed one, or one that names
    nobody active: 401 with `WWW-Authenticate: Bearer` (authenticate, then try again); a role
    that may not act is refused later, with 403."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a staff bearer token is required")
    async with runtime.db.read() as session:
        try:
            return await staff_for_token(session, credentials.credentials)
        except Forbidden as exc:
            raise Unauthorized(str(exc)) from None


StaffDep = Annotated[Staff, Depends(current_staff)]
