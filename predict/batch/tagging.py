"""``tag()``: tag every photo of some sources into a SQLite database.

This is where the pieces meet: the source is streamed into shards
(``source``, ``shards``), the sink says what is already done, the runner
sends shards to an executor (a local process pool, or Dask when asked) and
hands each result to the sink, and the progress bar and summary report.

    >>> from predict.batch import tag                           # doctest: +SKIP
    >>> tag(["photos/"], "models/mobilenet_v2.pnet", "tags.sqlite", top=3)  # doctest: +SKIP
    {'photos': 1204, 'tagged': 1201, 'failed': 3, 'skipped': 0, ...}
"""

import dataclasses
import math
import os
import time

from predict.batch import faults, runner
from predict.batch.local import default_workers, process_pool
from predict.batch.progress import Progress, peak_rss_mb
from predict.batch.shards import make_shards
from predict.batch.sink_sqlite import SqliteSink
from predict.batch.source import check_sources, iter_photos
from predict.batch.worker import Job, file_sha256
from predict.errors import InputError, PredictorError
from predict.format import read_pnet
from predict.image import DEFAULT_MAX_PIXELS

__all__ = ["DEFAULT_SHARD_SIZE", "tag"]

DEFAULT_SHARD_SIZE = 128


def _check_predictor(path, header, model_path, model_sha256):
    """(Predictor, its file's sha256): loaded and checked against the model on the driver,
    so that a predictor for another model is one clear error before any work starts."""
    from predict.predictor import load_predictor

    learned = load_predictor(path)
    if learned.model_sha256 != model_sha256:
        raise PredictorError(
            f"{path} was trained on the model {learned.model_name} (sha256 "
            f"{learned.model_sha256}), but {os.path.basename(model_path)} has sha256 "
            f"{model_sha256}: use the model it was trained on (--model), or train it again "
            f"on this one (predict learn --model ...)")
    shapes = {t["name"]: t["shape"] for t in header["tensors"]}
    if learned.layer not in shapes:
        raise PredictorError(f"{path}: predictor layer {learned.layer!r} is not a tensor of "
                             f"{os.path.basename(model_path)}")
    dim = math.prod(shapes[learned.layer])
    if dim != learned.feature_dim:
        raise PredictorError(f"{path}: predictor layer {learned.layer!r} has {dim} features in "
                             f"{os.path.basename(model_path)}, the predictor expects "
                             f"{learned.feature_dim}")
    return learned, file_sha256(path)


def _model_facts(path, features, predictor=None):
    """(sha256, labels, features_dim, predictor's sha256 or None) of a model file (and of
    the predictor applied to it), checked on the driver first.  With a predictor the
    labels are its classes."""
    model = read_pnet(path)
    try:
        header = model.header
        if header["preprocess"] is None:
            raise InputError(f"{path}: not an image model (no preprocess in the file); "
                             f"predict tag needs one")
        dim = None
        if features:
            tensor = header["features"]
            if tensor is None:
                raise InputError(f"{path} names no features tensor: drop --features")
            dim = math.prod(header["tensors"][tensor]["shape"])
        if predictor is None:
            return model.sha256, list(header["labels"]), dim, None
        learned, predictor_sha256 = _check_predictor(predictor, header, path, model.sha256)
        return model.sha256, learned.classes, dim, predictor_sha256
    finally:
        model.close()


def tag(sources, model, db, *, top=5, features=False, workers=None, scheduler=None,
        dask_local=None, shard_size=DEFAULT_SHARD_SIZE, batch=16, max_in_flight=None,
        max_pixels=DEFAULT_MAX_PIXELS, retry_failed=False, progress=True, make_executor=None,
        on_cluster=None, predictor=None):
    """Tags the photos of ``sources`` with ``model``, into the SQLite file ``db``.

    ``sources``: folders, path-list files or patterns (``predict.batch.source``).
    Photos already in ``db`` for this model are skipped (failed ones too,
    unless ``retry_failed``).  Runs on a local pool of ``workers`` processes
    (default: one per core), on the Dask cluster at ``scheduler``
    (``tcp://host:port``), or on a new local Dask cluster of ``dask_local``
    workers.  ``make_executor`` overrides all three (tests).
    ``on_cluster(client)`` is called with the Dask client once it is up.
    ``predictor``: a predictor file made by ``predict learn`` for ``model``;
    the rows then hold its classes and probabilities, under a model identity
    of their own (``MODEL_SHA256:PREDICTOR_SHA256``, the file's sha256), so
    they sit beside the bare model's rows and a re-run with it resumes.
    A predictor for another model raises PredictorError before any work.

    Returns the summary: photos (rows written by this run), tagged, failed,
    skipped, seconds, photos_per_second, db, crashes, isolated, interrupted
    (True after Ctrl-C: what was written stays; run again to resume) and
    peak_rss_mb (the driver's).
    """
    # The run's time starts here: checking the model is part of what a run costs.
    start = time.perf_counter()
    if top < 1:
        raise InputError(f"--top must be >= 1, got {top}")
    check_sources(sources)
    model = os.path.abspath(model)
    if predictor is not None:
        predictor = os.path.abspath(predictor)
    sha256, labels, features_dim, predictor_sha256 = _model_facts(model, features, predictor)
    job = Job(model, sha256, top=top, features=features, batch=batch, max_pixels=max_pixels,
              predictor_path=predictor, predictor_sha256=predictor_sha256)
    if predictor is None:
        identity, described = sha256, model
    else:
        identity, described = f"{sha256}:{predictor_sha256}", f"{model} + {predictor}"
    counts = {"skipped": 0, "photos": 0, "failed": 0}
    stats = {"crashes": 0, "isolated": 0}
    interrupted = False
    client = cluster = None
    bar = Progress(progress)
    with SqliteSink(db) as sink:
        model_id = sink.model_id(identity, described, labels, features_dim)

        def skip(chunk):
            return sink.done(model_id, chunk, retry_failed=retry_failed)

        def on_result(shard, result):
            rows = result["rows"]
            sink.write(model_id, rows, result["worker"])
            failed = sum(1 for row in rows if row[4] is not None)
            counts["photos"] += len(rows)
            counts["failed"] += failed
            bar.update(len(rows), failed, counts["skipped"])

        def on_isolated(path, deaths):
            sink.write(model_id, [(path, None, None, None, faults.crash_error(deaths), None,
                                   None)], "isolated")
            counts["photos"] += 1
            counts["failed"] += 1
            bar.update(1, 1, counts["skipped"])

        try:
            if make_executor is None:
                if scheduler or dask_local:
                    dask_cluster = _import_cluster()
                    client, cluster = dask_cluster.connect(scheduler, dask_local)
                    if on_cluster is not None:
                        on_cluster(client)
                    make_executor = dask_cluster.model_executor(
                        client, model, sha256,
                        predictor=None if predictor is None else (predictor, predictor_sha256))
                    slots = dask_cluster.total_threads(client)
                else:
                    slots = workers or default_workers()
                    make_executor = process_pool(slots)
                    # a decoding thread per worker only pays where cores are left over
                    job = dataclasses.replace(job, decoders=int(slots < default_workers()))
            else:
                slots = workers or default_workers()
            shards = make_shards(iter_photos(sources), shard_size, skip, counts)
            stats = runner.run(make_executor, shards, _task(), job, on_result=on_result,
                               on_isolated=on_isolated, max_in_flight=max_in_flight or 2 * slots)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
    seconds = time.perf_counter() - start
    return {
        "photos": counts["photos"],
        "tagged": counts["photos"] - counts["failed"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
        "seconds": seconds,
        "photos_per_second": counts["photos"] / seconds if seconds > 0 else 0.0,
        "db": str(db),
        "crashes": stats["crashes"],
        "isolated": stats["isolated"],
        "interrupted": interrupted,
        "peak_rss_mb": peak_rss_mb(),
    }


def _import_cluster():
    try:
        from predict.batch import cluster
    except ImportError as e:
        raise InputError(f"--scheduler and --dask-local need Dask ({e}): "
                         f"pip install 'predict[cluster]'") from None
    return cluster


def _task():
    # Imported by reference, so that a cluster worker imports it from its own predict.
    from predict.batch.worker import tag_shard

    return tag_shard
