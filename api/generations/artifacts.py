"""What a generation produced: one file at a time, or the whole project as a zip."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from .. import conditional
from ..deps import CurrentUser
from ..problems import problems
from .dependencies import ServiceDep

router = APIRouter(prefix="/v1/generations", tags=["generations"])


@router.get(
    "/{generation_id}/artifacts/{path:path}",
    summary="One generated file's content",
    response_class=Response,
    responses={
        **problems(404),
        **conditional.NOT_MODIFIED,
        200: {
            "description": "The file, with its own media type",
            "content": {"*/*": {"schema": {"description": "The file's bytes, as stored"}}},
            "headers": conditional.ETAG_HEADER,
        },
    },
)
async def get_artifact(
    generation_id: uuid.UUID,
    path: str,
    user: CurrentUser,
    generations: ServiceDep,
    if_none_match: conditional.IfNoneMatchHeader = None,
) -> Response:
    """The raw file, with its media type and its sha256 (as in `artifacts[].sha256`)
    as a strong `ETag`: send it back in `If-None-Match` for a bodyless 304 while the
    file is unchanged."""
    file = await generations.file(generation_id, user, path)
    return conditional.conditional_response(file.content, file.media_type, if_none_match)


class _Chunks(io.RawIOBase):
    """A write-only sink that hands out what was written since the last call."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._buffer += data
        return len(data)

    def take(self) -> bytes:
        data, self._buffer = bytes(self._buffer), bytearray()
        return data


@router.get(
    "/{generation_id}/archive",
    summary="The whole project as a zip",
    response_class=StreamingResponse,
    responses={**problems(404), 200: {"content": {"application/zip": {}}}},
)
async def get_archive(
    generation_id: uuid.UUID, user: CurrentUser, generations: ServiceDep
) -> StreamingResponse:
    """Every file of the generation, streamed as a zip one file at a time."""
    files = await generations.files(generation_id, user)

    async def archive() -> AsyncIterator[bytes]:
        sink = _Chunks()
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zipped:
            async for file in files:
                zipped.writestr(file.path, file.content)
                yield sink.take()
        yield sink.take()

    return StreamingResponse(
        archive(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="generation-{generation_id}.zip"'},
    )
