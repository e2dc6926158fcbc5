"""A Dask worker plugin for the fault tests: photos named *poison* kill their worker.

It lives in its own module (not a test file) so that Dask workers can import it."""
import os

from distributed.diagnostics.plugin import WorkerPlugin


class PoisonPlugin(WorkerPlugin):
    name = "predict-test-poison"

    def setup(self, worker):
        from predict.batch import worker as batch_worker

        real = getattr(batch_worker, "_real_decode", batch_worker._decode)
        batch_worker._real_decode = real

        def deadly(path, spec, max_pixels):
            if "poison" in os.path.basename(path):
                os._exit(70)   # what a decoder crash looks like from outside
            return real(path, spec, max_pixels)

        batch_worker._decode = deadly

    def teardown(self, worker):
        from predict.batch import worker as batch_worker

        batch_worker._decode = batch_worker._real_decode
