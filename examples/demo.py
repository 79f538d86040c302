"""A small tpstore application: run it to see typed, persistent collections at work.

    python examples/demo.py [PATH]

It declares a store with several collection kinds, writes and reads validated models,
shows an invalid value being refused, a nested transaction rolling back and an item
expiring, then runs `tpstore info` on the file it made. PATH defaults to a new file in
a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

import tpstore


class User(BaseModel):
    name: str
    email: str = Field(pattern=r".+@.+")
    age: int = Field(default=0, ge=0)


class Settings(BaseModel):
    theme: str = "light"


class App(tpstore.Store):
    users: tpstore.Mapping[str, User]  # a dict, in key order
    hits: tpstore.Mapping[str, int]  # native integers
    tags: tpstore.Set[str]  # a set, in sorted order
    log: tpstore.Sequence[str]  # a list
    jobs: tpstore.Deque[dict[str, str]] = tpstore.field(maxlen=100)  # a bounded queue
    logins: tpstore.OrderedMapping[tuple[str, datetime], str]  # tuple keys
    sessions: tpstore.ExpiringMapping[str, str] = tpstore.field(
        lifespan=timedelta(minutes=30)
    )  # items expire
    settings: tpstore.Value[Settings] = tpstore.field(default_factory=Settings)


def section(title: str) -> None:
    print(f"\n== {title}")


def main(path: Path) -> None:
    with App(path) as app:
        section("validated models in, the same models out")
        app.users["ada"] = {"name": "Ada Lovelace", "email": "ada@example.org", "age": 36}
        app.users["alan"] = User(name="Alan Turing", email="alan@example.org")
        for key, user in app.users.items():
            print(f"users[{key!r}] = {user!r}")
        assert isinstance(app.users["ada"], User)

        section("an invalid value is refused, and nothing is written")
        try:
            app.users["bob"] = {"name": "Bob", "email": "not an address", "age": -1}
        except tpstore.ValidationError as error:
            print(f"refused: {error}")
        print(f"'bob' in users: {'bob' in app.users}")

        section("a nested transaction rolls back on its own")
        with app.transaction():
            app.hits.increment("home")
            app.log.append("home page visited")
            try:
                with app.transaction():
                    app.hits.increment("home", 1000)
                    app.log.append("this line is rolled back")
                    raise RuntimeError("changed my mind")
            except RuntimeError as error:
                print(f"inner transaction rolled back: {error}")
        print(f"hits: {dict(app.hits)}, log: {list(app.log)}")

        section("sets, deques, tuple keys and values")
        app.tags.update(["python", "sqlite", "pydantic"])
        app.jobs.extend([{"job": "resize"}, {"job": "email"}])
        first_job = app.jobs.popleft()
        app.logins[("ada", datetime(2024, 5, 1, 9, tzinfo=UTC))] = "laptop"
        app.logins[("ada", datetime(2024, 5, 2, 8, tzinfo=UTC))] = "phone"
        with app.settings.edit() as settings:
            settings.theme = "dark"
        print(f"tags: {list(app.tags)}")
        print(f"popped {first_job}, still queued: {list(app.jobs)}")
        print(f"logins: {[(who, when.date().isoformat()) for who, when in app.logins]}")
        print(f"settings: {app.settings.value!r}")

        section("an item that expires")
        app.sessions["ada"] = "token-1"  # lives 30 minutes
        app.sessions.set("alan", "token-2", lifespan=0.5)  # lives half a second
        print(f"sessions now: {sorted(app.sessions)}")
        time.sleep(0.6)
        print(f"sessions 0.6 s later: {sorted(app.sessions)} (alan's expired)")

    section(f"tpstore info {path}")
    sys.stdout.flush()
    subprocess.run([sys.executable, "-m", "tpstore", "info", str(path)], check=True)
    # The interpreter this demo runs on has tpstore (a system python3 may not).
    python = os.path.relpath(sys.executable)
    python = sys.executable if python.startswith("..") else python
    print(f"\nThe store is in {path}. Look inside with: {python} -m tpstore dump {path}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "demo.db"
    main(target)
