"""What runs in a worker process: tag one shard of photos.

``tag_shard(paths, job)`` is the task the runner submits.  A worker process
loads the network once, on its first shard, and keeps it for every later one
(``_networks``, keyed by the model's checksum).  Photos are decoded by
``predict.image.preprocess_pixels`` (JPEG draft mode at a reduced scale,
resized once) and run through the network in batches.  Where this worker has
a core to itself beside the others (``Job.decoders`` 1: the driver's local
pool has fewer workers than cores), a thread decodes up to two batches ahead
while the C core runs the current batch: Pillow and the C core both release
the GIL, so decoding and inference overlap.  Where every core already runs a
worker (``decoders`` 0, the default), the other workers keep the cores busy
and a second busy thread per worker only adds switching: the worker decodes
each batch itself, asking the kernel to read the next batch's files ahead.

A photo that cannot be read or decoded, or is too large, becomes a row with
its error; the rest of the shard goes on.  Only a failure of the whole worker
(the model does not load) raises.

A row is a tuple ``(path, classes, scores, features, error, decode_ms,
infer_ms)``: the top class indices and their probabilities (lists; with a
predictor, ``predict learn``'s classes and its probabilities), the
feature vector as little-endian float16 bytes (or None), the error text (or
None), and the milliseconds spent decoding the photo and its share of the
batch's inference.  The driver turns rows into sink records.

    >>> job = Job("models/mobilenet_v2.pnet", "ab12...", top=3)  # doctest: +SKIP
    >>> tag_shard(["cat.jpg", "missing.jpg"], job)["rows"][1][4]  # doctest: +SKIP
    'missing.jpg: no such file'
"""

import os
import socket
import stat
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

# file_sha256: a predictor's identity in the results database (re-exported here).
from predict.checksum import file_sha256
from predict.errors import ImageError, ModelFormatError, PredictorError
from predict.image import DEFAULT_MAX_PIXELS, _check_spec, preprocess_pixels
from predict.ranking import top_indices_rows

__all__ = ["FEATURE_DTYPE", "Job", "file_sha256", "register_model_file",
           "register_predictor_file", "tag_shard"]

# Feature vectors travel and are stored as float16: half the bytes, and
# about three significant digits, plenty for similarity search.
FEATURE_DTYPE = np.dtype("<f2")


@dataclass(frozen=True)
class Job:
    """What every shard of one run needs to know (small: it travels with each task).

    ``model_path`` is the model file on the driver's machine; a cluster
    worker uses the copy the driver shipped to it (``register_model_file``)
    instead.  ``model_sha256`` names the model and is checked on load.  With a
    predictor (``predict learn``), ``predictor_path`` and
    ``predictor_sha256`` (of the whole file, ``file_sha256``) are the same
    for it: the tags are then its classes and probabilities.
    """

    model_path: str
    model_sha256: str
    top: int = 5
    features: bool = False
    batch: int = 16
    max_pixels: int = DEFAULT_MAX_PIXELS
    decoders: int = 0   # decoding threads beside inference (0: decode on the inference thread)
    predictor_path: str = None
    predictor_sha256: str = None


_lock = threading.Lock()
_networks = {}      # sha256 -> Network, loaded once per process
_model_files = {}   # sha256 -> a local copy of the model shipped by the driver
_pools = {}         # thread count -> the decoding threads
_predictors = {}    # (model sha256, predictor sha256) -> (Predictor, layer tensor), loaded once
_predictor_files = {}  # predictor sha256 -> a local copy shipped by the driver


def _worker_name():
    # Not a constant: a forked worker must not report its parent's pid.
    return f"{socket.gethostname()}:{os.getpid()}"


def register_model_file(sha256, path):
    """Tells this process where its local copy of a model is (the Dask plugin calls it)."""
    with _lock:
        _model_files[sha256] = path


def register_predictor_file(sha256, path):
    """Tells this process where its local copy of a predictor file is (the Dask plugin)."""
    with _lock:
        _predictor_files[sha256] = path


def _predictor(job, net):
    """(Predictor, its layer's tensor index) for ``job``, or (None, None) without one."""
    if job.predictor_sha256 is None:
        return None, None
    from predict.predictor import load_predictor

    key = (job.model_sha256, job.predictor_sha256)
    with _lock:
        found = _predictors.get(key)
        if found is None:
            path = _predictor_files.get(job.predictor_sha256, job.predictor_path)
            sha = file_sha256(path)
            if sha != job.predictor_sha256:
                raise PredictorError(
                    f"{path}: on {_worker_name()} the predictor's checksum is {sha}, not the "
                    f"driver's {job.predictor_sha256}: the file changed during the run, or "
                    f"differs on this machine")
            learned = load_predictor(path, network=net)
            found = _predictors[key] = (learned, net.feature_tensor(learned.layer)[0])
    return found


def _network(job):
    import predict

    with _lock:
        net = _networks.get(job.model_sha256)
        if net is None:
            path = _model_files.get(job.model_sha256, job.model_path)
            net = predict.load(path, max_batch=job.batch)
            if net.sha256 != job.model_sha256:
                net.close()
                raise ModelFormatError(
                    f"{path}: on {_worker_name()} the model's checksum is {net.sha256}, not the "
                    f"driver's {job.model_sha256}: the file changed during the run, or differs "
                    f"on this machine")
            _networks[job.model_sha256] = net
    return net


def _decoders(n):
    with _lock:
        pool = _pools.get(n)
        if pool is None:
            pool = _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="predict-decode")
    return pool


def _decode(path, spec, max_pixels):
    """(sample or None, error or None, milliseconds) for one photo."""
    start = time.perf_counter()
    sample = error = None
    try:
        sample = preprocess_pixels(path, spec, max_pixels=max_pixels)
    except ImageError as e:
        error = str(e)
    except MemoryError:
        error = f"{path}: out of memory while decoding"
    except Exception as e:  # noqa: BLE001 - a decoder bug is this photo's failure, not the run's
        error = f"{path}: cannot decode the image: {type(e).__name__}: {e}"
    return sample, error, (time.perf_counter() - start) * 1000.0


def _infer(net, job, samples, rows, learned=None, tensor=None):
    """Runs one batch; fills ``rows`` for its photos.  ``samples`` is [(i, path, x, ms)].

    With a predictor (``learned``, whose layer is the tensor index ``tensor``), the
    probabilities are its own, from that layer's output computed as Network.features does
    (the same C network, and the mirrored batch averaged in when it was trained with tta),
    so they match ``Predictor.classify`` photo by photo.  Stored features stay the model's
    own features tensor, as without a predictor.
    """
    start = time.perf_counter()
    batch = np.stack([x for _, _, x, _ in samples])
    if learned is None:
        probs, vectors = net.scores(batch, features=job.features)
    else:
        layer = net._batch_features(batch, tensor, learned.tta)
        probs = learned.predict_features(layer)
        vectors = None
        if job.features:
            own = net.feature_tensor()[0]
            vectors = (layer if own == tensor and not learned.tta
                       else net._batch_features(batch, own))
    share = (time.perf_counter() - start) * 1000.0 / len(samples)
    orders = top_indices_rows(probs, job.top)   # the same ranking as Network.classify
    for j, (i, path, _, decode_ms) in enumerate(samples):
        order = orders[j]
        features = None if vectors is None else vectors[j].astype(FEATURE_DTYPE).tobytes()
        rows[i] = (path, [int(c) for c in order], [float(probs[j, c]) for c in order],
                   features, None, decode_ms, share)


def _read_ahead(path):
    """Asks the kernel to start reading ``path`` (a cold disk or a network share then
    overlaps the decoding of the photos before it).  Only a hint: errors are the decoder's."""
    # O_NONBLOCK: a FIFO among the photos must not hang the worker in a mere hint.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError, TypeError):
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


def _decoded_inline(paths, spec, job):
    """(i, path, (sample, error, ms)) for each photo, decoded on this thread."""
    advise = hasattr(os, "posix_fadvise")
    for start in range(0, len(paths), job.batch):
        if advise:
            for path in paths[start + job.batch:start + 2 * job.batch]:
                _read_ahead(path)
        for i in range(start, min(start + job.batch, len(paths))):
            yield i, paths[i], _decode(paths[i], spec, job.max_pixels)


def _decoded_threaded(paths, spec, job):
    """The same, decoded by job.decoders threads up to two batches ahead."""
    pool = _decoders(job.decoders)
    queued = deque()
    upcoming = iter(enumerate(paths))

    def read_ahead():
        while len(queued) < 2 * job.batch:
            item = next(upcoming, None)
            if item is None:
                return
            i, path = item
            queued.append((i, path, pool.submit(_decode, path, spec, job.max_pixels)))

    read_ahead()
    while queued:
        i, path, future = queued.popleft()
        read_ahead()
        yield i, path, future.result()


def tag_shard(paths, job):
    """Tags a shard of photos; returns ``{"worker": "host:pid", "rows": [row per path]}``.

    Rows are in the order of ``paths``; see the module docstring for a row.
    """
    net = _network(job)
    learned, tensor = _predictor(job, net)
    spec = _check_spec(net.preprocess_spec)
    rows = [None] * len(paths)
    decoded = (_decoded_threaded if job.decoders > 0 else _decoded_inline)(paths, spec, job)
    batch = []
    for i, path, (sample, error, decode_ms) in decoded:
        if error is not None:
            rows[i] = (path, None, None, None, error, decode_ms, None)
            continue
        batch.append((i, path, sample, decode_ms))
        if len(batch) == job.batch:
            _infer(net, job, batch, rows, learned, tensor)
            batch = []
    if batch:
        _infer(net, job, batch, rows, learned, tensor)
    return {"worker": _worker_name(), "rows": rows}
