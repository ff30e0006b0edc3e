"""Fuzz every operation of /openapi.json as an admin and as an officer: no 5xx, and only declared answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.conftest import Person, WireClient
from vault.identities.models import Role

# What a client can send that the generators never do: hypothesis leaves out lone surrogates, PostgreSQL refuses NUL,
# and a Latin-1 digit passes str.isdigit(). Each generated request is also sent once per string it holds (JSON body,
# query, declared headers) and per poison that string can carry, with the poison appended to that string alone.
SURROGATE, NUL, LATIN1_DIGIT = "\ud800", "\x00", "\u00b2"
POISONS = (SURROGATE, NUL, LATIN1_DIGIT)

# Bounded and derandomized: the same few examples per operation on every run, each run well under a minute.
BOUNDED = settings(max_examples=3, derandomize=True, deadline=None, database=None,
                   phases=[Phase.explicit, Phase.generate],
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture
def admin(make_person: Callable[..., Person]) -> Person:
    """Return an administrator."""
    return make_person(Role.ADMIN)


@pytest.fixture
def officer(make_person: Callable[..., Person]) -> Person:
    """Return an officer with a valid enforcement certificate."""
    return make_person(Role.OFFICER, certificate="F0001")


def string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Yield the path of every string inside a JSON value."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_paths(item, (*path, index))


def poisoned(value: Any, path: tuple[Any, ...], poison: str) -> Any:
    """Return a copy of the JSON value with the poison appended to the string at path."""
    if not path:
        return value + poison
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = poisoned(value[path[0]], path[1:], poison)
    return copy


def text_properties(spec: dict[str, Any], case: Case) -> list[str]:
    """Return the string properties the operation's JSON body schema declares (optional ones are rarely generated)."""
    operation = spec["paths"][case.operation.path][case.method.lower()]
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return [name for name, prop in schema.get("properties", {}).items()
            if "string" in {prop.get("type"), *(option.get("type") for option in prop.get("anyOf", []))}
            and "enum" not in prop and "format" not in prop]


def variants(case: Case, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield the generated request's parts, then a copy per string in them with one poison appended to it."""
    body = case.body
    if isinstance(body, dict):  # every declared text field present, so each one gets poisoned in turn
        body = {**dict.fromkeys(text_properties(spec, case), "x"), **body}
    parts = {"json": body if isinstance(body, dict | list) else None,
             "text": case.body if isinstance(case.body, str) else None, "params": dict(case.query or {}),
             "headers": {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}}
    if case.operation.path.startswith("/api/uploads"):  # else nearly every tus request stops at 412
        parts["headers"] = {k: v for k, v in parts["headers"].items() if k.lower() != "tus-resumable"}
        parts["fixed"] = {"Tus-Resumable": "1.0.0"}
    poisons = {"json": (SURROGATE, NUL)}
    found = [(poison, part, path) for part in ("json", "text", "params", "headers")
             for path in string_paths(parts[part]) for poison in poisons.get(part, (NUL, LATIN1_DIGIT))]
    # Refusable variants first and the plain request last: one that is stored would make the rest a 409 duplicate.
    for poison, part, path in sorted(found, key=lambda item: POISONS.index(item[0])):
        yield {**parts, part: poisoned(parts[part], path, poison)}
    yield {**parts, "json": case.body if isinstance(case.body, dict | list) else None}


def send(client: WireClient, case: Case, person: Person, parts: dict[str, Any]) -> Any:
    """Send the request to the app as the person: JSON as ASCII, header values as their Latin-1 bytes."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=person.headers)
    kwargs.pop("cookies", None)
    kwargs["params"] = parts["params"]
    headers = {**kwargs["headers"], **parts["headers"], **parts.get("fixed", {}), **person.headers}
    kwargs["headers"] = {name: value.encode("latin-1") if isinstance(value, str) else value
                         for name, value in headers.items()}
    data = kwargs.pop("data", None)
    if data is not None:
        kwargs["content" if isinstance(data, bytes | str) else "data"] = data
    if parts["text"] is not None:
        kwargs["content"] = parts["text"].encode()
    if kwargs.pop("json", None) is not None or parts["json"] is not None:  # a surrogate travels as the escape \ud800
        kwargs["content"] = json.dumps(parts["json"]).encode()
        kwargs["headers"]["Content-Type"] = b"application/json"
    return client.request(kwargs.pop("method"), kwargs.pop("url"), **kwargs)


# No 5xx; and every status and error body is one the schema declares for that operation.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def failures(client: WireClient, person: Person) -> list[str]:
    """Fuzz every operation with valid and invalid requests; return what answered 5xx or off the schema."""
    spec = client.request("GET", "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @BOUNDED
        @given(case=cases)
        def check(case: Case) -> None:
            for parts in variants(case, spec):
                response = send(client, case, person, parts)
                try:
                    case.validate_response(response, checks=CHECKS)
                except (FailureGroup, ServerError):  # noted, not raised: no shrinking, every operation reported
                    found.append(f"{case.operation.label} {response.status_code} {response.text:.200} to "
                                 f"{response.request.headers.get('content-type')} {response.request.content!r:.100}")

        check()
    return found


def test_every_request_of_an_admin_gets_a_declared_answer_and_no_5xx(wire: WireClient, admin: Person) -> None:
    assert failures(wire, admin) == []


def test_every_request_of_an_officer_gets_a_declared_answer_and_no_5xx(wire: WireClient, officer: Person) -> None:
    assert failures(wire, officer) == []
