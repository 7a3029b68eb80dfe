"""Write the API's OpenAPI document to tests/openapi.json, or with --check compare them.

Run as `python -m bench.openapi_snapshot`. A refactor of the API must not change what it
promises: `tests/test_openapi_document.py` compares the document the app builds with this
snapshot byte for byte. Run this script after a deliberate change of the contract, and
review the diff it makes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parent.parent / "tests" / "openapi.json"


def rendered() -> str:
    from api.app import create_app
    from genflow.settings import Settings

    settings = Settings(
        jwt_secret="snapshot-" + "x" * 40, database_url="sqlite+aiosqlite:///unused.db"
    )
    return json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    text = rendered()
    if "--check" in sys.argv[1:]:
        same = SNAPSHOT.read_text(encoding="utf-8") == text
        print("the OpenAPI document matches its snapshot" if same else "the document changed")
        return 0 if same else 1
    SNAPSHOT.write_text(text, encoding="utf-8")
    print(f"wrote {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
