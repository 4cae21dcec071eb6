"""Export to JSONL, Parquet and a Hugging Face folder; manifests; round trips; CLI."""

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
    export_from_store,
    export_problems,
    import_seed_file,
    load_problems,
)

FIX = Path(__file__).parent / "fixtures"


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
    assert r.manifest["config"]["engine"] == "offline" and r.manifest["models"] == {"model": "m"}
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
