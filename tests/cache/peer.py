"""Another process sharing a database and a Redis cache with a test.

``python -m tests.cache.peer DATABASE_URL CACHE_URL`` reads one command per line from
stdin and answers each with one JSON line: ``count``, ``names`` (the List's names),
``create NAME``, ``stats``; ``quit`` (or end of input) ends it.
"""

from __future__ import annotations

import json
import sys

from dataflow_engine import DataFlow
from tests.support import one


def main(database_url: str, cache_url: str) -> None:
    with DataFlow(database_url, cache=cache_url) as db:

        @db.model
        class Person:
            name: str

        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "count":
                answer: object = one(db, "PersonCountNode", {})["count"]
            elif command == "names":
                answer = [r["name"] for r in one(db, "PersonListNode", {})["records"]]
            elif command == "create":
                answer = one(db, "PersonCreateNode", {"name": arg})["id"]
            elif command == "stats":
                answer = db.cache_stats()
            else:
                break
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
