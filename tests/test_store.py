"""FeatureStore: the on-disk cache of CLIP embeddings and text heads."""

import multiprocessing
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from skclipens._store import FILENAME, SCHEMA_VERSION, FeatureStore

ROOT = Path(__file__).resolve().parents[1]
MODEL = "ViT-B-32|openai|224-bicubic|fp32"


def keys(start, stop, prefix="bytes:"):
    return [f"{prefix}{i:08d}" for i in range(start, stop)]


def expected(i, d=16):
    """A vector that can be recomputed from its image number alone."""
    return (np.arange(d, dtype=np.float32) + np.float32(i)) / np.float32(7.0)


def expected_block(start, stop, d=16):
    return np.stack([expected(i, d) for i in range(start, stop)])


def bits(array):
    return np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)


def raw(store):
    """A plain sqlite3 connection to the store's file, to inspect or damage it."""
    return sqlite3.connect(store.path, isolation_level=None)


# Child processes load skclipens._store alone, as a submodule of a bare package:
# importing the whole package (torch, scikit-learn) costs seconds per process, and
# the store needs only NumPy and the standard library.
LIGHT_IMPORT = f"""
import sys, types
package = types.ModuleType("skclipens")
package.__path__ = [{str(ROOT / "skclipens")!r}]
sys.modules.setdefault("skclipens", package)
import pickle, time, traceback, os
import numpy as np
from skclipens._store import FeatureStore
"""


def child_code(code, **values):
    """Python source for a fresh interpreter: the light import, ``values``, then ``code``."""
    assigned = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    return LIGHT_IMPORT + assigned + textwrap.dedent(code)


def run_child(code, **values):
    """Run ``code`` in a fresh interpreter and wait for it."""
    return subprocess.run(
        [sys.executable, "-c", child_code(code, **values)],
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- basics ---------------------------------------------------------------------------


def test_round_trip_is_bit_identical(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 33)).astype(np.float32)
    info = np.finfo(np.float32)
    vectors[0, :5] = [-0.0, info.max, info.min, info.tiny, info.smallest_subnormal]
    with FeatureStore(tmp_path) as store:
        store.put(MODEL, keys(0, 50), vectors)
        out, found = store.get(MODEL, keys(0, 50))
    assert found.dtype == bool and found.all()
    assert out.dtype == np.float32 and out.shape == (50, 33)
    assert out.flags.c_contiguous and out.flags.writeable
    np.testing.assert_array_equal(bits(out), bits(vectors))


def test_other_dtypes_are_stored_as_float32(tmp_path):
    store = FeatureStore(tmp_path)
    store.put(MODEL, ["a", "b"], np.array([[1.5, 2.0], [3.0, -4.25]]))  # float64
    store.put("int-model", ["a"], [[1, 2, 3]])
    out, _ = store.get(MODEL, ["a", "b"])
    np.testing.assert_array_equal(out, [[1.5, 2.0], [3.0, -4.25]])
    out, _ = store.get("int-model", ["a"])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 2, 3]])


def test_partial_hits_keep_the_requested_order(tmp_path):
    store = FeatureStore(tmp_path)
    store.put(MODEL, keys(0, 10), expected_block(0, 10))
    request = ["bytes:00000007", "new:1", "bytes:00000002", "bytes:00000007", "new:2"]
    request += ["bytes:00000000"]
    out, found = store.get(MODEL, request)
    np.testing.assert_array_equal(found, [True, False, True, True, False, True])
    np.testing.assert_array_equal(out, np.stack([expected(i) for i in (7, 2, 7, 0)]))


def test_nothing_found(tmp_path):
    store = FeatureStore(tmp_path)
    out, found = store.get(MODEL, [])
    assert out.shape == (0, 0) and found.shape == (0,)
    out, found = store.get(MODEL, ["x", "y"])
    assert out.shape == (0, 0) and out.dtype == np.float32
    np.testing.assert_array_equal(found, [False, False])
    store.put(MODEL, ["x"], np.ones((1, 5)))
    out, found = store.get(MODEL, ["y"])  # the width is known now
    assert out.shape == (0, 5) and not found.any()


def test_switching_the_model_never_returns_its_vectors(tmp_path):
    store = FeatureStore(tmp_path)
    images = keys(0, 20)
    store.put(MODEL, images, expected_block(0, 20))
    for other in ["ViT-B-32|laion2b|224-bicubic|fp32", "ViT-B-32|openai|224-bicubic|fp16"]:
        out, found = store.get(other, images)
        assert not found.any() and len(out) == 0
    # Another model's vectors under the same image keys are kept apart.
    store.put("RN50|openai", images, -expected_block(0, 20))
    np.testing.assert_array_equal(store.get(MODEL, images)[0], expected_block(0, 20))
    np.testing.assert_array_equal(store.get("RN50|openai", images)[0], -expected_block(0, 20))


def test_overwrite_replaces(tmp_path):
    store = FeatureStore(tmp_path)
    store.put(MODEL, keys(0, 5), expected_block(0, 5))
    store.put(MODEL, keys(3, 8), expected_block(103, 108))
    out, found = store.get(MODEL, keys(0, 8))
    assert found.all()
    np.testing.assert_array_equal(out[:3], expected_block(0, 3))
    np.testing.assert_array_equal(out[3:], expected_block(103, 108))
    assert store.count(MODEL) == 8
    # A repeated key in one put: the last row wins.
    store.put(MODEL, ["dup", "dup"], expected_block(1, 3))
    np.testing.assert_array_equal(store.get(MODEL, ["dup"])[0], [expected(2)])


def test_counts(tmp_path):
    store = FeatureStore(tmp_path)
    assert len(store) == 0 and store.count(MODEL) == 0
    store.put(MODEL, keys(0, 7), expected_block(0, 7))
    store.put("other", keys(0, 3), expected_block(0, 3, d=4))
    store.put(MODEL, keys(5, 9), expected_block(5, 9))
    assert store.count(MODEL) == 9
    assert store.count("other") == 3
    assert store.count("nobody") == 0
    assert len(store) == 12


def test_dim_mismatch_names_both_widths(tmp_path):
    store = FeatureStore(tmp_path)
    store.put(MODEL, ["a"], np.ones((1, 512)))
    with pytest.raises(ValueError, match=r"width 512.*width 768"):
        store.put(MODEL, ["b"], np.ones((1, 768)))
    assert store.count(MODEL) == 1
    store.put("ViT-L-14|openai", ["b"], np.ones((1, 768)))  # another model may differ


@pytest.mark.parametrize(
    "image_keys, vectors, match",
    [
        (["a", "b"], np.ones((3, 4)), "2 image_keys for 3 vectors"),
        (["a"], np.ones(4), "2-D"),
        (["a"], np.ones((1, 2, 2)), "2-D"),
        (["a", "b"], [[1.0, np.nan], [0.0, 1.0]], "NaN or infinite"),
        (["a"], [[np.inf, 1.0]], "NaN or infinite"),
        (["a"], np.array([[1e39, 1.0]]), "NaN or infinite"),  # overflows float32
        (["a"], np.ones((1, 0)), "at least one column"),
        (["a"], np.ones((1, 2), dtype=complex), "real numbers"),
        (["a"], [["x", "y"]], "real numbers"),
        ("ab", np.ones((2, 4)), "sequence of str"),
        ([1, 2], np.ones((2, 4)), "non-empty str"),
        (["a", ""], np.ones((2, 4)), "non-empty str"),
    ],
)
def test_bad_input_to_put(tmp_path, image_keys, vectors, match):
    store = FeatureStore(tmp_path)
    with pytest.raises(ValueError, match=match):
        store.put(MODEL, image_keys, vectors)
    assert len(store) == 0


@pytest.mark.parametrize("model_key", ["", None, 3])
def test_bad_model_key(tmp_path, model_key):
    store = FeatureStore(tmp_path)
    with pytest.raises(ValueError, match="model_key"):
        store.put(model_key, ["a"], np.ones((1, 2)))
    with pytest.raises(ValueError, match="model_key"):
        store.get(model_key, ["a"])
    with pytest.raises(ValueError, match="model_key"):
        store.count(model_key)


def test_empty_put_is_a_no_op(tmp_path):
    store = FeatureStore(tmp_path)
    store.put(MODEL, [], np.empty((0, 8)))
    assert len(store) == 0


def test_heads_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    head = rng.standard_normal((10, 512)).astype(np.float32)
    store = FeatureStore(tmp_path)
    assert store.get_head("head:ViT-B-32|cifar10|templates-v1") is None
    store.put_head("head:ViT-B-32|cifar10|templates-v1", head)
    store.put_head("scale:ViT-B-32", np.float32(100.0))
    out = store.get_head("head:ViT-B-32|cifar10|templates-v1")
    assert out.dtype == np.float32 and out.shape == (10, 512)
    np.testing.assert_array_equal(bits(out), bits(head))
    scale = store.get_head("scale:ViT-B-32")
    assert scale.shape == () and scale == np.float32(100.0)
    store.put_head("scale:ViT-B-32", 50.0)  # overwrite
    assert store.get_head("scale:ViT-B-32") == 50.0
    assert len(store) == 0  # heads are not vectors
    with pytest.raises(ValueError, match="NaN"):
        store.put_head("bad", [[1.0, np.nan]])
    with pytest.raises(ValueError, match="head_key"):
        store.put_head("", head)
    assert store.get_head("bad") is None


# -- files, folders, schema -----------------------------------------------------------


def test_lazy_one_file_in_wal_mode(tmp_path):
    folder = tmp_path / "cache" / "clip"
    store = FeatureStore(folder)
    assert not folder.exists()  # nothing is opened before first use
    assert store.folder == str(folder) and store.path == str(folder / FILENAME)
    for start in range(0, 2000, 500):
        store.put(MODEL, keys(start, start + 500), expected_block(start, start + 500))
    names = {p.name for p in folder.iterdir()}
    assert FILENAME in names
    assert names <= {FILENAME, FILENAME + "-wal", FILENAME + "-shm"}  # not a file per image
    conn = raw(store)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_persistence_after_close_and_reopen(tmp_path):
    store = FeatureStore(tmp_path)
    store.put(MODEL, keys(0, 30), expected_block(0, 30))
    store.put_head("h", np.eye(3))
    store.close()
    store.close()  # closing twice is fine
    again = FeatureStore(tmp_path)
    out, found = again.get(MODEL, keys(0, 30))
    assert found.all()
    np.testing.assert_array_equal(out, expected_block(0, 30))
    np.testing.assert_array_equal(again.get_head("h"), np.eye(3))
    again.close()
    assert store.count(MODEL) == 30  # a closed store reopens when used


def test_folder_that_is_a_file(tmp_path):
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    store = FeatureStore(path)
    with pytest.raises(ValueError, match="not-a-folder"):
        store.get(MODEL, ["a"])
    with pytest.raises(ValueError, match="cannot be created"):
        FeatureStore(path / "sub").put(MODEL, ["a"], np.ones((1, 2)))
    (tmp_path / "db-is-a-folder" / FILENAME).mkdir(parents=True)
    with pytest.raises(ValueError, match="db-is-a-folder"):
        len(FeatureStore(tmp_path / "db-is-a-folder"))


def test_file_that_is_not_a_store(tmp_path):
    (tmp_path / FILENAME).write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(ValueError, match="not a feature store"):
        len(FeatureStore(tmp_path))


def test_folder_that_cannot_be_written(tmp_path, monkeypatch):
    # Root writes anywhere whatever the mode, so the permission check is made to
    # say no, which runs the same path as a real read-only folder.
    import skclipens._store as store_module

    folder = tmp_path / "ro"
    folder.mkdir()
    monkeypatch.setattr(store_module.os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match="ro"):
        len(FeatureStore(folder))


def test_bad_folder_argument():
    with pytest.raises(ValueError, match="folder"):
        FeatureStore(None)
    with pytest.raises(ValueError, match="folder"):
        FeatureStore("")
    with pytest.raises(ValueError, match="timeout"):
        FeatureStore("x", timeout=-1)


def test_newer_schema_is_refused(tmp_path):
    store = FeatureStore(tmp_path)
    store.put(MODEL, ["a"], np.ones((1, 2)))
    store.close()
    conn = raw(store)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(ValueError, match=f"schema version {SCHEMA_VERSION + 1}.*newer"):
        FeatureStore(tmp_path).get(MODEL, ["a"])


def test_damaged_rows_are_missing_with_one_warning(tmp_path):
    store = FeatureStore(tmp_path)
    store.put(MODEL, keys(0, 6), expected_block(0, 6))
    conn = raw(store)
    damage = [
        ("UPDATE vectors SET data = substr(data, 1, 10) WHERE image = ?", "bytes:00000001"),
        ("UPDATE vectors SET dim = 8 WHERE image = ?", "bytes:00000002"),
        ("UPDATE vectors SET dtype = '<f8' WHERE image = ?", "bytes:00000003"),
        ("UPDATE vectors SET data = ? WHERE image = ?", "bytes:00000004"),
    ]
    nan_row = np.full(16, np.nan, dtype="<f4").tobytes()
    for sql, image in damage:
        conn.execute(sql, (nan_row, image) if sql.count("?") == 2 else (image,))
    conn.close()
    with pytest.warns(UserWarning, match="4 damaged vector") as record:
        out, found = store.get(MODEL, keys(0, 6))
    assert len(record) == 1
    np.testing.assert_array_equal(found, [True, False, False, False, False, True])
    np.testing.assert_array_equal(out, expected_block(0, 6)[[0, 5]])
    store.put(MODEL, keys(1, 5), expected_block(1, 5))  # computed again: repaired
    out, found = store.get(MODEL, keys(0, 6))
    assert found.all()
    np.testing.assert_array_equal(out, expected_block(0, 6))


def test_records_round_trip_apart_from_the_schema_version(tmp_path):
    store = FeatureStore(tmp_path)
    assert store.get_record("schema_version") is None  # records have their own keys
    assert store.get_record("model:x") is None
    store.put_record("model:x", {"preprocess": "abc", "logit_scale": 100.0})
    store.put_record("model:x", {"preprocess": "def", "logit_scale": 50.0})  # replaces
    assert FeatureStore(tmp_path).get_record("model:x") == {
        "preprocess": "def",
        "logit_scale": 50.0,
    }
    with pytest.raises(ValueError, match="record must be a dict"):
        store.put_record("model:y", [1, 2])
    with pytest.raises(ValueError):
        store.put_record("model:y", {"logit_scale": float("nan")})
    assert store.get_record("model:y") is None


def test_damaged_head_is_missing_with_a_warning(tmp_path):
    store = FeatureStore(tmp_path)
    store.put_head("h", np.ones((3, 4)))
    conn = raw(store)
    conn.execute("UPDATE heads SET shape = '[3, 5]' WHERE key = 'h'")
    conn.close()
    with pytest.warns(UserWarning, match="damaged"):
        assert store.get_head("h") is None


# -- crash safety ---------------------------------------------------------------------

CRASH_CHILD = """
store = FeatureStore(folder)
first = [f"first:{i}" for i in range(1500)]
store.put("m", first, np.arange(1500 * 8, dtype=np.float32).reshape(1500, 8))

FeatureStore._PUT_CHUNK = 500
inserted = []
original = FeatureStore._insert_rows

def insert_then_die(self, conn, rows):
    original(self, conn, rows)
    inserted.append(len(rows))
    if len(inserted) == 2:  # half of the second batch is in, not committed
        assert conn.in_transaction
        os._exit(17)

FeatureStore._insert_rows = insert_then_die
second = [f"second:{i}" for i in range(2000)]
store.put("m", second, np.ones((2000, 8), dtype=np.float32))
os._exit(0)  # not reached
"""


def test_crash_mid_put_leaves_the_last_committed_batch(tmp_path):
    child = run_child(CRASH_CHILD, folder=str(tmp_path))
    assert child.returncode == 17, child.stderr  # it died inside the second put
    store = FeatureStore(tmp_path)
    first = [f"first:{i}" for i in range(1500)]
    second = [f"second:{i}" for i in range(2000)]
    assert store.count("m") == 1500
    out, found = store.get("m", first)
    assert found.all()
    np.testing.assert_array_equal(out, np.arange(1500 * 8, dtype=np.float32).reshape(1500, 8))
    assert not store.get("m", second)[1].any()
    conn = raw(store)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    # The next run resumes: it encodes what is missing and stores it.
    missing = [k for k, hit in zip(second, store.get("m", second)[1]) if not hit]
    store.put("m", missing, np.full((len(missing), 8), 2.0))
    assert store.count("m") == 3500
    assert store.get("m", first + second)[1].all()


KILLED_WRITER = """
FeatureStore._PUT_CHUNK = 100
insert_rows = FeatureStore._insert_rows
calls = []

def insert_rows_then_wait(self, conn, rows):
    insert_rows(self, conn, rows)
    calls.append(1)
    if len(calls) == 3 * 20 + 10:  # three batches committed, half of the fourth inserted
        print("inside the fourth put", flush=True)
        time.sleep(60)  # until killed

FeatureStore._insert_rows = insert_rows_then_wait
store = FeatureStore(folder)
for batch in range(5):
    base = batch * 2000
    rows = np.arange(base, base + 2000, dtype=np.float32)[:, None] + np.zeros(64, np.float32)
    store.put("m", [f"img:{i}" for i in range(base, base + 2000)], rows)
"""


def test_kill_9_mid_write_keeps_whole_batches(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", child_code(KILLED_WRITER, folder=str(tmp_path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()  # "" if the child ended without getting there
        assert line == "inside the fourth put\n" and child.poll() is None
    finally:
        child.send_signal(signal.SIGKILL)  # a real crash, inside an open transaction
        child.wait(30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    store = FeatureStore(tmp_path)
    assert store.count("m") == 6000  # the three committed batches, nothing of the fourth
    out, found = store.get("m", [f"img:{i}" for i in range(8000)])
    assert found[:6000].all() and not found[6000:].any()
    np.testing.assert_array_equal(
        out, np.repeat(np.arange(6000, dtype=np.float32)[:, None], 64, 1)
    )
    conn = raw(store)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    store.put("m", [f"img:{i}" for i in range(6000, 8000)], np.zeros((2000, 64)))  # resumes
    assert store.count("m") == 8000


def test_interrupt_mid_put_rolls_back(tmp_path, monkeypatch):
    store = FeatureStore(tmp_path)
    store.put(MODEL, keys(0, 100), expected_block(0, 100))
    monkeypatch.setattr(FeatureStore, "_PUT_CHUNK", 10)
    original = FeatureStore._insert_rows
    calls = []

    def interrupted(self, conn, rows):
        original(self, conn, rows)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the batch

    monkeypatch.setattr(FeatureStore, "_insert_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.put(MODEL, keys(100, 200), expected_block(100, 200))
    assert len(calls) == 3
    monkeypatch.setattr(FeatureStore, "_insert_rows", original)
    assert store.count(MODEL) == 100
    assert not store.get(MODEL, keys(100, 200))[1].any()
    assert store.count(MODEL) == FeatureStore(tmp_path).count(MODEL) == 100
    store.put(MODEL, keys(100, 200), expected_block(100, 200))
    np.testing.assert_array_equal(store.get(MODEL, keys(0, 200))[0], expected_block(0, 200))


# -- several processes and threads ----------------------------------------------------

# Run by spawned processes as exec(code, namespace): the namespace (the pickled
# store, the synchronisation objects) is what the parent passes.
WRITER = """
try:
    store = pickle.loads(payload)
    barrier.wait()
    for lo in range(start, start + n, batch):
        rows = np.arange(lo, lo + batch, dtype=np.float32)[:, None] * 16 + np.arange(16)
        store.put(model, [f"img:{i:08d}" for i in range(lo, lo + batch)], rows)
        time.sleep(0.005)
    results.put(("writer", "ok", None))
except BaseException:
    results.put(("writer", traceback.format_exc(), None))
"""

READER = """
try:
    store = pickle.loads(payload)
    wanted = [f"img:{i:08d}" for i in range(total)]
    barrier.wait()
    seen = np.zeros(total, dtype=bool)
    counts = []
    while True:
        finished = done.is_set()
        out, found = store.get(model, wanted)
        if (seen & ~found).any():
            raise AssertionError("a stored vector disappeared")
        seen = found
        rows = np.flatnonzero(found).astype(np.float32)[:, None] * 16 + np.arange(16)
        if len(out) != len(rows) or (len(rows) and not np.array_equal(out, rows)):
            raise AssertionError("a reader saw a wrong or partial vector")
        counts.append(len(rows))
        if finished:
            break
    results.put(("reader", "ok", counts))
except BaseException:
    results.put(("reader", traceback.format_exc(), None))
"""


def test_several_processes_at_once(tmp_path):
    # A fresh folder: the processes also race to create the database.
    ctx = multiprocessing.get_context("spawn")
    payload = pickle.dumps(FeatureStore(tmp_path / "shared"))
    n_writers, n_readers, n, batch = 2, 2, 1000, 50
    total = n_writers * n
    barrier = ctx.Barrier(n_writers + n_readers)
    done = ctx.Event()
    results = ctx.Queue()
    shared = dict(payload=payload, barrier=barrier, results=results, model=MODEL)
    writers = [
        ctx.Process(
            target=exec,
            args=(child_code(WRITER), dict(shared, start=w * n, n=n, batch=batch)),
        )
        for w in range(n_writers)
    ]
    readers = [
        ctx.Process(target=exec, args=(child_code(READER), dict(shared, total=total, done=done)))
        for _ in range(n_readers)
    ]
    for p in writers + readers:
        p.start()
    try:
        for p in writers:
            p.join(60)
    finally:
        done.set()
    reports = [results.get(timeout=60) for _ in writers + readers]
    for p in readers:
        p.join(60)
    assert [p.exitcode for p in writers + readers] == [0] * (n_writers + n_readers)
    assert all(status == "ok" for _, status, _ in reports), reports  # no "database is locked"
    counts = [c for role, _, c in reports if role == "reader"]
    assert all(c[-1] == total for c in counts)  # the last read, after the writes, sees all
    # The readers ran while the writers wrote: some reads saw a part of the data.
    assert any(0 < k < total for c in counts for k in c), counts
    assert FeatureStore(tmp_path / "shared").count(MODEL) == total


def test_a_writer_waits_for_another_writer(tmp_path):
    store = FeatureStore(tmp_path, timeout=10)
    store.put(MODEL, ["a"], np.ones((1, 4)))
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's write in progress
    other.execute("DELETE FROM heads")
    try:
        assert store.get(MODEL, ["a"])[1].all()  # readers are not blocked by a writer
        impatient = FeatureStore(tmp_path, timeout=0.2)
        start = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            impatient.put(MODEL, ["b"], np.ones((1, 4)))
        assert 0.15 < time.monotonic() - start < 5
        timer = threading.Timer(0.3, other.execute, args=("COMMIT",))
        start = time.monotonic()
        timer.start()
        store.put(MODEL, ["b"], np.ones((1, 4)))  # waits instead of failing
        assert time.monotonic() - start > 0.25
        timer.join()
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
    assert store.count(MODEL) == 2


def test_busy_errors_are_retried_until_the_timeout(tmp_path, monkeypatch):
    original = FeatureStore._open
    failures = []

    def busy_twice(self):
        if len(failures) < 2:
            failures.append(1)
            raise sqlite3.OperationalError("database is locked")
        return original(self)

    monkeypatch.setattr(FeatureStore, "_open", busy_twice)
    store = FeatureStore(tmp_path, timeout=10)
    assert len(store) == 0 and len(failures) == 2

    def always_busy(self):
        failures.append(1)
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(FeatureStore, "_open", always_busy)
    start = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        len(FeatureStore(tmp_path, timeout=0.2))
    assert 0.1 < time.monotonic() - start < 5 and len(failures) > 3

    def broken(self):
        failures.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(FeatureStore, "_open", broken)
    failures.clear()
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        len(FeatureStore(tmp_path, timeout=10))
    assert len(failures) == 1  # other errors are not retried


def _use_inherited_store(store, results):
    before = store._conn
    store.put("child", ["c"], np.ones((1, 3)))
    results.put((before is None, store._pid == os.getpid(), store.count(MODEL)))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_forked_child_opens_its_own_connection(tmp_path):
    store = FeatureStore(tmp_path)
    store.put(MODEL, keys(0, 5), expected_block(0, 5))  # the parent's connection is open
    parent_conn = store._conn
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_use_inherited_store, args=(store, results))
    child.start()
    report = results.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert report == (True, True, 5)
    assert store._conn is parent_conn  # the parent's connection is untouched and works
    np.testing.assert_array_equal(store.get("child", ["c"])[0], np.ones((1, 3)))


def test_threads_share_one_store(tmp_path):
    store = FeatureStore(tmp_path)
    errors = []

    def work(t):
        try:
            for j in range(20):
                lo = t * 1000 + j * 10
                store.put(MODEL, keys(lo, lo + 10), expected_block(lo, lo + 10))
                out, found = store.get(MODEL, keys(lo, lo + 10))
                assert found.all()
                np.testing.assert_array_equal(out, expected_block(lo, lo + 10))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count(MODEL) == 800


# -- pickling and scale ---------------------------------------------------------------


def test_pickling_keeps_only_the_folder(tmp_path):
    store = FeatureStore(tmp_path, timeout=5)
    store.put(MODEL, keys(0, 10), expected_block(0, 10))
    payload = pickle.dumps(store)
    assert len(payload) < 500  # no connection, no data
    copy = pickle.loads(payload)
    assert copy.folder == store.folder and copy.timeout == 5 and copy._conn is None
    out, found = copy.get(MODEL, keys(0, 12))
    np.testing.assert_array_equal(found, [True] * 10 + [False] * 2)
    np.testing.assert_array_equal(out, expected_block(0, 10))
    copy.put(MODEL, keys(10, 12), expected_block(10, 12))
    assert store.count(MODEL) == 12  # one file under both
    assert pickle.loads(pickle.dumps(copy)).count(MODEL) == 12


def test_a_hundred_thousand_vectors(tmp_path):
    rng = np.random.default_rng(2)
    n, d = 100_000, 64
    vectors = rng.standard_normal((n, d), dtype=np.float32)
    images = [f"file:/data/img{i}.jpg:{i * 31}:{i * 7919}" for i in range(n)]
    store = FeatureStore(tmp_path)
    for lo in range(0, n, 10_000):
        store.put(MODEL, images[lo : lo + 10_000], vectors[lo : lo + 10_000])
    assert store.count(MODEL) == len(store) == n
    order = rng.permutation(n)
    request = [images[i] for i in order] + ["file:/data/new.jpg:1:1"]
    out, found = store.get(MODEL, request)
    assert found[:-1].all() and not found[-1]
    np.testing.assert_array_equal(bits(out), bits(vectors[order]))
