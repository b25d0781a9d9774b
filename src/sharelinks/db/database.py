"""The database handle: one engine, transactions, and where blocking calls run.

On SQLite units of work go over one long-lived connection, one batch at a time: no pool checkout,
one writer by construction. A batch runs in a worker thread beside the event loop (SQLite's own work
releases the GIL, so the loop serves meanwhile), or on the loop itself with `units_on_loop` (the
delivery worker process, whose batches are many and small). Units of work that arrive while the
previous batch is in the database share one transaction (group commit), each inside its own
savepoint: one fails alone, and a batch pays for one BEGIN and one COMMIT instead of one each.
PostgreSQL calls wait on the network, so there batches run in
worker threads over pooled connections, several at once; a batch is one transaction, and if any unit
in it fails the batch is rolled back and each unit re-run in its own transaction, so one unit's
failure never touches another's outcome. What a unit registers with `after_commit` runs once its
transaction has committed, and never for a unit or transaction rolled back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError

from sharelinks.db import nodes
from sharelinks.ids import ordered_under

T = TypeVar("T")
Item = TypeVar("Item")
Job = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]
Outcome = tuple[Any, BaseException | None]
log = logging.getLogger("sharelinks.db")

# With background checkpoints on, a commit pays for a checkpoint only past this much larger
# automatic threshold. Under steady writes from two processes (`serve` and `sharelinks worker`)
# the WAL seldom finds a moment to start over (one of them is always mid-transaction), so it does
# reach the threshold, and from then on commits checkpoint too: a commit took 20-66 ms now and then
# (strace: the batch thread syncing the WAL and copying pages). Checkpointing every 0.1 s instead of
# every second leaves those commits almost nothing to copy: events with a link and a webhook message,
# worker in its own process, p99 42-47 → 24-26 ms at the same rate (interleaved runs); with the
# worker in `serve` 34-39 → 29 ms; plain events and links unchanged.
BACKGROUND_AUTOCHECKPOINT_PAGES = 50_000
CHECKPOINT_INTERVAL_SECONDS = 0.1


# RETURNING (3.35) and UPDATE … FROM (3.33) carry the many-row writes (db.rows, db.upsert); JSON
# functions (built in since 3.38, an option before that nearly every build turned on) the clicks.
SQLITE_MINIMUM = (3, 35)


@functools.cache  # once per process: every Database (each CLI command, each test) would repeat it
def _check_sqlite() -> None:
    if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
        raise RuntimeError(
            f"SQLite {'.'.join(map(str, SQLITE_MINIMUM))} or newer is needed; this Python has {sqlite3.sqlite_version}"
        )
    try:
        sqlite3.connect(":memory:").execute("SELECT json_extract('[1]', '$[0]')").close()
    except sqlite3.OperationalError as exc:
        raise RuntimeError(f"this Python's SQLite {sqlite3.sqlite_version} was built without JSON functions") from exc


def _sqlite_engine(url: str, autocheckpoint: int | None, mmap_bytes: int, cache_mib: int) -> Engine:
    _check_sqlite()
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (needed for
        # savepoints and for BEGIN IMMEDIATE below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process crash; on power loss the last
        # transactions may be lost. SQLite's documented trade-off for WAL, stated in the README.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Random 64-bit keys spread writes over many B-tree pages: keep them in memory.
        cursor.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
        cursor.execute(f"PRAGMA mmap_size={int(mmap_bytes)}")
        if autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
        # The wait for another process's write lock is `begin_immediate`'s (below), not SQLite's.
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Take the write lock up front: a deferred transaction that later writes can fail with
        # SQLITE_BUSY when another process (the CLI, a worker) wrote in between.
        begin_immediate(conn.connection.driver_connection)

    return engine


BUSY_WAIT_SECONDS = 30.0
BUSY_PAUSES = (0.0001, 0.0002, 0.0005, 0.001)  # then 1 ms on


def begin_immediate(driver: Any) -> None:
    """BEGIN IMMEDIATE, waiting up to BUSY_WAIT_SECONDS while another process holds the write lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 … ms between tries: a transaction that
    found a `sharelinks worker` writing waited 1 ms at least, 8 or 18 if it missed again, though the
    lock was often free after a fraction of one, and every request of the batch waited with it.
    Tried here every 0.1 to 1 ms instead (with the lock held 3 ms at a time by another connection:
    waits p50 1.1 → 0.16 ms, longest 54 → 0.9 ms). Straight to the driver: this runs on every
    transaction, and SQLAlchemy's execution path would cost more than the statement.
    """
    deadline: float | None = None
    tries = 0
    while True:
        try:
            driver.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            now = time.monotonic()
            if not _busy(exc) or (deadline is not None and now > deadline):
                raise
            if deadline is None:
                deadline = now + BUSY_WAIT_SECONDS
        time.sleep(BUSY_PAUSES[min(tries, len(BUSY_PAUSES) - 1)])
        tries += 1


def _busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY  # extended codes too


# A pooled PostgreSQL connection idle this long is pinged before use (a restart or a proxy may
# have dropped it); one used more recently goes straight to work. SQLAlchemy's pool_pre_ping pinged
# every checkout: a round trip per group of requests, measured in alternation at 5-8 % of the
# create-link and event throughput against the same-run no-op. A connection that dies while busy
# fails its unit once; the pool is invalidated and the unit's requests are retried alone.
IDLE_PING_SECONDS = 1.0


def _postgres_engine(url: str, pool_size: int) -> Engine:
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since <= IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (a new one if need be).
            raise DisconnectionError(f"an idle connection was dropped: {exc}") from exc

    return engine


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        background_checkpoints: bool = False,
        mmap_bytes: int = 256 << 20,
        cache_mib: int = 64,
        units_on_loop: bool = False,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Where a batch of units runs on SQLite. In a worker thread by default: SQLite's own work
        # (statements, commit) releases the GIL, so the loop serves meanwhile on the other core
        # (measured with the worker in `serve`: 1,769-1,868 → 1,908-2,006 ingested events/s; plain
        # events 4,632-4,844 → 4,900-5,178). On the loop for `sharelinks worker`, whose many small
        # batches (claims, attempt records) paid more for the thread hand-off than they gained:
        # 4,389-4,739 deliveries/s on the loop against 3,907-4,456 in a thread (interleaved runs).
        self._units_on_loop = self.is_sqlite and units_on_loop
        if self.is_sqlite:
            autocheckpoint = BACKGROUND_AUTOCHECKPOINT_PAGES if background_checkpoints else None
            self.engine = _sqlite_engine(url, autocheckpoint, mmap_bytes, cache_mib)
        else:
            self.engine = _postgres_engine(url, pool_size)
        self._shared: Connection | None = None
        self._node: int | None = None  # claimed before the first transaction (db.nodes)
        self._next_claim = 0.0
        self._lock = threading.RLock()
        self._batch: list[Job] = []
        # Groups still taking items: launched ones until their batch is taken, and waiting ones.
        self._groups: dict[Callable[..., Any], _Group] = {}
        # Groups of one operation in the database at once, the next collecting meanwhile. SQLite: one
        # (one connection). PostgreSQL: two, so one group's round trips and its thread's hand-offs
        # overlap the other's. Measured in alternation against one: 1,568-1,645 → 1,680-1,833
        # links/s, 1,724-1,918 → 2,021-2,285 events/s, p99 lower; three or four were no better.
        self._groups_in_flight = 1 if self.is_sqlite else 2
        self._groups_running: Counter[Callable[..., Any]] = Counter()
        self._aside = asyncio.Lock()
        self._aside_running = False
        self._batches_running = 0
        self._max_batches = 1 if self.is_sqlite else max(1, pool_size // 2)  # SQLite: one connection
        self._checkpointer: _Checkpointer | None = None
        if self.is_sqlite and background_checkpoints:
            self._checkpointer = _Checkpointer(self.engine.url.database or "")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises. What the block
        registered with `after_commit` runs once the commit is done, and never if it is not."""
        if not self.is_sqlite:
            node = self._node if self._node is not None else self._claim_node(None)
            callbacks: list[Callable[[], None]] = []
            with self.engine.begin() as conn, ordered_under(node):
                try:
                    yield conn
                finally:
                    callbacks = conn.info.pop(_AFTER_COMMIT, [])  # before the pool takes it back
            _run_after_commit(callbacks)
            return
        with self._lock:
            conn = self._connection()
            node = self._node if self._node is not None else self._claim_node(conn)
            try:
                with conn.begin(), ordered_under(node):
                    yield conn
            except BaseException:
                conn.info.pop(_AFTER_COMMIT, None)
                # A COMMIT that fails (a deferred constraint, a full disk) can leave SQLite's
                # transaction open while SQLAlchemy takes it as ended: every later BEGIN on this one
                # shared connection would then fail. End it in the driver too.
                driver = conn.connection.driver_connection if not conn.closed else None
                if driver is not None and driver.in_transaction:
                    driver.rollback()
                raise
            _run_after_commit(conn.info.pop(_AFTER_COMMIT, []))

    def _claim_node(self, shared: Connection | None) -> int | None:
        """This Database's node number for ordered IDs (`db.nodes`), once its table is there. Tried
        at most once a second meanwhile: an extra statement per transaction would cost a round trip
        on PostgreSQL, and would meet (and hide) a dead pooled connection before the unit's own work."""
        now = time.monotonic()
        if now < self._next_claim:
            return None
        self._next_claim = now + 1.0
        try:
            if shared is not None:
                with shared.begin():
                    self._node = nodes.claim(shared)
            else:
                with self.engine.begin() as conn:
                    self._node = nodes.claim(conn)
        except DBAPIError:
            log.debug("no node for ordered IDs yet (database not migrated): random IDs")
        return self._node

    def _connection(self) -> Connection:
        if self._shared is None or self._shared.closed:
            self._shared = self.engine.connect()
        return self._shared

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(conn, *args)` in its own transaction, synchronously."""
        with self.transaction() as conn:
            return fn(conn, *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(conn, *args)` atomically from async code: all of its writes or none."""
        return await self._submit(fn, args, kwargs)

    def _submit(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._batch.append((fn, args, kwargs, future))
        if len(self._batch) == 1:
            # Runs after the tasks already ready in this iteration, so their work joins the batch.
            loop.call_soon(self._run_batch if self._units_on_loop else self._dispatch_pooled)
        return future

    async def run_together(
        self,
        together: Callable[[Connection, list[Item]], list[T | Passed]],
        alone: Callable[[Connection, Item], T],
        item: Item,
    ) -> T:
        """`alone(conn, item)`, but items of the same operation that wait for the same batch are
        handed to `together(conn, items)` at once: set-based statements instead of a few per item.

        `together` answers each item with its result, or with `PASSED` for an item it leaves to
        `alone` (anything off its common path); it either handles an item completely or not at all,
        so it never leaves an item half written. Passed items run after the group's transaction,
        as if they had arrived a moment later. If `together` raises, every item of the group is
        retried alone: one item's failure never becomes another's.

        A group of an operation is in the database at a time (two on PostgreSQL); the next collects
        every item that arrives meanwhile (on PostgreSQL, where groups wait on the network, groups
        then grow with the load instead of many small ones each paying a transaction's round trips).
        """
        group = self._groups.get(together)
        if group is None:
            group = self._groups[together] = _Group(together, asyncio.get_running_loop())
            if self._groups_running[together] < self._groups_in_flight:
                self._launch(group)
        index = len(group.items)
        group.items.append(item)
        try:
            # Shielded: a request that goes away must not cancel the others' shared unit.
            outcome = (await asyncio.shield(group.outcomes))[index]
        except Exception:
            log.warning("a grouped unit of work failed; its items run alone", exc_info=True)
            outcome = PASSED
        if outcome is PASSED:
            return await self.run(alone, item)
        return outcome  # type: ignore[no-any-return]

    def _launch(self, group: _Group) -> None:
        self._groups_running[group.together] += 1
        group.launched = True

        def finished(job: asyncio.Future[list[Any]]) -> None:
            self._groups_running[group.together] -= 1
            if job.cancelled():
                group.outcomes.cancel()
            else:
                error = job.exception()
                _settle(group.outcomes, None if error else job.result(), error)
            waiting = self._groups.get(group.together)
            if waiting is not None and not waiting.launched:
                self._launch(waiting)

        self._submit(group.run, (), {}).add_done_callback(finished)

    async def run_aside(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a long unit of work (thousands of rows) atomically, beside the event loop, not on it.

        With units on the loop (SQLite, `units_on_loop`), the unit runs in a worker thread over the
        one connection while the loop's own units queue behind it (they wait; the loop does not):
        the sqlite3 module releases the GIL while SQLite works, so that work uses the other core.
        Otherwise every batch runs beside the loop already, and this is `run`.
        """
        if not self._units_on_loop:
            return await self.run(fn, *args)  # batches run beside the loop already
        async with self._aside:
            if self._batch:
                self._run_batch()  # units already waiting go first: a stream of aside work must not starve them
            self._aside_running = True
            try:
                return await anyio.to_thread.run_sync(self.call, fn, *args)
            finally:
                self._aside_running = False
                if self._batch:
                    asyncio.get_running_loop().call_soon(self._run_batch)

    def _close_launched_groups(self) -> None:
        """The batch being taken holds every launched group: they take no more items."""
        self._groups = {fn: group for fn, group in self._groups.items() if not group.launched}

    def _dispatch_pooled(self) -> None:
        if not self._batch or self._batches_running >= self._max_batches:
            return  # a running batch dispatches what accumulated when it finishes
        batch, self._batch = self._batch, []
        self._close_launched_groups()
        self._batches_running += 1
        asyncio.get_running_loop().create_task(self._run_pooled(batch))

    async def _run_pooled(self, batch: list[Job]) -> None:
        try:
            outcomes = await anyio.to_thread.run_sync(self._execute_pooled, batch)
        except BaseException as exc:
            outcomes = [(None, exc)] * len(batch)
        finally:
            self._batches_running -= 1
            self._dispatch_pooled()
        for (*_, future), (result, error) in zip(batch, outcomes, strict=True):
            _settle(future, result, error)

    def _execute_pooled(self, batch: list[Job]) -> list[Outcome]:
        if self.is_sqlite:
            return self._in_savepoints(batch)
        if len(batch) > 1:
            try:
                with self.transaction() as conn:
                    return [(fn(conn, *args, **kwargs), None) for fn, args, kwargs, _ in batch]
            except Exception:
                pass  # rolled back as a whole: give every unit its own transaction below
        outcomes: list[Outcome] = []
        for fn, args, kwargs, _ in batch:
            try:
                outcomes.append((self.call(fn, *args, **kwargs), None))
            except Exception as exc:
                outcomes.append((None, exc))
        return outcomes

    def _run_batch(self) -> None:
        """SQLite, units on the loop: the waiting batch, run here."""
        if self._aside_running:
            return  # the connection is the aside unit's; it runs this batch when it is done
        batch, self._batch = self._batch, []
        self._close_launched_groups()
        for (*_, future), (result, error) in zip(batch, self._in_savepoints(batch), strict=True):
            _settle(future, result, error)

    def _in_savepoints(self, batch: list[Job]) -> list[Outcome]:
        """SQLite: a batch's units in one transaction, each in its own savepoint (a failing one is
        rolled back alone); if the transaction itself fails, nothing of it is written and every
        unit fails."""
        outcomes: list[Outcome] = []
        try:
            with self.transaction() as conn:
                driver = conn.connection.driver_connection
                assert driver is not None
                callbacks = conn.info.setdefault(_AFTER_COMMIT, [])
                for fn, args, kwargs, _ in batch:
                    driver.execute("SAVEPOINT unit_of_work")
                    registered = len(callbacks)
                    try:
                        result = fn(conn, *args, **kwargs)
                    except Exception as exc:
                        driver.execute("ROLLBACK TO unit_of_work")
                        driver.execute("RELEASE unit_of_work")
                        del callbacks[registered:]  # what the unit undone registered
                        outcomes.append((None, exc))
                    else:
                        driver.execute("RELEASE unit_of_work")
                        outcomes.append((result, None))
        except Exception as exc:
            return [(None, exc)] * len(batch)
        return outcomes

    def start_background_tasks(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.start()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            if self._shared is not None:
                self._shared.close()
                self._shared = None
        self.engine.dispose()


_AFTER_COMMIT = "sharelinks_after_commit"


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run `callback` in the committing thread once the transaction `conn` is in has committed; never
    if it rolls back, nor if the unit of work that registered it is rolled back alone (its savepoint).
    For hand-offs of what the transaction made (it must exist before anyone acts on it): quick, and
    safe to call from any thread."""
    conn.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _run_after_commit(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the commit stands; one hand-off failing must not undo the others
            log.exception("an after-commit callback failed")


class Passed:
    """What a grouped unit answers for an item it leaves to the one-item path."""

    def __repr__(self) -> str:
        return "PASSED"


PASSED = Passed()


class _Group:
    """Items of one operation collected for one unit of work; closed when its batch is taken."""

    def __init__(self, together: Callable[[Connection, list[Any]], list[Any]], loop: asyncio.AbstractEventLoop) -> None:
        self.together = together
        self.items: list[Any] = []
        self.launched = False
        self.outcomes: asyncio.Future[list[Any]] = loop.create_future()

    def run(self, conn: Connection) -> list[Any]:
        outcomes = self.together(conn, self.items)
        assert len(outcomes) == len(self.items)
        return outcomes


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the request went away (client disconnected)
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _Checkpointer:
    """Copies the SQLite WAL into the database file from a thread, off the request path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.path and self.path != ":memory:":
            self._thread = threading.Thread(target=self._loop, name="sqlite-checkpoint", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        try:
            while not self._stop.wait(CHECKPOINT_INTERVAL_SECONDS):
                try:
                    # PASSIVE never blocks writers; the sqlite3 module drops the GIL while it runs.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    log.warning("wal checkpoint failed", extra={"error": str(exc)})
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
