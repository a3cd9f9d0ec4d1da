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

# A fixed name rather than __name__: run as a script, __name__ is "__main__".
log = logging.getLogger("inventory")
# INFO and up also under gunicorn, where no basicConfig runs (see storefront/app.py).
log.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
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
    """Take ``qty`` of ``sku`` out of stock: 404 unknown sku, 409 not enough, 400 bad body.

    The error path, as a real bug would produce it: sku ``FAIL`` or ``?fail=1`` runs a
    broken query; the sqlite3 error becomes a logged exception and a 500.
    """
    body = request.get_json(silent=True)
    sku = body.get("sku") if isinstance(body, dict) else None
    qty = body.get("qty", 1) if isinstance(body, dict) else None
    if not isinstance(sku, str) or isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        log.warning("rejected reservation with body %r", request.get_data(as_text=True)[:200])
        return {"error": 'expected JSON {"sku": "<sku>", "qty": <positive integer>}'}, 400
    if sku == "FAIL" or request.args.get("fail") == "1":
        query("UPDATE stock SET qty = qty - ? WHERE no_such_column = ?", (qty, sku))
    cursor = query("UPDATE stock SET qty = qty - ? WHERE sku = ? AND qty >= ?", (qty, sku, qty))
    db().commit()
    if cursor.rowcount == 0:
        if query("SELECT 1 FROM stock WHERE sku = ?", (sku,)).fetchone() is None:
            log.warning("cannot reserve unknown sku %s", sku)
            return {"error": f"unknown sku {sku}"}, 404
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
