"""A small tpstore application: run it to see validated, persistent collections at work.

    python examples/demo.py [PATH]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pydantic import BaseModel

import tpstore


class User(BaseModel):
    name: str
    email: str
    age: int = 0


class Settings(BaseModel):
    theme: str = "light"


class App(tpstore.Store):
    users: tpstore.Mapping[str, User]
    hits: tpstore.Mapping[str, int]
    recent: tpstore.OrderedMapping[int, str]
    sessions: tpstore.ExpiringMapping[str, str] = tpstore.field(lifespan=1800)
    settings: tpstore.Value[Settings] = tpstore.field(default_factory=Settings)


def main(path: Path) -> None:
    with App(path) as app:
        app.users["ada"] = {"name": "Ada Lovelace", "email": "ada@example.org", "age": 36}
        app.users["alan"] = User(name="Alan Turing", email="alan@example.org")
        print("users:", dict(app.users))

        try:
            app.users["bad"] = {"name": "No Email"}
        except tpstore.ValidationError as exc:
            print("refused:", exc)

        with app.transaction():
            app.hits.increment("home")
            try:
                with app.transaction():
                    app.hits.increment("home", 100)
                    raise RuntimeError("changed my mind")
            except RuntimeError:
                pass
        print("hits after a rolled-back inner transaction:", dict(app.hits))

        app.sessions["token"] = "ada"
        print("session expires at:", app.sessions.expires_at("token"))
        with app.settings.edit() as settings:
            settings.theme = "dark"
        print("settings:", app.settings.value)
    print(f"store written to {path}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "demo.db"
    main(target)
