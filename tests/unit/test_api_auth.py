"""Bearer tokens, the token cache and role ordering."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from cti.api.auth import Authenticator, Caller, Role, require
from cti.api.errors import Unavailable
from tests.unit._api_fakes import TOKENS, bearer, make_app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        (Role.AGENT, Role.AGENT, True),
        (Role.AGENT, Role.SUPERVISOR, False),
        (Role.AGENT, Role.ADMIN, False),
        (Role.SUPERVISOR, Role.AGENT, True),
        (Role.SUPERVISOR, Role.SUPERVISOR, True),
        (Role.SUPERVISOR, Role.ADMIN, False),
        (Role.ADMIN, Role.AGENT, True),
        (Role.ADMIN, Role.SUPERVISOR, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_roles_are_ordered_agent_supervisor_admin(
    role: Role, required: Role, allowed: bool
) -> None:
    assert role.allows(required) is allowed


class CountingLookup:
    def __init__(self, answers: dict[str, Caller]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, token: str) -> Caller | None:
        self.calls.append(token)
        return self.answers.get(token)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_successful_lookups_are_cached_until_the_ttl_expires() -> None:
    lookup, clock = CountingLookup(dict(TOKENS)), Clock()
    auth = Authenticator(lookup, ttl=30.0, clock=clock)

    assert await auth.authenticate("agent-token") == TOKENS["agent-token"]
    clock.now += 29.9
    assert await auth.authenticate("agent-token") == TOKENS["agent-token"]
    assert lookup.calls == ["agent-token"]

    clock.now += 0.2  # 30.1 s after the first lookup
    await auth.authenticate("agent-token")
    assert lookup.calls == ["agent-token", "agent-token"]


async def test_failures_are_never_cached() -> None:
    lookup, clock = CountingLookup({}), Clock()
    auth = Authenticator(lookup, clock=clock)

    assert await auth.authenticate("new-token") is None
    lookup.answers["new-token"] = TOKENS["admin-token"]  # created just now
    assert await auth.authenticate("new-token") == TOKENS["admin-token"]
    assert lookup.calls == ["new-token", "new-token"]


async def test_the_cache_keeps_no_plaintext_and_stays_bounded() -> None:
    answers = {f"t{i}": TOKENS["agent-token"] for i in range(5)}
    auth = Authenticator(CountingLookup(answers), max_entries=3, clock=Clock())
    for token in answers:
        await auth.authenticate(token)
    assert len(auth._cache) == 3
    assert not set(auth._cache) & set(answers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer not-a-known-token"},
        {"Authorization": "Bearer " + "x" * 600},
    ],
    ids=["missing", "empty", "basic", "unknown", "oversized"],
)
async def test_v1_without_a_valid_token_is_401_with_a_bearer_challenge(
    headers: dict[str, str],
) -> None:
    async with client(make_app()) as http:
        response = await http.get("/v1/seats", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["code"] == "unauthenticated"
    assert set(body) == {"code", "message", "details"}


async def test_every_v1_route_requires_a_token() -> None:
    app = make_app()
    routes = {
        (
            path.replace("{seat_id}", "1001")
            .replace("{name}", "sales")
            .replace("{call_id}", "node1:1.1")
            .replace("{message_id}", "sales:1-0")
            .replace("{file_name}", "a.wav")
            .replace("{campaign_id}", "1")
            .replace("{lead_id}", "1")
            .replace("{phone}", "+8613800138000")
            .replace("{recording_id}", "1")
            .replace("{tag}", "exemplary")
            .replace("{key}", "sales"),
            method.upper(),
        )
        for path, methods in app.openapi()["paths"].items()
        if path.startswith("/v1")
        for method in methods
    }
    assert {("/v1/seats", "GET"), ("/v1/calls", "GET"), ("/v1/skill-groups", "GET")} <= routes
    async with client(app) as http:
        for path, method in sorted(routes):
            response = await http.request(method, path)
            assert response.status_code == 401, (method, path)


def app_with_guarded_routes() -> FastAPI:
    app = make_app()

    @app.get("/v1/test/admin-only")
    async def admin_only(caller: Annotated[Caller, Depends(require(Role.ADMIN))]) -> str:
        return caller.username

    @app.get("/v1/test/supervisors")
    async def supervisors(
        caller: Annotated[Caller, Depends(require(Role.SUPERVISOR))],
    ) -> str:
        return caller.username

    return app


@pytest.mark.parametrize(
    ("token", "path", "status"),
    [
        ("agent-token", "/v1/test/admin-only", 403),
        ("supervisor-token", "/v1/test/admin-only", 403),
        ("admin-token", "/v1/test/admin-only", 200),
        ("agent-token", "/v1/test/supervisors", 403),
        ("supervisor-token", "/v1/test/supervisors", 200),
        ("admin-token", "/v1/test/supervisors", 200),
    ],
)
async def test_require_admits_the_role_and_above(token: str, path: str, status: int) -> None:
    async with client(app_with_guarded_routes()) as http:
        response = await http.get(path, headers=bearer(token))
    assert response.status_code == status
    if status == 403:
        body = response.json()
        assert body["code"] == "forbidden"
        assert body["details"]["role"] == TOKENS[token].role.value


async def test_health_endpoints_need_no_token() -> None:
    async with client(make_app()) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200


async def test_a_token_checked_within_the_hour_works_while_the_database_is_away() -> None:
    """PostgreSQL restarting must not lock agents and supervisors out of the live state,
    which comes from Asterisk; a token never seen, or seen too long ago, still cannot
    get in."""
    lookup, clock = CountingLookup(dict(TOKENS)), Clock()
    auth = Authenticator(lookup, ttl=30.0, stale_for=3600.0, clock=clock)
    assert await auth.authenticate("agent-token") == TOKENS["agent-token"]

    async def away(token: str) -> Caller | None:
        raise Unavailable("database")

    auth._lookup = away
    clock.now += 31.0  # past the ttl: the lookup is asked, and fails
    assert await auth.authenticate("agent-token") == TOKENS["agent-token"]
    with pytest.raises(Unavailable):
        await auth.authenticate("admin-token")  # never checked: not let in
    clock.now += 3600.0
    with pytest.raises(Unavailable):
        await auth.authenticate("agent-token")  # checked over an hour ago
    auth._lookup = lookup
    assert await auth.authenticate("agent-token") == TOKENS["agent-token"]


async def test_a_revoked_token_leaves_the_cache_and_the_others_keep_their_fallback() -> None:
    """``forget`` drops only the revoked token: the others still work through an outage
    right after; and a lookup that began before the revocation is not believed."""
    agent = Caller(1, "alice", Role.AGENT, "1001", token_id=11)
    boss = Caller(2, "bob", Role.SUPERVISOR, None, token_id=12)
    lookup, clock = CountingLookup({"a": agent, "b": boss}), Clock()
    auth = Authenticator(lookup, ttl=30.0, stale_for=3600.0, clock=clock)
    assert await auth.authenticate("a") == agent and await auth.authenticate("b") == boss

    auth.forget(11)
    # The database answers from before the revocation committed (a lookup under way).
    assert await auth.authenticate("a") is None

    async def away(token: str) -> Caller | None:
        raise Unavailable("database")

    auth._lookup = away
    clock.now += 31.0
    assert await auth.authenticate("b") == boss  # the outage fallback is intact
    with pytest.raises(Unavailable):
        await auth.authenticate("a")  # revoked: no fallback


# -- authorization comes before anything about the body -------------------------------------

#: Supervisor-only routes that take a JSON body (the last one an admin's).
GUARDED_BODIES = [
    ("POST", "/v1/campaigns"),
    ("PATCH", "/v1/campaigns/1"),
    ("PUT", "/v1/campaigns/1/script"),
    ("POST", "/v1/dnc"),
    ("POST", "/v1/calls/node1:1.1/monitor"),
    ("PUT", "/v1/recordings/policies/sales"),
]
#: What an agent might send: each would be a 422 or a 415 for a caller the route admits.
BODIES = {
    "nul": ('{"name": "a\\u0000b", "script": "x\\u0000", "phone": "10\\u000001"}',
            "application/json"),
    "not_json": ("{not json", "application/json"),
    "not_a_json_type": ('{"name": "x"}', "text/plain"),
    "unknown_field": ('{"nothing": 1}', "application/json"),
}


@pytest.mark.parametrize(("method", "path"), GUARDED_BODIES)
@pytest.mark.parametrize("body", sorted(BODIES))
async def test_an_agent_is_refused_a_supervisors_route_before_its_body_is_looked_at(
    method: str, path: str, body: str
) -> None:
    content, media = BODIES[body]
    async with client(make_app()) as http:
        refused = await http.request(method, path, content=content.encode(),
                                     headers={**bearer("agent-token"), "Content-Type": media})
        anonymous = await http.request(method, path + "?x=a%00b", content=content.encode(),
                                       headers={"Content-Type": media})
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "forbidden"
    assert refused.json()["details"]["role"] == "agent"
    assert anonymous.status_code == 401, anonymous.text


async def test_no_v1_route_tells_a_caller_without_a_token_what_is_wrong_with_its_body(
) -> None:
    app = make_app()
    routes = sorted(
        (path.replace("{", "").replace("}", ""), method.upper())
        for path, methods in app.openapi()["paths"].items() if path.startswith("/v1")
        for method, operation in methods.items() if "requestBody" in operation)
    assert len(routes) >= 15
    async with client(app) as http:
        for path, method in routes:
            for content, media in BODIES.values():
                response = await http.request(method, path, content=content.encode(),
                                              headers={"Content-Type": media})
                assert response.status_code == 401, (method, path, media, response.text)


async def test_a_caller_the_route_admits_still_hears_what_is_wrong_with_the_body() -> None:
    async with client(make_app()) as http:
        nul = await http.post("/v1/dnc", content=BODIES["nul"][0].encode(),
                              headers={**bearer("supervisor-token"),
                                       "Content-Type": "application/json"})
        broken = await http.post("/v1/dnc", content=b"{not json",
                                 headers={**bearer("supervisor-token"),
                                          "Content-Type": "application/json"})
        typed = await http.post("/v1/dnc", content=b"{}",
                                headers={**bearer("supervisor-token"),
                                         "Content-Type": "text/plain"})
    assert nul.status_code == 422 and broken.status_code == 422, (nul.text, broken.text)
    assert typed.status_code == 415
