"""A generation's files (api/generations/artifacts.py): one at a time, or the whole project
as a zip."""

from __future__ import annotations

import hashlib
import io
import zipfile

from tests.conftest import Stack


async def test_artifacts_and_archive_serve_the_stored_files(stack: Stack) -> None:
    created = await stack.create()
    done = await stack.finished(created["id"])
    base = f"/v1/generations/{created['id']}"
    models = await stack.http.get(
        f"{base}/artifacts/library_service/models.py", headers=stack.auth()
    )
    assert models.status_code == 200
    assert models.headers["content-type"].startswith("text/x-python")
    listed = {a["path"]: a for a in done["artifacts"]}
    assert (
        hashlib.sha256(models.content).hexdigest() == listed["library_service/models.py"]["sha256"]
    )
    assert (
        await stack.http.get(f"{base}/artifacts/nope.py", headers=stack.auth())
    ).status_code == 404
    assert (
        await stack.http.get(f"{base}/artifacts/README.md", headers=stack.auth("bob"))
    ).status_code == 404

    archive = await stack.http.get(f"{base}/archive", headers=stack.auth())
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        assert set(zipped.namelist()) == set(listed)
        for path, artifact in listed.items():
            assert hashlib.sha256(zipped.read(path)).hexdigest() == artifact["sha256"]
    assert (await stack.http.get(f"{base}/archive", headers=stack.auth("bob"))).status_code == 404
