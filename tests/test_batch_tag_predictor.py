"""predict tag --predictor: a predictor learned by `predict learn` applied by the batch
runner (local pool, and a Dask LocalCluster when dask is installed) gives the same classes
and probabilities as `predict classify --predictor` photo by photo; its rows sit beside the
bare model's; a re-run with it resumes; a predictor for another model is one clear error."""
import json
import os
import sqlite3

import numpy as np
import pytest
from PIL import Image

from batch_helpers import assert_same_tags, broken_files, make_collection, model, rows  # noqa: F401
from predict.batch import tag
from predict.batch.worker import FEATURE_DTYPE, file_sha256
from predict.cli import main
from predict.errors import PredictorError
from predict.learning import learn
from test_network import write_tiny
from test_predictor import tinted


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """Tinted photos (the predictor tells them apart, so both classes occur), real photos
    and broken files."""
    folder = tmp_path_factory.mktemp("photos")
    tints = []
    for i in range(12):
        path = folder / "tints" / f"t{i:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(tinted(500 + i, 0 if i % 2 else 2, size=(40, 48))).save(path)
        tints.append(str(path))
    good = tints + make_collection(str(folder / "real"), 10)
    broken = broken_files(str(folder / "broken"), good[-1])
    return str(folder), sorted(good), broken


def _learned(model, path, tta):
    colours = {"red": [tinted(i, 0) for i in range(8)],
               "blue": [tinted(100 + i, 2) for i in range(8)]}
    learn(model, colours, folds=4, tta=tta).save(path)
    return str(path)


@pytest.fixture(scope="module")
def predictor(model, tmp_path_factory):
    return _learned(model, tmp_path_factory.mktemp("p") / "tints.predictor", tta=False)


@pytest.fixture(scope="module")
def predictor_tta(model, tmp_path_factory):
    return _learned(model, tmp_path_factory.mktemp("p") / "tints-tta.predictor", tta=True)


def classify_with(model, predictor, paths, capsys, top=2):
    """{path: (classes, scores) or error} from `predict classify --predictor --json`, one
    photo a call."""
    out = {}
    for path in paths:
        main(["classify", "--json", "--top", str(top), "--model", model, "--predictor",
              predictor, path])
        (line,) = capsys.readouterr().out.splitlines()
        record = json.loads(line)
        out[path] = record.get("error") or (
            [p["index"] for p in record["predictions"]],
            [p["probability"] for p in record["predictions"]])
    return out


def assert_matches_classify(got, reference, classes):
    seen = set()
    for path, row in got.items():
        if isinstance(reference[path], str):
            assert row["error"] == reference[path] and row["classes"] is None
            continue
        assert row["error"] is None, row["error"]
        assert row["classes"] == reference[path][0], path
        np.testing.assert_allclose(row["scores"], reference[path][1], atol=1e-6, err_msg=path)
        assert row["labels"] == [classes[c] for c in row["classes"]]
        assert row["label"] == row["labels"][0]
        seen.add(row["label"])
    assert seen == set(classes)   # both learned classes were given, not one by default


def model_ids(db):
    with sqlite3.connect(db) as c:
        return dict(c.execute("SELECT sha256, id FROM models"))


@pytest.mark.parametrize("tta", [False, True], ids=["plain", "tta"])
def test_tags_with_a_predictor_match_classify_photo_by_photo(
        model, collection, predictor, predictor_tta, tmp_path, capsys, tta):
    folder, good, broken = collection
    learned = predictor_tta if tta else predictor
    db = str(tmp_path / "tags.sqlite")
    summary = tag([folder], model, db, top=2, workers=2, shard_size=5, batch=4,
                  progress=False, predictor=learned)
    assert summary["photos"] == len(good) + len(broken) and summary["failed"] == len(broken)
    got = rows(db)
    assert sorted(got) == sorted(good + list(broken.values()))
    assert_matches_classify(got, classify_with(model, learned, sorted(got), capsys),
                            ["red", "blue"])
    from predict.format import read_pnet

    m = read_pnet(model)
    sha = m.sha256
    m.close()
    assert list(model_ids(db)) == [f"{sha}:{file_sha256(learned)}"]


def test_bare_and_predictor_rows_coexist_and_each_resumes(model, collection, predictor,
                                                          tmp_path):
    folder, good, broken = collection
    db = str(tmp_path / "tags.sqlite")
    bare = tag([folder], model, db, top=3, workers=2, progress=False)
    bare_rows = rows(db)
    learned = tag([folder], model, db, workers=2, progress=False, predictor=predictor)
    assert learned["photos"] == bare["photos"] == len(good) + len(broken)
    assert learned["skipped"] == 0   # the bare model's rows are not the predictor's
    ids = model_ids(db)
    assert len(ids) == 2
    (bare_sha,) = [k for k in ids if ":" not in k]
    with sqlite3.connect(db) as c:
        c.row_factory = sqlite3.Row
        by_model = {}
        for r in c.execute("SELECT * FROM photos"):
            by_model.setdefault(r["model"], {})[r["path"]] = dict(r)
    assert sorted(by_model[ids[bare_sha]]) == sorted(by_model[ids[f"{bare_sha}:"
                                                                  f"{file_sha256(predictor)}"]])
    assert {r["label"] for r in by_model[ids[bare_sha]].values()} <= {"cat", "dog", "bird", None}
    predictor_labels = {r["label"] for r in by_model[ids[f"{bare_sha}:{file_sha256(predictor)}"]]
                        .values()}
    assert predictor_labels == {"red", "blue", None}
    # re-runs: each resumes its own rows, and the bare rows were never touched
    again = tag([folder], model, db, workers=1, progress=False, predictor=predictor)
    assert again["photos"] == 0 and again["skipped"] == learned["photos"]
    again = tag([folder], model, db, workers=1, progress=False)
    assert again["photos"] == 0 and again["skipped"] == bare["photos"]
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM photos").fetchone()[0] == 2 * bare["photos"]
        c.row_factory = sqlite3.Row
        still = {r["path"]: dict(r, classes=json.loads(r["classes"]) if r["classes"] else None,
                                 scores=json.loads(r["scores"]) if r["scores"] else None)
                 for r in c.execute("SELECT * FROM photos WHERE model = ?", (ids[bare_sha],))}
    assert_same_tags(still, bare_rows, atol=0)


def test_features_with_a_predictor_are_the_models_own(model, collection, predictor_tta,
                                                      tmp_path):
    import predict

    _, good, _ = collection
    db = str(tmp_path / "tags.sqlite")
    tag(good[:5], model, db, features=True, workers=1, progress=False, predictor=predictor_tta)
    got = rows(db)
    with predict.load(model) as net:
        want = net.features(good[:5])
    for path, vector in zip(good[:5], want):
        stored = np.frombuffer(got[path]["features"], FEATURE_DTYPE)
        np.testing.assert_allclose(stored, vector, rtol=2e-3, atol=1e-3)


def test_a_predictor_for_another_model_is_one_line_before_any_work(model, collection,
                                                                    predictor, tmp_path, capsys):
    folder, _, _ = collection
    other = str(tmp_path / "other.pnet")
    write_tiny(other, seed=8)
    db = str(tmp_path / "tags.sqlite")
    with pytest.raises(PredictorError, match="was trained on the model"):
        tag([folder], other, db, workers=1, progress=False, predictor=predictor)
    assert not os.path.exists(db)   # nothing started, not even the database
    code = main(["tag", folder, "--model", other, "--db", db, "--predictor", predictor,
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("predict: error:") and err.count("\n") == 1, err
    assert "sha256" in err and not os.path.exists(db)
    # a damaged predictor file, and a model passed as the predictor, are one line too
    damaged = tmp_path / "damaged.predictor"
    data = bytearray(open(predictor, "rb").read())
    data[40] ^= 0xFF
    damaged.write_bytes(bytes(data))
    for bad, message in ((str(damaged), "corrupt"), (model, "not a predictor")):
        code = main(["tag", folder, "--model", model, "--db", db, "-p", bad, "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_the_command_line_tags_with_a_predictor(model, collection, predictor, tmp_path, capsys):
    _, good, _ = collection
    db = str(tmp_path / "t.sqlite")
    code = main(["tag", *good[:6], "--model", model, "--db", db, "--workers", "1",
                 "--no-progress", "--predictor", predictor, "--top", "1"])
    assert code == 0, capsys.readouterr().err
    got = rows(db)
    assert sorted(got) == sorted(good[:6])
    assert all(len(r["classes"]) == 1 and r["label"] in ("red", "blue") for r in got.values())


def test_a_dask_local_cluster_gets_the_predictor_through_the_cluster(model, collection,
                                                                     predictor, tmp_path, capsys):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    folder, good, broken = collection
    db = str(tmp_path / "dask.sqlite")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        summary = tag([folder], model, db, top=2, shard_size=6, progress=False,
                      scheduler=cluster.scheduler_address, predictor=predictor)

        def shipped():
            from predict.batch import worker

            files = dict(worker._predictor_files)
            return files, [os.path.exists(p) for p in files.values()], \
                [p.path for p, _ in worker._predictors.values()]

        copies = client.run(shipped).values()
    assert summary["photos"] == len(good) + len(broken) and summary["failed"] == len(broken)
    sha = file_sha256(predictor)
    for files, exists, loaded in copies:
        # every worker has its own copy from the cluster, and loaded the predictor from it
        assert list(files) == [sha] and files[sha] != predictor and exists == [True]
        assert all(path == files[sha] for path in loaded)
    assert any(loaded for _, _, loaded in copies)
    got = rows(db)
    assert_matches_classify(got, classify_with(model, predictor, sorted(got), capsys),
                            ["red", "blue"])
