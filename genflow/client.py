"""A small synchronous client for the genflow HTTP API (used by the CLI)."""

from __future__ import annotations

import json
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    """An error answer of the API, with the problem+json `detail`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class StreamError(Exception):
    """The event stream could not be followed to its end within the retries."""


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of a generation's stream."""

    id: int | None
    event: str
    data: dict[str, Any]


def _problem(response: httpx.Response) -> ApiError:
    """An ApiError from an error response (problem+json, or whatever came back)."""
    detail: str | None = None
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title")
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            fields = "; ".join(
                f"{'.'.join(str(part) for part in e.get('loc', []))}: {e.get('msg', '')}"
                for e in errors
                if isinstance(e, dict)
            )
            detail = f"{detail} ({fields})" if detail else fields
    if not detail:
        detail = response.text.strip() or response.reason_phrase or "request failed"
    return ApiError(response.status_code, f"{detail} (HTTP {response.status_code})")


def parse_sse(lines: Iterator[str]) -> Iterator[Event]:
    """Events from SSE lines; an event cut off before its blank line is dropped."""
    event_id: int | None = None
    name = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                payload = "\n".join(data)
                try:
                    parsed = json.loads(payload)
                except ValueError:
                    parsed = {"raw": payload}
                yield Event(
                    event_id, name, parsed if isinstance(parsed, dict) else {"value": parsed}
                )
            event_id, name, data = None, "message", []
            continue
        if line.startswith(":"):
            continue  # comment (keep-alive)
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "id":
            event_id = int(value) if value.strip().isdigit() else None
        elif field == "event":
            name = value
        elif field == "data":
            data.append(value)


class GenflowClient:
    """The genflow API over one `httpx.Client` with a bearer token."""

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.max_retries = max_retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            # Reads on the stream wait for events; the server sends a keep-alive every 15 s.
            timeout=httpx.Timeout(timeout, read=max(timeout, 60.0)),
            transport=transport,
        )

    def __enter__(self) -> GenflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, url, **kwargs)
        if response.status_code >= 400:
            raise _problem(response)
        return response

    def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        body = self._request(method, url, **kwargs).json()
        if not isinstance(body, dict):
            raise ApiError(500, "unexpected response body")
        return body

    # -- resources --------------------------------------------------------------

    def create(
        self,
        prompt: str,
        *,
        template: str | None = None,
        project_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": prompt, **extra}
        if template is not None:
            body["template"] = template
        if project_id is not None:
            body["project_id"] = project_id
        return self._json("POST", "/v1/generations", json=body)

    def list_generations(
        self, *, limit: int = 20, status: list[str] | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        params: list[tuple[str, str | int]] = [("limit", limit)]
        params += [("status", s) for s in status or []]
        if cursor:
            params.append(("cursor", cursor))
        return self._json("GET", "/v1/generations", params=params)

    def get(self, generation_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/generations/{generation_id}")

    def cancel(self, generation_id: str, reason: str | None = None) -> dict[str, Any]:
        return self._json(
            "POST", f"/v1/generations/{generation_id}/cancel", json={"reason": reason}
        )

    def iterate(self, generation_id: str, prompt: str, **extra: Any) -> dict[str, Any]:
        body = {"prompt": prompt, **{k: v for k, v in extra.items() if v is not None}}
        return self._json("POST", f"/v1/generations/{generation_id}/iterate", json=body)

    def retry(self, generation_id: str, priority: str | None = None) -> dict[str, Any]:
        body = {"priority": priority} if priority is not None else None
        return self._json("POST", f"/v1/generations/{generation_id}/retry", json=body)

    def decide(self, generation_id: str, approve: bool, reason: str | None) -> dict[str, Any]:
        action = "approve" if approve else "reject"
        return self._json(
            "POST", f"/v1/generations/{generation_id}/{action}", json={"reason": reason}
        )

    def statistics(self) -> dict[str, Any]:
        return self._json("GET", "/v1/generations/statistics")

    def download(self, generation_id: str, directory: Path) -> list[str]:
        """Fetch the archive and extract it into `directory`; the extracted paths."""
        with tempfile.TemporaryFile() as spool:
            with self._http.stream("GET", f"/v1/generations/{generation_id}/archive") as response:
                if response.status_code >= 400:
                    response.read()
                    raise _problem(response)
                for chunk in response.iter_bytes():
                    spool.write(chunk)
            spool.seek(0)
            with zipfile.ZipFile(spool) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                for name in names:
                    parts = PurePosixPath(name).parts
                    if PurePosixPath(name).is_absolute() or ".." in parts or not parts:
                        raise ApiError(500, f"refusing unsafe path in archive: {name!r}")
                directory.mkdir(parents=True, exist_ok=True)
                archive.extractall(directory)
        return names

    # -- events -----------------------------------------------------------------

    def stream_events(self, generation_id: str, after: int = 0) -> Iterator[Event]:
        """Every event after `after`, in order and once each, until `done`.

        A dropped connection (a transport error, or a stream that ends before `done`)
        is resumed with `Last-Event-ID` of the last event seen, after a short backoff;
        more than `max_retries` reconnects in a row without a new event raise
        StreamError. Error answers (4xx) raise ApiError at once."""
        last = after
        failures = 0
        url = f"/v1/generations/{generation_id}/stream"
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if last > 0:
                headers["Last-Event-ID"] = str(last)
            reason: str
            try:
                with self._http.stream("GET", url, headers=headers) as response:
                    if response.status_code >= 400:
                        response.read()
                        error = _problem(response)
                        if response.status_code < 500:
                            raise error
                        reason = str(error)
                    else:
                        for event in parse_sse(response.iter_lines()):
                            if event.id is not None:
                                if event.id <= last:
                                    continue  # already yielded before a reconnect
                                last = event.id
                            failures = 0
                            yield event
                            if event.event == "done":
                                return
                        reason = "the stream ended before `done`"
            except httpx.TransportError as err:
                reason = f"{type(err).__name__}: {err}"
            failures += 1
            if failures > self.max_retries:
                raise StreamError(
                    f"lost the event stream of {generation_id} after {self.max_retries} "
                    f"retries ({reason})"
                )
            time.sleep(min(self.backoff * 2 ** (failures - 1), 5.0))
