"""Dask distributed: the same runner on a cluster (needs the ``cluster`` extra).

Imported only when ``--scheduler`` or ``--dask-local`` asks for it, so the
local runtime never imports dask.  The executor is ``Client.get_executor()``;
the model reaches every worker through the cluster, not a shared disk: the
driver reads the file once and registers a worker plugin holding its bytes.
The scheduler hands the plugin to every worker, including ones that join or
are restarted later; each writes the model to its own local directory once,
and ``predict.batch.worker`` loads it from there.

    >>> client, cluster = connect(local_workers=2)               # doctest: +SKIP
    >>> make_executor = model_executor(client, "m.pnet", sha)   # doctest: +SKIP
"""

import logging
import os

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from predict import checksum
from predict.errors import PredictError

__all__ = ["ModelPlugin", "PredictorPlugin", "connect", "model_executor", "total_threads"]


class ModelPlugin(WorkerPlugin):
    """Carries a model file's bytes to each worker and saves them there once."""

    kind, suffix = "model", "pnet"

    def __init__(self, sha256, data):
        self.sha256 = sha256  # the model's own checksum (predict.format), checked on load
        self.data = data
        self.digest = checksum.sha256(data).hex()  # of the bytes in transit
        self.name = f"predict-{self.kind}-{sha256[:16]}"

    def _register(self, sha256, path):
        from predict.batch.worker import register_model_file

        register_model_file(sha256, path)

    def setup(self, worker):
        if checksum.sha256(self.data).hex() != self.digest:
            raise PredictError(f"the {self.kind}'s bytes arrived damaged on {worker.address}")
        path = os.path.join(worker.local_directory,
                            f"predict-{self.sha256[:16]}.{self.suffix}")
        if not os.path.exists(path):
            tmp = f"{path}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(self.data)
            os.replace(tmp, path)
        self._register(self.sha256, path)


class PredictorPlugin(ModelPlugin):
    """The same for a predictor file (``predict learn``); ``sha256`` is the file's own."""

    kind, suffix = "predictor", "predictor"

    def _register(self, sha256, path):
        from predict.batch.worker import register_predictor_file

        register_predictor_file(sha256, path)


def connect(scheduler=None, local_workers=None):
    """(Client, LocalCluster or None): an existing cluster at ``scheduler``
    (``tcp://host:port``), or a new local one of ``local_workers`` processes
    with one thread each (and its dashboard, when bokeh is installed)."""
    if scheduler:
        try:
            return Client(scheduler, timeout=30), None
        except (OSError, TimeoutError) as e:
            raise PredictError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(cluster), cluster


def total_threads(client):
    """Task slots in the cluster now (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def model_executor(client, model_path, sha256, predictor=None):
    """Ships the model (and the predictor, a ``(path, sha256)`` pair) to the cluster's
    workers; returns a maker of executors."""
    with open(model_path, "rb") as f:
        data = f.read()
    client.register_plugin(ModelPlugin(sha256, data))
    if predictor is not None:
        path, predictor_sha256 = predictor
        with open(path, "rb") as f:
            data = f.read()
        if checksum.sha256(data).hex() != predictor_sha256:
            raise PredictError(f"{path}: the predictor file changed since the run started")
        client.register_plugin(PredictorPlugin(predictor_sha256, data))

    def make():
        # pure=False: a retried shard must be a new task, not Dask's cached failure.
        return client.get_executor(pure=False)

    return make
