"""FeatureStore: an on-disk cache of computed CLIP embeddings and text heads.

``CLIPFeatures(cache=folder)`` keeps every embedding it computes in a
``FeatureStore``, keyed by the model (backbone, weights, preprocessing,
precision: one opaque ``model_key`` string built by the caller) and by the
image identity (one opaque ``image_key`` string per image), so that a second
run only encodes the images it has not seen and switching a model never
returns another model's vectors. The zero-shot text heads, and a small record
per model (what ``CLIPFeatures`` needs to read the store without loading the
model), are kept in the same store under their own keys.

Why SQLite
----------
The store is one SQLite database, ``features.sqlite``, inside the cache
folder, in write-ahead-log (WAL) mode, through the standard library's
``sqlite3``:

* **one file**, not one file per image: a million images must fit, and a
  million 1024-float vectors is about 4 GB in one file, which SQLite handles
  well (its limit is in the terabytes);
* **atomic transactions**: each :meth:`FeatureStore.put` is one transaction,
  so a crash, a kill or a Ctrl-C in the middle of a batch leaves the store as
  it was after the last committed batch, with no partial row, and the next run
  simply resumes (it finds the committed images and encodes the rest);
* **several processes at once**: under WAL, readers never block and are never
  blocked, and writers from several processes take turns (each waits up to
  ``timeout`` seconds for the write lock instead of failing with "database is
  locked");
* **no extra dependency**: ``sqlite3`` ships with Python.

``PRAGMA synchronous=NORMAL`` is used: in WAL mode it never corrupts the
database; a power cut (not a process crash) may lose the last few committed
batches, which are then simply encoded again.

Vectors are stored as float32 little-endian bytes and come back bit-identical.
Every row carries its width and dtype, and a row whose bytes do not match them
(or that holds a non-finite value) is treated as missing, with a warning, never
returned as garbage.

The connection is opened lazily, once per process: a store that is pickled
(only its folder and timeout travel), or inherited through ``fork``, opens its
own connection on first use in the new process. Threads of one process share
its connection under a lock.
"""

import json
import os
import sqlite3
import threading
import time
import warnings
import weakref
from collections import Counter
from contextlib import contextmanager
from numbers import Real

import numpy as np

__all__ = ["FeatureStore"]

SCHEMA_VERSION = 1
FILENAME = "features.sqlite"
_DTYPE = "<f4"  # the only on-disk format of this schema: float32, little-endian
_ITEMSIZE = 4

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS vectors ("
    " model TEXT NOT NULL, image TEXT NOT NULL, dim INTEGER NOT NULL,"
    " dtype TEXT NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (model, image)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS heads ("
    " key TEXT PRIMARY KEY, shape TEXT NOT NULL, dtype TEXT NOT NULL, data BLOB NOT NULL)",
)

# Stores alive in this process, and the connections they held when this process
# was forked. SQLite forbids using (closing included) a connection opened in the
# parent from a forked child, so a child keeps those objects referenced for its
# whole life, never closes them, and opens its own connections.
_LIVE_STORES = weakref.WeakSet()
_INHERITED_CONNECTIONS = []


def _forget_connections_after_fork():
    for store in list(_LIVE_STORES):
        store._drop_connection()
        store._lock = threading.Lock()  # another thread may have held it in the parent


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_connections_after_fork)


def _is_busy(exc):
    """Whether ``exc`` says that another connection holds a lock (worth waiting for)."""
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message)


@contextmanager
def _transaction(conn, begin):
    """A transaction on an autocommit connection: committed, or rolled back on any exception.

    A transaction left open by an interruption (a Ctrl-C between ``BEGIN`` and
    its end) is rolled back first.
    """
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.execute(begin)
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _check_key(key, what):
    if not isinstance(key, str) or not key:
        raise ValueError(f"{what} must be a non-empty str, got {key!r}")
    return str(key)


def _check_keys(keys, what="image_keys"):
    if isinstance(keys, str | bytes):
        raise ValueError(f"{what} must be a sequence of str, not a single {type(keys).__name__}")
    keys = [str(k) if isinstance(k, str) else k for k in keys]
    for key in keys:
        if not isinstance(key, str) or not key:
            raise ValueError(f"{what} must hold non-empty str, got {key!r}")
    return keys


def _as_float32(array, what):
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be real numbers, got dtype {array.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(array, dtype=_DTYPE, order="C")
    if not np.isfinite(out).all():
        raise ValueError(f"{what} holds NaN or infinite values (after conversion to float32)")
    return out


class FeatureStore:
    """A cache of CLIP image embeddings and text heads in one SQLite file.

    The store lives in ``folder/features.sqlite`` (the folder is created if
    missing). Nothing is opened when the store is made: the database is
    opened, created if needed, on first use, once per process.

    Parameters
    ----------
    folder : str or path-like
        The cache folder. Several stores, in one process or in several, may
        use the same folder at the same time.
    timeout : float, default=60.0
        How many seconds a writer waits for another process's write to finish
        before giving up with ``sqlite3.OperationalError``.

    Attributes
    ----------
    folder : str
        The absolute path of the cache folder.
    path : str
        The absolute path of the database file.

    Notes
    -----
    Keys are opaque, non-empty strings built by the caller. The ``model_key``
    must name everything that changes the vectors (backbone, weights tag or
    checkpoint hash, preprocessing, precision); the image keys must name the
    image content (for example ``"file:/abs/path:size:mtime_ns"`` or
    ``"bytes:<sha256>"``). A vector is only ever returned for the exact
    ``(model_key, image_key)`` pair it was stored under.

    All vectors of one ``model_key`` have one width. Each :meth:`put` is one
    transaction: it is stored entirely or not at all.

    Pickling keeps only ``folder`` and ``timeout``; the unpickled store opens
    its own connection on first use. :meth:`close` closes this process's
    connection; using the store again reopens it.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skclipens._store import FeatureStore
    >>> with tempfile.TemporaryDirectory() as folder, FeatureStore(folder) as store:
    ...     store.put("ViT-B-32/openai", ["bytes:aa", "bytes:bb"], np.eye(2, 4))
    ...     vectors, found = store.get("ViT-B-32/openai", ["bytes:bb", "bytes:cc"])
    ...     other, found_other = store.get("RN50/openai", ["bytes:bb"])
    >>> vectors
    array([[0., 1., 0., 0.]], dtype=float32)
    >>> found, found_other
    (array([ True, False]), array([False]))
    """

    #: Rows per ``executemany`` call inside one :meth:`put` transaction.
    _PUT_CHUNK = 1000
    #: Keys per ``SELECT ... IN (...)`` in :meth:`get` (under SQLite's old 999 limit).
    _GET_CHUNK = 500

    def __init__(self, folder, timeout=60.0):
        try:
            folder = os.fspath(folder)
        except TypeError:
            raise ValueError(f"folder must be a str or path-like, got {folder!r}") from None
        if isinstance(folder, bytes):
            folder = os.fsdecode(folder)
        if not folder:
            raise ValueError("folder must be a non-empty path")
        if not isinstance(timeout, Real) or not timeout >= 0:
            raise ValueError(f"timeout must be a number >= 0, got {timeout!r}")
        self.folder = os.path.abspath(folder)
        self.path = os.path.join(self.folder, FILENAME)
        self.timeout = float(timeout)
        self._conn = None
        self._pid = None
        self._lock = threading.Lock()
        _LIVE_STORES.add(self)

    def __repr__(self):
        return f"FeatureStore({self.folder!r})"

    # -- pickling and context management -------------------------------------------------

    def __getstate__(self):
        return {"folder": self.folder, "timeout": self.timeout}

    def __setstate__(self, state):
        self.__init__(state["folder"], timeout=state["timeout"])

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Close this process's connection (the store reopens it when used again)."""
        with self._lock:
            self._drop_connection()

    def _drop_connection(self):
        """Forget the connection: close it if this process opened it; one opened by the parent
        of a fork is kept referenced and never closed here."""
        conn, pid = self._conn, self._pid
        self._conn = self._pid = None
        if conn is not None and pid == os.getpid():
            conn.close()
        elif conn is not None:
            _INHERITED_CONNECTIONS.append(conn)

    # -- connection ----------------------------------------------------------------------

    def _run(self, operation):
        """Run ``operation(conn)`` on this process's connection, under the lock.

        The connection is opened on first use in each process. An operation
        that finds the database locked by another process (beyond SQLite's own
        busy wait, which some steps such as switching to WAL or recovering a
        WAL do not use) is run again, until ``timeout`` seconds have passed:
        every operation is one transaction, rolled back when it fails, so
        running it again is safe.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        with self._lock:
            while True:
                try:
                    if self._conn is None or self._pid != os.getpid():
                        self._drop_connection()  # one inherited through fork stays open
                        self._conn = self._open()
                        self._pid = os.getpid()
                    return operation(self._conn)
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or time.monotonic() + delay > deadline:
                        raise
                time.sleep(delay)
                delay = min(2 * delay, 0.05)

    def _open(self):
        if os.path.exists(self.folder) and not os.path.isdir(self.folder):
            raise ValueError(f"cache folder {self.folder!r} exists and is not a folder")
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cache folder {self.folder!r} cannot be created: {exc}") from exc
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise ValueError(f"cache folder {self.folder!r} is not writable")
        try:
            # isolation_level=None: no implicit transactions; put and the schema set-up
            # open their own (BEGIN IMMEDIATE), so the busy timeout always applies.
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise ValueError(f"cannot open the feature store in {self.folder!r}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                warnings.warn(
                    f"the feature store in {self.folder!r} could not use WAL mode "
                    f"(journal mode {mode!r}); concurrent readers may wait on writers",
                    RuntimeWarning,
                    stacklevel=4,
                )
            conn.execute("PRAGMA synchronous = NORMAL")
            self._check_schema(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _is_busy(exc):
                raise  # another process holds a lock: _run tries again
            raise ValueError(
                f"cannot use the feature store {self.path!r} (not a feature store, "
                f"or a folder that cannot be written): {exc}"
            ) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_schema(self, conn):
        version = self._schema_version(conn)
        if version is None:  # a new database: create it, once, under the write lock
            with self._write_transaction(conn):
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            version = self._schema_version(conn)
        if version != SCHEMA_VERSION:
            advice = (
                "it was written by a newer skclipens: upgrade, or use another cache folder"
                if isinstance(version, int) and version > SCHEMA_VERSION
                else "use another cache folder"
            )
            raise ValueError(
                f"the feature store {self.path!r} has schema version {version!r}, and this "
                f"version of skclipens reads schema version {SCHEMA_VERSION}; {advice}"
            )

    def _schema_version(self, conn):
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        if row is None:
            return None
        try:
            return int(row[0])
        except ValueError:
            return row[0]

    @staticmethod
    @contextmanager
    def _write_transaction(conn):
        """One write transaction: committed at the end, rolled back on any exception."""
        with _transaction(conn, "BEGIN IMMEDIATE"):  # takes the write lock first: no deadlock
            yield

    # -- vectors -------------------------------------------------------------------------

    def get(self, model_key, image_keys):
        """Look up stored vectors.

        Parameters
        ----------
        model_key : str
            The model the vectors were computed with.
        image_keys : sequence of str
            The images to look up. Repeated keys are answered at each place.

        Returns
        -------
        vectors : ndarray of shape (n_found, d), dtype float32
            The vectors found, in the order of ``image_keys``:
            ``vectors[i]`` belongs to ``image_keys[np.flatnonzero(found)[i]]``.
            With nothing found, ``d`` is the model's width if the store knows
            it, else 0.
        found : ndarray of shape (len(image_keys),), dtype bool
            Which keys were found.

        Warns
        -----
        UserWarning
            Once per call, when stored rows are damaged (bytes that do not
            match their width, an unknown dtype, non-finite values); those
            keys are reported as not found.
        """
        model_key = _check_key(model_key, "model_key")
        image_keys = _check_keys(image_keys)
        unique = list(dict.fromkeys(image_keys))

        def read(conn):
            rows = {}
            with _transaction(conn, "BEGIN"):  # one read snapshot for all chunks
                for start in range(0, len(unique), self._GET_CHUNK):
                    chunk = unique[start : start + self._GET_CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    cursor = conn.execute(
                        "SELECT image, dim, dtype, data FROM vectors "
                        f"WHERE model = ? AND image IN ({marks})",
                        (model_key, *chunk),
                    )
                    for image, dim, dtype, data in cursor:
                        rows[image] = (dim, dtype, data)
                known_dim = None if rows else self._model_dim(conn, model_key)
            return rows, known_dim

        rows, known_dim = self._run(read)

        keys, vectors, damaged = self._decode(rows)
        if damaged:
            warnings.warn(
                f"{len(damaged)} damaged vector(s) for model {model_key!r} in the feature "
                f"store {self.path!r} (e.g. image {damaged[0]!r}) are treated as missing "
                "and will be computed again",
                UserWarning,
                stacklevel=2,
            )
        index = {key: i for i, key in enumerate(keys)}
        found = np.fromiter(
            (key in index for key in image_keys), dtype=bool, count=len(image_keys)
        )
        if not keys:
            return np.empty((0, known_dim or 0), dtype=np.float32), found
        if len(image_keys) == len(keys) and keys == image_keys:
            return vectors, found
        return vectors[[index[key] for key in image_keys if key in index]], found

    @staticmethod
    def _decode(rows):
        """Decode fetched ``{image: (dim, dtype, data)}`` rows, setting damaged ones apart.

        Returns the keys of the usable rows, their vectors (float32, one row
        each, in the order of the keys) and the keys of the damaged rows.
        """
        shape_ok = {
            image: (dim, data)
            for image, (dim, dtype, data) in rows.items()
            if isinstance(dim, int)
            and dim > 0
            and dtype == _DTYPE
            and isinstance(data, bytes)
            and len(data) == dim * _ITEMSIZE
        }
        if shape_ok:  # one width per model is enforced on write; another width is damage
            dim = Counter(d for d, _ in shape_ok.values()).most_common(1)[0][0]
            shape_ok = {key: data for key, (d, data) in shape_ok.items() if d == dim}
        else:
            dim = 0
        keys = list(shape_ok)
        vectors = np.frombuffer(b"".join(shape_ok.values()), dtype=_DTYPE)
        vectors = vectors.reshape(len(keys), dim).astype(np.float32)
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            keys = [key for key, ok in zip(keys, finite) if ok]
            vectors = vectors[finite]
        usable = set(keys)
        damaged = [image for image in rows if image not in usable]
        return keys, vectors, damaged

    @staticmethod
    def _model_dim(conn, model_key):
        row = conn.execute("SELECT dim FROM vectors WHERE model = ? LIMIT 1", (model_key,))
        row = row.fetchone()
        return None if row is None else row[0]

    def put(self, model_key, image_keys, vectors):
        """Store vectors, replacing any stored under the same keys.

        The whole call is one transaction: if it fails or the process dies
        before it returns, nothing of it is stored.

        Parameters
        ----------
        model_key : str
            The model the vectors were computed with.
        image_keys : sequence of str
            One key per row of ``vectors``. With a repeated key, the last row
            wins.
        vectors : array-like of shape (n, d)
            Finite real numbers, stored as float32.

        Raises
        ------
        ValueError
            On keys that are not non-empty strings, a length mismatch,
            ``vectors`` that are not 2-D or hold NaN or infinite values, or a
            width ``d`` other than the one already stored for ``model_key``.
        """
        model_key = _check_key(model_key, "model_key")
        image_keys = _check_keys(image_keys)
        vectors = _as_float32(vectors, "vectors")
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (n, d), got shape {vectors.shape}")
        n, d = vectors.shape
        if n != len(image_keys):
            raise ValueError(f"{len(image_keys)} image_keys for {n} vectors")
        if d == 0:
            raise ValueError("vectors must have at least one column")
        if n == 0:
            return

        def write(conn):
            with self._write_transaction(conn):
                stored = self._model_dim(conn, model_key)
                if stored is not None and stored != d:
                    raise ValueError(
                        f"model {model_key!r} has vectors of width {stored} in the feature "
                        f"store {self.path!r}; cannot add vectors of width {d}"
                    )
                for start in range(0, n, self._PUT_CHUNK):
                    stop = min(start + self._PUT_CHUNK, n)
                    rows = [
                        (model_key, image_keys[i], d, _DTYPE, vectors[i].tobytes())
                        for i in range(start, stop)
                    ]
                    self._insert_rows(conn, rows)

        self._run(write)

    def _insert_rows(self, conn, rows):
        """Insert one chunk of rows inside the open transaction of :meth:`put`."""
        conn.executemany(
            "INSERT OR REPLACE INTO vectors (model, image, dim, dtype, data) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    def count(self, model_key):
        """Number of vectors stored for ``model_key``."""
        model_key = _check_key(model_key, "model_key")
        sql = "SELECT COUNT(*) FROM vectors WHERE model = ?"
        return self._run(lambda conn: conn.execute(sql, (model_key,)).fetchone()[0])

    def __len__(self):
        """Number of vectors stored, all models together."""
        return self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    # -- text heads ----------------------------------------------------------------------

    def get_record(self, key):
        """Look up a small JSON record (a dict) stored under ``key``, or None.

        ``CLIPFeatures`` records what it needs of a model to read the store
        without loading it: its preprocessing's identity and its logit scale.
        A record that is not a valid JSON object is treated as missing, with a
        warning.
        """
        key = "record:" + _check_key(key, "key")
        sql = "SELECT value FROM meta WHERE key = ?"
        row = self._run(lambda conn: conn.execute(sql, (key,)).fetchone())
        if row is None:
            return None
        try:
            record = json.loads(row[0])
        except (TypeError, ValueError):
            record = None
        if not isinstance(record, dict):
            warnings.warn(
                f"the record {key!r} in the feature store {self.path!r} is damaged and is "
                "treated as missing",
                UserWarning,
                stacklevel=2,
            )
            return None
        return record

    def put_record(self, key, record):
        """Store ``record`` (a dict of JSON values) under ``key``, replacing any there."""
        key = "record:" + _check_key(key, "key")
        if not isinstance(record, dict):
            raise ValueError(f"record must be a dict, got {type(record).__name__}")
        row = (key, json.dumps(record, allow_nan=False))

        def write(conn):
            with self._write_transaction(conn):
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", row)

        self._run(write)

    def get_head(self, head_key):
        """Look up a stored text head.

        Parameters
        ----------
        head_key : str
            The key the head was stored under.

        Returns
        -------
        head : ndarray of dtype float32, or None
            The stored array, with its shape, or ``None`` when the key is not
            stored (or its row is damaged, with a warning).
        """
        head_key = _check_key(head_key, "head_key")
        sql = "SELECT shape, dtype, data FROM heads WHERE key = ?"
        row = self._run(lambda conn: conn.execute(sql, (head_key,)).fetchone())
        if row is None:
            return None
        shape_text, dtype, data = row
        try:
            shape = tuple(json.loads(shape_text))
            ok = (
                all(isinstance(s, int) and s >= 0 for s in shape)
                and dtype == _DTYPE
                and isinstance(data, bytes)
                and len(data) == int(np.prod(shape, dtype=np.int64)) * _ITEMSIZE
            )
        except (TypeError, ValueError):
            ok = False
        if ok:
            head = np.frombuffer(data, dtype=_DTYPE).reshape(shape).astype(np.float32)
            ok = bool(np.isfinite(head).all())
        if not ok:
            warnings.warn(
                f"the text head {head_key!r} in the feature store {self.path!r} is damaged "
                "and is treated as missing",
                UserWarning,
                stacklevel=2,
            )
            return None
        return head

    def put_head(self, head_key, array):
        """Store a text head, replacing any stored under the same key.

        Parameters
        ----------
        head_key : str
            The key; it must name the model, the class names and the prompt
            templates the head was built from.
        array : array-like of float
            Finite real numbers of any shape, stored as float32: typically the
            class embeddings, shape (n_classes, d). A scalar such as the logit
            scale can be stored as a 0-D array under its own key.
        """
        head_key = _check_key(head_key, "head_key")
        array = _as_float32(array, "array")
        row = (head_key, json.dumps(list(array.shape)), _DTYPE, array.tobytes())

        def write(conn):
            with self._write_transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO heads (key, shape, dtype, data) VALUES (?, ?, ?, ?)",
                    row,
                )

        self._run(write)
