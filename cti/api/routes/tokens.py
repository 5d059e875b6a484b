"""``/v1/tokens``: API tokens, for admins: list them and revoke one (``cti token create``
makes them: a secret is shown once, where it is made)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from cti.api.auth import Caller, Role, require
from cti.api.schemas import problems
from cti.api.token_service import TokenOut, TokenService

router = APIRouter(prefix="/tokens", tags=["tokens"])
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"  # as `cti token create --user` takes them
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def tokens(request: Request) -> TokenService:
    found: TokenService = request.app.state.tokens
    return found


Svc = Annotated[TokenService, Depends(tokens)]


@router.get("", response_model=list[TokenOut])
async def list_tokens(
    _: Admin, svc: Svc,
    user: Annotated[str | None, Query(pattern=USERNAME_PATTERN,
                                      description="Only this user's.")] = None,
) -> list[TokenOut]:
    """Every token, revoked ones too, oldest first: who it acts for (role and seat are
    the user's, shared by all their tokens), its label, when made, last used, revoked."""
    return await svc.list(user)


@router.delete("/{token_id}", status_code=204, responses=problems(404))
async def revoke_token(token_id: TokenId, caller: Admin, svc: Svc) -> Response:
    """Revoke a token: refused from the next request on, and an event stream open with
    it is closed at its next token check (``CTI_STREAM__TOKEN_RECHECK``). One revoked
    already: 204 all the same."""
    await svc.revoke(caller, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
