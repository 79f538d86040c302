"""Encode + decode cost of each tpstore codec beside plain pickle, json and orjson.

    python benchmarks/bench_codecs.py [--number N] [--repeat R]

Method: every contender runs in this one process on the same values. A tpstore figure
is the whole path a store runs for one value, minus SQLite: `Converter.encode` (pydantic
validation, the codec's faithfulness checks, encoding) plus `Converter.decode` (decoding
and validation back into the declared type), taken from a real `Store` declaration.
Baselines do no validation unless they say so:

- `pickle`: `pickle.dumps` / `pickle.loads` of the same value (protocol 5);
- `json`: stdlib `json.dumps` / `json.loads` of its JSON form (`model_dump(mode="json")`);
- `orjson`: `orjson.dumps` / `orjson.loads` of that JSON form;
- `by hand`: orjson plus pydantic validation written by hand, the work the default JSON
  codec replaces: `orjson.dumps(ta.dump_python(ta.validate_python(v), mode="json"))`
  and `ta.validate_python(orjson.loads(raw))`.

Each figure is the best of `--repeat` rounds of `--number` encode+decode pairs, in
microseconds per pair; in each round every contender of a value runs once, in turn,
so load from other processes hits them alike. A ratio is tpstore time / baseline
time, so below 1.0 means the tpstore path is cheaper. Inputs are plain dicts (what
`m[k] = {...}` passes) and, for the model, also model instances (tpstore re-validates
those; `by hand` then re-validates with `model_validate(v.model_dump())`). The machine
is printed with the results. The target checked at the end: the default JSON path costs at most 1.2x
`by hand`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import marshal
import os
import pickle
import platform
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import orjson
import pydantic

import tpstore
from tpstore import Mapping, Store, field
from tpstore.codecs import compressed


class Line(pydantic.BaseModel):
    sku: str
    quantity: int
    price: float


class Order(pydantic.BaseModel):
    id: uuid.UUID
    customer: str
    email: str
    placed: datetime.datetime
    paid: bool = False
    note: str | None = None
    lines: list[Line]


@attrs.define
class LineAttrs:
    sku: str
    quantity: int
    price: float


@attrs.define
class OrderAttrs:
    id: uuid.UUID
    customer: str
    email: str
    placed: datetime.datetime
    paid: bool
    note: str | None
    lines: list[LineAttrs]


def _has_msgpack() -> bool:
    try:
        import ormsgpack  # noqa: F401
    except ImportError:
        return False
    return True


HAS_MSGPACK = _has_msgpack()


class Bench(Store):
    json_orders: Mapping[str, Order]
    pickle_orders: Mapping[str, Order] = field(codec="pickle")
    msgpack_orders: Mapping[str, Order] = field(codec="msgpack" if HAS_MSGPACK else "pickle")
    zlib_orders: Mapping[str, Order] = field(codec=compressed("json"))
    attrs_orders: Mapping[str, OrderAttrs]
    marshal_docs: Mapping[str, dict[str, list[int]]] = field(codec=marshal)
    stdlib_docs: Mapping[str, dict[str, list[int]]] = field(codec=json)
    json_docs: Mapping[str, dict[str, list[int]]]
    ints: Mapping[str, int]
    texts: Mapping[str, str]
    tuple_keys: Mapping[tuple[str, int, datetime.datetime], int]


ORDER: dict[str, Any] = {
    "id": uuid.UUID(int=123456789),
    "customer": "Ada Lovelace",
    "email": "ada@example.org",
    "placed": datetime.datetime(2024, 5, 1, 12, 30, 5, 123000, tzinfo=datetime.UTC),
    "paid": True,
    "note": None,
    "lines": [
        {"sku": f"SKU-{i:04d}", "quantity": i + 1, "price": 9.99 * (i + 1)} for i in range(5)
    ],
}
DOC = {"evens": list(range(0, 40, 2)), "odds": list(range(1, 40, 2))}
KEY = ("job", 42, datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC))


def best_of(contenders: dict[str, Callable[[], Any]], number: int, repeat: int) -> dict[str, float]:
    """Best microseconds per call of each contender over `repeat` rounds.

    Each round times every contender once, in turn, so a burst of load from other
    processes hits all of them alike rather than one figure.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, pair in contenders.items():
            start = time.perf_counter()
            for _ in range(number):
                pair()
            times[name].append(time.perf_counter() - start)
    return {name: min(runs) / number * 1e6 for name, runs in times.items()}


def column_pair(name: str, value: Any, *, key: bool = False) -> Callable[[], Any]:
    spec = Bench.__tpstore_fields__[name]
    column: Any = spec.key if key else spec.value

    def run() -> Any:
        return column.decode(column.encode(value))

    assert _same(run(), value, column.declared), name
    return run


def _same(back: Any, value: Any, declared: Any) -> bool:
    if (
        isinstance(value, dict)
        and isinstance(declared, type)
        and issubclass(declared, pydantic.BaseModel)
    ):
        return bool(back == declared.model_validate(value))
    return bool(back == value)


def baselines(value: Any, adapter: pydantic.TypeAdapter[Any]) -> dict[str, Callable[[], Any]]:
    jsonable = adapter.dump_python(adapter.validate_python(value), mode="json")
    validated = adapter.validate_python(value)

    def by_hand() -> Any:
        raw = orjson.dumps(adapter.dump_python(adapter.validate_python(value), mode="json"))
        return adapter.validate_python(orjson.loads(raw))

    return {
        "pickle": lambda: pickle.loads(pickle.dumps(validated, protocol=5)),
        "json": lambda: json.loads(json.dumps(jsonable)),
        "orjson": lambda: orjson.loads(orjson.dumps(jsonable)),
        "by hand": by_hand,
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
        f"Python {sys.version.split()[0]}; pydantic {pydantic.VERSION}, "
        f"orjson {orjson.__version__}, tpstore {tpstore.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    number, repeat = args.number, args.repeat

    order_adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(Order)
    doc_adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(dict[str, list[int]])
    instance = Order.model_validate(ORDER)
    order_attrs = OrderAttrs(**{**ORDER, "lines": [LineAttrs(**x) for x in ORDER["lines"]]})

    cases: list[tuple[str, str, Callable[[], Any], dict[str, Callable[[], Any]]]] = []
    order_base = baselines(ORDER, order_adapter)
    for codec, table in [
        ("json (default)", "json_orders"),
        ("pickle", "pickle_orders"),
        ("msgpack" if HAS_MSGPACK else "msgpack (missing)", "msgpack_orders"),
        ("compressed(json)", "zlib_orders"),
    ]:
        cases.append((codec, "Order, dict input", column_pair(table, ORDER), order_base))
    instance_base = dict(order_base)
    instance_base["by hand"] = lambda: order_adapter.validate_python(
        orjson.loads(
            orjson.dumps(Order.model_validate(instance.model_dump()).model_dump(mode="json"))
        )
    )
    cases.append(
        (
            "json (default)",
            "Order, model input",
            column_pair("json_orders", instance),
            instance_base,
        )
    )
    cases.append(
        ("cattrs (default)", "attrs Order", column_pair("attrs_orders", order_attrs), order_base)
    )
    doc_base = baselines(DOC, doc_adapter)
    for codec, table in [
        ("json (default)", "json_docs"),
        ("module:marshal", "marshal_docs"),
        ("module:json", "stdlib_docs"),
    ]:
        cases.append((codec, "dict[str, list[int]]", column_pair(table, DOC), doc_base))
    int_adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(int)
    str_adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(str)
    cases.append(("native", "int", column_pair("ints", 1234567), baselines(1234567, int_adapter)))
    cases.append(
        (
            "native",
            "str",
            column_pair("texts", "hello wörld"),
            baselines("hello wörld", str_adapter),
        )
    )
    key_adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
        tuple[str, int, datetime.datetime]
    )
    cases.append(
        (
            "tuple_key",
            "key (str, int, datetime)",
            column_pair("tuple_keys", KEY, key=True),
            baselines(KEY, key_adapter),
        )
    )

    print(f"machine: {machine()}")
    print(
        f"method: best of {repeat} interleaved rounds x {number} encode+decode pairs per "
        "figure, in one process; ratio = tpstore / baseline (below 1.0: tpstore cheaper)\n"
    )
    names = ["pickle", "json", "orjson", "by hand"]
    header = f"{'codec':<18} {'value':<26} {'us/pair':>8} " + " ".join(
        f"{'x ' + n:>11}" for n in names
    )
    print(header)
    print("-" * len(header))
    target: list[tuple[str, float]] = []
    reported: dict[str, dict[str, float]] = {}
    for codec, what, run, base in cases:
        times = best_of({"tpstore": run, **base}, number, repeat)
        ours = times["tpstore"]
        reported.setdefault(what, times)
        ratios = " ".join(f"{ours / times[n]:>11.2f}" for n in names)
        print(f"{codec:<18} {what:<26} {ours:>8.2f} {ratios}")
        if codec == "json (default)":
            target.append((what, ours / times["by hand"]))
    print("\nbaselines, us/pair (as measured beside the first codec of each value):")
    for what, times in reported.items():
        print(f"  {what:<26} " + ", ".join(f"{n} {times[n]:.2f}" for n in names))
    print("\ntarget: default JSON path <= 1.2x orjson + pydantic by hand")
    for what, ratio in target:
        print(f"  {what:<26} {ratio:.2f}x  {'ok' if ratio <= 1.2 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
