"""Inventory: a small Flask service over SQLite. No OpenTelemetry code: run it under
``opentelemetry-instrument`` and its requests, SQL queries and logs are traced."""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import threading
from typing import Any

from flask import Flask, g, jsonify, request

log = logging.getLogger("inventory")
DB_PATH = os.environ.get("INVENTORY_DB") or os.path.join(tempfile.gettempdir(), "otelbundle-inventory.db")
SEED = {"APPLE": ("Apple", 120, 0.5), "PEAR": ("Pear", 40, 0.7), "FIG": ("Fig", 3, 2.0)}

app = Flask(__name__)
_init_lock = threading.Lock()


def _connect() -> sqlite3.Connection:
    connection = sqlite3.connect(DB_PATH, timeout=5)
    connection.row_factory = sqlite3.Row
    return connection


def init_db() -> None:
    with _init_lock, _connect() as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, name TEXT, qty INTEGER, price REAL)"
        )
        db.executemany(
            "INSERT OR IGNORE INTO stock (sku, name, qty, price) VALUES (?, ?, ?, ?)",
            [(sku, *row) for sku, row in SEED.items()],
        )


def db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = _connect()
    return g.db  # type: ignore[no-any-return]


def query(sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
    """Through a cursor, the portable DB-API way (the contrib dbapi instrumentation
    traces cursor.execute, not sqlite3's Connection.execute shortcut)."""
    cursor = db().cursor()
    cursor.execute(sql, params)
    return cursor


@app.teardown_appcontext
def close_db(_: BaseException | None) -> None:
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()


@app.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


@app.get("/stock")
def all_stock() -> Any:
    rows = query("SELECT sku, name, qty, price FROM stock ORDER BY sku").fetchall()
    log.info("listed %d products", len(rows))
    return jsonify([dict(row) for row in rows])


@app.get("/stock/<sku>")
def stock(sku: str) -> Any:
    row = query("SELECT sku, name, qty, price FROM stock WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        log.warning("unknown sku %s", sku)
        return {"error": f"unknown sku {sku}"}, 404
    return dict(row)


@app.post("/reserve")
def reserve() -> Any:
    body = request.get_json(silent=True) or {}
    sku, qty = str(body.get("sku", "")), int(body.get("qty", 1))
    if sku == "FAIL":
        # The example's error path: a broken query, as a real bug would produce.
        query("UPDATE stock SET qty = qty - ? WHERE no_such_column = ?", (qty, sku))
    cursor = query("UPDATE stock SET qty = qty - ? WHERE sku = ? AND qty >= ?", (qty, sku, qty))
    db().commit()
    if cursor.rowcount == 0:
        log.warning("cannot reserve %d x %s", qty, sku)
        return {"error": "not enough stock", "sku": sku}, 409
    log.info("reserved %d x %s", qty, sku)
    return {"sku": sku, "reserved": qty}


@app.errorhandler(sqlite3.Error)
def database_error(exc: sqlite3.Error) -> Any:
    log.exception("database error")
    return {"error": "database error"}, 500


init_db()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8001")), threaded=True)
