"""The prediction store, the same tests on both back-ends (a SQLite file, a real PostgreSQL server): records and
reads back a prediction with its model identity, labels it, refuses a silent overwrite, keeps every correction as
an audit row the database will not let anyone edit, survives a reopen, migrates a schema-1 store without losing a
row, and names a bad URL's setting without printing a password."""

from __future__ import annotations

import sqlite3

import pytest

from mammo_utils.monitoring.store import (
    SCHEMA_VERSION,
    LabelConflict,
    StoreURLError,
    UnknownPrediction,
    open_store,
    parse_store_url,
    redact,
)

FEATURES = {"mean": 0.31, "p50": 0.28, "orig_rows": 4096.0}


def _record(store, request_id, probability=0.8, threshold=0.5, **kw):
    store.record_prediction(
        request_id,
        probability=probability,
        threshold=threshold,
        decision="recall" if probability >= threshold else "routine",
        features=FEATURES,
        upload_sha256="ab" * 32,
        model_name="mammo-cancer-classifier",
        model_version="7",
        model_digest="cd" * 32,
        **kw,
    )


def test_a_prediction_is_stored_with_its_model_and_read_back(store_url):
    store = open_store(store_url)
    assert store.schema_version() == SCHEMA_VERSION and [m["version"] for m in store.migrations()] == [1, 2, 3]
    _record(store, "req-0001")
    got = store.get_prediction("req-0001")
    assert got["model"] == {"name": "mammo-cancer-classifier", "version": "7", "digest": "cd" * 32}
    assert got["probability"] == pytest.approx(0.8) and got["threshold"] == 0.5 and got["decision"] == "recall"
    assert got["features"] == FEATURES and got["upload_sha256"] == "ab" * 32
    assert got["label"] is None and got["label_history"] == [] and got["time"].endswith("Z")
    assert store.get_prediction("never-served") is None
    with pytest.raises(Exception):  # a request id is recorded once
        _record(store, "req-0001")
    store.close()


def test_labels_are_corrected_with_an_audit_trail_never_overwritten(store_url):
    store = open_store(store_url)
    _record(store, "req-0002", probability=0.2)
    assert store.add_label("req-0002", 0, source="screening follow-up", author="reader-1") == "labelled"
    assert store.add_label("req-0002", 0) == "unchanged"  # the same label again writes nothing
    with pytest.raises(LabelConflict, match="labelled 0 already.*needs a reason"):
        store.add_label("req-0002", 1, source="biopsy")
    assert store.get_prediction("req-0002")["label"]["label"] == 0  # the refused change left no trace
    with pytest.raises(LabelConflict):
        store.correct_label("req-0002", 1, reason="  ")
    assert store.correct_label("req-0002", 1, reason="biopsy: invasive carcinoma", author="dr-b", source="biopsy") == (
        "corrected"
    )
    got = store.get_prediction("req-0002")
    assert got["label"]["label"] == 1 and got["label"]["corrections"] == 1 and got["label"]["author"] == "dr-b"
    first, second = got["label_history"]
    assert (first["label"], first["previous"], first["source"]) == (0, None, "screening follow-up")
    assert (second["label"], second["previous"], second["reason"]) == (1, 0, "biopsy: invasive carcinoma")
    with pytest.raises(UnknownPrediction):
        store.add_label("never-served", 1)
    with pytest.raises(ValueError, match="0 or 1"):
        store.add_label("req-0002", 2)
    for statement in ("UPDATE labels SET label = 0", "DELETE FROM labels"):  # the database itself refuses
        with pytest.raises(Exception, match="append-only"):
            store._run(statement)
    assert len(store.get_prediction("req-0002")["label_history"]) == 2
    store.close()


def test_the_store_survives_a_reopen_and_gives_rolling_metrics(store_url):
    store = open_store(store_url)
    for i, (p, y) in enumerate([(0.9, 1), (0.8, 1), (0.2, 1), (0.1, 0), (0.7, 0), (0.3, 0)]):
        _record(store, f"request{i:04d}", probability=p, ts=1000.0 + i)
        assert store.add_feedback(f"request{i:04d}", y, "biopsy")
    assert not store.add_feedback("unknown-request", 1)
    store.close()
    reopened = open_store(store_url)  # a new process, a restarted container: the same rows
    metrics = reopened.rolling_metrics()
    assert metrics["labelled"] == 6 and metrics["positives"] == 3
    assert metrics["sensitivity"] == pytest.approx(2 / 3) and metrics["specificity"] == pytest.approx(2 / 3)
    assert metrics["auc"] == pytest.approx(7 / 9)
    recent = reopened.recent_predictions()
    assert list(recent.columns) == ["request_id", "ts", "probability", *FEATURES] and len(recent) == 6
    assert recent.request_id.iloc[0] == "request0005"  # newest first
    # a correction counts once, with its new label, in the window and as a new label
    since = reopened.labelled().ts.max()
    reopened.correct_label("request0002", 0, reason="slide re-read")
    window = reopened.labelled()
    assert len(window) == 6 and window.iloc[0].request_id == "request0002" and window.iloc[0].label == 0
    assert reopened.count_labelled_since(since + 1e-6) == 1
    assert set(window.model_version) == {"7"}
    reopened.close()


def test_no_patient_identifier_or_file_name_has_a_column():
    store = open_store("sqlite:///:memory:")
    columns = {r[1] for r in store._run("PRAGMA table_info(predictions)").fetchall()}
    columns |= {r[1] for r in store._run("PRAGMA table_info(labels)").fetchall()}
    assert not {c for c in columns if any(w in c.lower() for w in ("patient", "name", "file", "accession"))} - {
        "model_name"
    }


# --- migration from schema 1 (the feedback.db of earlier versions) ---------------------------------------------
OLD_SCHEMA = [  # verbatim from mammo_utils/monitoring/feedback.py before the schema had a version
    "CREATE TABLE IF NOT EXISTS predictions (request_id TEXT PRIMARY KEY, ts REAL NOT NULL, probability REAL NOT NULL,"
    " threshold REAL NOT NULL, decision TEXT NOT NULL, upload_sha256 TEXT NOT NULL, features TEXT NOT NULL DEFAULT"
    " '{}')",
    "CREATE TABLE IF NOT EXISTS feedback (request_id TEXT PRIMARY KEY REFERENCES predictions(request_id), ts REAL NOT"
    " NULL, label INTEGER NOT NULL CHECK (label IN (0, 1)), source TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS predictions_ts ON predictions(ts)",
]


def _write_schema_1(store_url: str, n: int, labelled: int) -> None:
    backend, target = parse_store_url(store_url)
    if backend == "sqlite":
        from pathlib import Path

        Path(target).parent.mkdir(parents=True, exist_ok=True)
        db, mark = sqlite3.connect(target, isolation_level=None), "?"
    else:
        import psycopg

        db, mark = psycopg.connect(target, autocommit=True), "%s"
    for statement in OLD_SCHEMA:
        db.execute(statement.replace("REAL", "DOUBLE PRECISION") if backend != "sqlite" else statement)
    for i in range(n):
        db.execute(
            f"INSERT INTO predictions VALUES ({', '.join([mark] * 7)})",
            (f"old{i:04d}", 100.0 + i, i / n, 0.5, "recall" if i / n >= 0.5 else "routine", "ef" * 32, '{"mean": 0.4}'),
        )
    for i in range(labelled):
        db.execute(
            f"INSERT INTO feedback VALUES ({', '.join([mark] * 4)})", (f"old{i:04d}", 200.0 + i, i % 2, "biopsy")
        )
    db.close()


def test_a_schema_1_store_migrates_without_losing_a_row(store_url):
    _write_schema_1(store_url, n=30, labelled=12)
    store = open_store(store_url)
    assert store.schema_version() == 3
    assert [m["version"] for m in store.migrations()] == [1, 2, 3] and "before" in store.migrations()[0]["description"]
    assert len(store.recent_predictions(1000)) == 30
    labelled = store.labelled(1000)
    assert len(labelled) == 12 and sorted(labelled.request_id) == [f"old{i:04d}" for i in range(12)]
    old = store.get_prediction("old0003")
    assert old["label"]["label"] == 1 and old["label"]["source"] == "biopsy" and old["label"]["ts"] == 203.0
    assert old["model"] == {"name": "", "version": "", "digest": ""} and old["features"] == {"mean": 0.4}
    assert old["label_history"][0]["previous"] is None
    # the migrated store takes new predictions and corrections like a new one
    _record(store, "new-0001")
    assert store.add_label("new-0001", 1) == "labelled"
    assert store.correct_label("old0003", 0, reason="re-read") == "corrected"
    store.close()
    again = open_store(store_url)  # opening again migrates nothing twice
    assert [m["version"] for m in again.migrations()] == [1, 2, 3] and len(again.recent_predictions(1000)) == 31
    again.close()


def test_a_store_newer_than_the_code_is_refused(tmp_path):
    from mammo_utils.monitoring.store import StoreError

    url = f"sqlite:///{tmp_path / 'new.db'}"
    open_store(url).close()
    db = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    db.execute("INSERT INTO schema_migrations VALUES (99, 0, 'from the future')")
    db.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        open_store(url)


# --- the setting ---------------------------------------------------------------------------------------------
def test_store_urls_are_checked_and_passwords_never_shown(tmp_path):
    assert parse_store_url(f"sqlite:///{tmp_path}/a.db") == ("sqlite", f"{tmp_path}/a.db")
    assert parse_store_url("sqlite:///rel/a.db") == ("sqlite", "rel/a.db")
    assert parse_store_url(tmp_path / "b.db") == ("sqlite", str(tmp_path / "b.db"))  # a bare path: SQLite
    assert parse_store_url("postgresql://mammo@db:5432/mammo")[0] == "postgresql"
    assert parse_store_url("postgres://mammo@db/mammo")[0] == "postgresql"
    cases = [
        ("mysql://u@h:3306/d", "unknown scheme 'mysql'"),
        ("sqlite://a.db", "three slashes"),
        ("postgresql://mammo@db:5432", "names no host, port or database"),
        ("postgresql://mammo@db:port/x", "names no host, port or database"),
        (f"sqlite:///{tmp_path}", "is a folder"),
        ("", "must be sqlite:///PATH or postgresql://"),
    ]
    for url, words in cases:
        with pytest.raises(StoreURLError, match="^--store must") as caught:
            parse_store_url(url, "--store")
        assert words in str(caught.value), (url, caught.value)
    secret = "postgresql://mammo:s3cret-pw@db:5432/mammo"
    assert redact(secret) == "postgresql://mammo:***@db:5432/mammo"
    with pytest.raises(StoreURLError) as caught:
        parse_store_url(secret.replace("postgresql", "mysql"))
    assert "s3cret-pw" not in str(caught.value)


def test_an_unreachable_server_is_reported_without_the_password():
    pytest.importorskip("psycopg")
    from mammo_utils.monitoring.store import StoreUnavailable
    from mammo_utils.serving.demo import free_port

    url = f"postgresql://mammo:s3cret-pw@127.0.0.1:{free_port()}/mammo"
    with pytest.raises(StoreUnavailable, match="cannot connect") as caught:
        open_store(url)
    assert "s3cret-pw" not in str(caught.value) and "mammo:***@127.0.0.1" in str(caught.value)


def test_a_dropped_postgresql_connection_is_reopened(postgres_db):
    import psycopg

    store = open_store(postgres_db)
    _record(store, "req-before")
    with psycopg.connect(postgres_db, autocommit=True) as admin:  # what a server restart does to a client
        admin.execute("SELECT pg_terminate_backend(%s)", (store._db.info.backend_pid,))
    _record(store, "req-after")
    assert store.get_prediction("req-before") and store.get_prediction("req-after")
    store.close()


def test_kept_images_come_back_with_their_current_label_at_their_own_geometry(store_url):
    store = open_store(store_url)
    png = {f"img-{i}": bytes([137, 80, 78, 71, i]) * 50 for i in range(4)}
    for i, rid in enumerate(png):
        image = {"png": png[rid], "height": 128, "width": 64, "bits": 8, "laterality": "LR"[i % 2], "view": "CC"}
        if i == 3:
            image.update(height=256, width=128)  # another export's cache size
        _record(store, rid, image=image)
    _record(store, "no-image")
    for rid in (*png, "no-image"):
        store.add_label(rid, 0, source="screening")
    store.correct_label("img-1", 1, reason="biopsy result", author="dr-a", source="biopsy")
    got = store.training_images(128, 64, 8)
    assert list(got.request_id) == ["img-0", "img-1", "img-2"]  # oldest first; no image or another size: left out
    assert list(got.label) == [0, 1, 0] and got.corrections.tolist() == [0, 1, 0]
    assert got.label_source.tolist() == ["screening", "biopsy", "screening"]
    assert [bytes(b) for b in got.png] == [png["img-0"], png["img-1"], png["img-2"]]
    assert got.laterality.tolist() == ["L", "R", "L"]
    assert store.training_images(64, 32, 8).empty
    counts = store.image_counts()
    assert counts.to_dict("records") == [
        {"height": 128, "width": 64, "bits": 8, "images": 3, "labelled": 3},
        {"height": 256, "width": 128, "bits": 8, "images": 1, "labelled": 1},
    ]
    with pytest.raises(Exception, match="(?i)check|constraint"):
        _record(store, "bad-bits", image={"png": b"x", "height": 1, "width": 1, "bits": 12})
    store.close()
