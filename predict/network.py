"""A loaded .pnet model: run arrays, classify photos, extract features.

``load(path)`` maps and checks the file (``predict.format.read_pnet``) and builds
the C network (``predict._native.NativeNet``); the weights stay in the mapping.
A ``Network`` speaks the source model's layout: arrays are ``(N, C, H, W)`` for
an image model and ``(N, K)`` for a vector, exactly as in the ONNX model it
came from.  The C core is channels-last; the conversion happens here and
nowhere else.

One network may be shared between threads: photo decoding and preprocessing
run in parallel, the C runs take turns (a lock), since a C network owns one
activation arena.

    >>> import predict                                        # doctest: +SKIP
    >>> with predict.load("models/mobilenet_v2.pnet") as net:  # doctest: +SKIP
    ...     net.classify("chelsea.jpg", top=2)
    [('Egyptian cat', 0.69...), ('tabby, tabby cat', 0.15...)]
"""

import copy
import math
import os

import numpy as np

from predict import graph
from predict.errors import InputError, ModelFormatError, NativeError
from predict.forksafe import ForkSafeLock
from predict.format import read_pnet
from predict.image import DEFAULT_MAX_PIXELS, pixel_table, preprocess_pixels
from predict.ranking import top_indices

__all__ = ["MAX_BATCH", "Network", "load"]

# The largest max_batch a network accepts: one C run's batch. Bigger inputs to run() are split,
# so this bounds memory (the arena grows with it), not what a caller may pass.
MAX_BATCH = 4096


def _check_max_batch(max_batch):
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or not (
            1 <= max_batch <= MAX_BATCH):
        raise InputError(f"max_batch must be an integer from 1 to {MAX_BATCH}, got {max_batch!r}")


def load(path, *, max_batch=16, limits=None, threads=1):
    """Loads a .pnet model file into a Network.

    ``max_batch`` (1 to ``MAX_BATCH``) is the largest batch one C run takes
    (its samples go through the network one after the other); bigger batches
    are split.  ``threads`` (1 to 64) is how many threads one run uses: 1
    suits a process per core, more lowers the latency of one photo.
    ``limits`` (a ``predict.format.Limits``) bounds what the file may ask
    for: its size, its header, its tensors, and the activation memory the
    network needs.  Raises ModelFormatError for a missing, corrupt or invalid
    file or one beyond the limits, InputError for a bad ``max_batch`` or
    ``threads``.

    >>> net = load("models/mobilenet_v2.pnet")                # doctest: +SKIP
    >>> net.input_shape, len(net.labels)                      # doctest: +SKIP
    ((3, 224, 224), 1000)
    """
    _check_max_batch(max_batch)
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64:
        raise InputError(f"threads must be an integer in [1, 64], got {threads!r}")
    model = read_pnet(path, limits)
    try:
        return Network(model, max_batch=max_batch, limits=limits, threads=threads)
    except BaseException:
        model.close()
        raise


def _peak_lower_bound(header):
    """Bytes the activation arena needs at least: every layer's run-time inputs and output are
    alive together, for one sample (the core runs a batch one sample after the other). Cheap,
    from the header alone, so an absurd request is refused before the C core is asked to
    allocate it."""
    tensors = header["tensors"]
    most = 0
    for layer in header["layers"]:
        alive = {t for t in layer["inputs"] + [layer["output"]] if tensors[t]["blob"] is None}
        most = max(most, sum(math.prod(tensors[t]["shape"]) * (1 if tensors[t]["dtype"] == "uint8"
                                                                 else 4) for t in alive))
    return most


def _check_activation_memory(path, needed, max_batch, limit, exact):
    if needed > limit:
        amount = f"{needed:,} bytes" if exact else f"at least {needed:,} bytes"
        raise ModelFormatError(
            f"{path}: the network needs {amount} of activation memory for max_batch "
            f"{max_batch}, more than the limit of {limit:,} bytes "
            f"(Limits.max_activation_bytes); load it with a smaller max_batch or higher limits")




def _native():
    """predict._native, imported on first use: it needs the compiled C core, and
    ``import predict`` (the formats, the converters) must work without it."""
    from predict import _native

    return _native


def _channels_first(x, shape):
    """(N, *shape) source layout -> (N, c, h, w) C-contiguous float32, what the core
    reads with channels_first: the same memory order, no transposition."""
    h, w, c = _native().core_dims(list(shape))
    return np.ascontiguousarray(x, dtype=np.float32).reshape(x.shape[0], c, h, w)


def _from_core(y, shape):
    """(n, h, w, c) from the core -> (n, *shape) in the source layout."""
    spatial = tuple(shape[1:])
    if not spatial:  # a vector (logits): the same order either way
        return y.reshape((y.shape[0],) + tuple(shape))
    channels_last = y.reshape((y.shape[0],) + spatial + (shape[0],))
    return np.ascontiguousarray(np.moveaxis(channels_last, -1, 1))


def _is_pixels(batch):
    """Whether a photo batch holds 8-bit pixels ``(N, H, W, C)`` (``preprocess_pixels``)
    rather than float32 samples ``(N, C, H, W)`` (``preprocess``)."""
    return isinstance(batch, np.ndarray) and batch.dtype == np.uint8


def _mirrored(batch):
    """The batch's photos mirrored left to right, in either form."""
    return np.ascontiguousarray(batch[:, :, ::-1] if _is_pixels(batch) else batch[..., ::-1])


def _softmax(logits):
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _shape_text(shape):
    """Like a tuple's repr, without quotes: (N, 3, 224, 224), (1000,)."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Network:
    """A model ready to run.  Make one with ``predict.load(path)``.

    Attributes: ``path``, ``sha256`` (the file's checksum), ``labels`` (class
    names, maybe empty), ``preprocess_spec`` (how photos become inputs, None
    for a non-image model), ``input_shape`` (one sample, source layout),
    ``input_names``, ``output_names``, ``max_batch`` and ``max_pixels`` (the
    largest photo ``classify`` and ``features`` decode; settable).

    >>> net = predict.load("models/mobilenet_v2.pnet")        # doctest: +SKIP
    >>> net                                                   # doctest: +SKIP
    <Network mobilenet_v2.pnet: (3, 224, 224) -> (1000,), 3,487,816 parameters, 1000 labels>
    """

    def __init__(self, model, *, max_batch=16, limits=None, threads=1):
        """Wraps an open ``predict.format.ModelFile``; it is closed with the Network.
        ``limits`` bounds the activation memory (``Limits.max_activation_bytes``)."""
        _check_max_batch(max_batch)
        limit = (limits or graph.Limits()).max_activation_bytes
        header = model.header
        _check_activation_memory(model.path, _peak_lower_bound(header), max_batch,
                                 limit, exact=False)
        self._model = model
        self._header = header
        self._tensors = header["tensors"]
        self._inputs = [(io["name"], io["tensor"]) for io in header["inputs"]]
        self._outputs = [(io["name"], io["tensor"]) for io in header["outputs"]]
        self._lock = ForkSafeLock()
        self._extra_nets = {}  # output tensor indices -> NativeNet exposing them, built on demand
        self._pixels = None    # the preprocess spec's pixel table, made on first use
        self._activation_limit = limit
        self._net = self._checked(_native().NativeNet(header, model.arrays, max_batch=max_batch,
                                                      threads=threads), model.path, max_batch)
        self.threads = threads
        self.path = model.path
        self.sha256 = model.sha256
        self.max_batch = max_batch
        self.max_pixels = DEFAULT_MAX_PIXELS
        # Probabilities come from a softmax; a model that ends in one already gives them.
        producer = {layer["output"]: layer["op"] for layer in header["layers"]}
        self._ends_in_softmax = producer.get(self._outputs[0][1]) == "softmax"
        # run()'s path for one float32 input and one output: (the input's source shape,
        # its (c, h, w) in the core, the output's source shape), or None
        self._one = None
        if len(self._inputs) == 1 and len(self._outputs) == 1 and self._net.input_is_float32():
            shape = self._shape(self._inputs[0][1])
            h, w, c = _native().core_dims(list(shape))
            self._one = (shape, (c, h, w), self._shape(self._outputs[0][1]))

    # -- what the model is ----------------------------------------------------------

    @property
    def labels(self):
        """The class names by output index (a new list; empty when the file has none)."""
        return list(self._header["labels"])

    @property
    def preprocess_spec(self):
        """The header's ``preprocess`` map (a copy), or None for a non-image model."""
        return copy.deepcopy(self._header["preprocess"])

    @property
    def input_shape(self):
        """One sample of the (first) input, source layout, e.g. ``(3, 224, 224)``."""
        return self._shape(self._inputs[0][1])

    @property
    def input_names(self):
        return [name for name, _ in self._inputs]

    @property
    def output_names(self):
        return [name for name, _ in self._outputs]

    @property
    def closed(self):
        return self._net is None

    def _shape(self, tensor):
        return tuple(self._tensors[tensor]["shape"])

    def info(self):
        """A description of the model, for people and for ``predict info --json``.

        Keys: path, file_bytes, sha256, layers, tensors, ops (op -> count),
        parameters, weight_bytes, macs (multiply-accumulates per sample),
        inputs and outputs (name, tensor, shape), features (name and shape,
        or None), layer_outputs (the tensor names ``features(layer=...)``
        takes), input_shape, preprocess, labels (how many), provenance,
        max_batch, arena_bytes and scratch_bytes (the C core's memory), threads
        and isa (the kernel family the C core runs with).

        >>> net.info()["ops"]                                 # doctest: +SKIP
        {'add': 10, 'conv': 35, 'depthwise': 17, 'fc': 1, 'global_avgpool': 1, 'reshape': 1}
        """
        with self._lock:
            net = self._live()
            arena, scratch, isa = net.arena_bytes, net.scratch_bytes, net.isa
        header = self._header
        summary = graph.summarize(header)
        features = header["features"]
        return {
            "path": self.path,
            "file_bytes": self._model.size,
            "sha256": self.sha256,
            "format_version": header["version"],
            **summary,
            "features": None if features is None else {
                "name": self._tensors[features]["name"], "shape": list(self._shape(features))},
            "layer_outputs": self.layer_names(),
            "input_shape": list(self.input_shape),
            "preprocess": self.preprocess_spec,
            "provenance": dict(header["provenance"]),
            # int8 models: how they were quantized and their measured accuracy (or None).
            "quantization": header.get("quantization"),
            "max_batch": self.max_batch,
            "arena_bytes": arena,
            "scratch_bytes": scratch,
            "threads": self.threads,
            "isa": isa,
        }

    def __repr__(self):
        name = os.path.basename(self.path)
        if self.closed:
            return f"<Network {name}: closed>"
        outputs = ", ".join(_shape_text(self._shape(t)) for _, t in self._outputs)
        parameters = sum(math.prod(b["shape"]) for b in self._header["blobs"])
        return (f"<Network {name}: {_shape_text(self.input_shape)} -> {outputs}, "
                f"{parameters:,} parameters, {len(self._header['labels'])} labels>")

    # -- lifetime ---------------------------------------------------------------------

    def close(self):
        """Frees the C networks, then unmaps the file.  Idempotent.

        The order matters: the C side points into the mapping until it is freed.
        """
        with self._lock:
            nets = list(self._extra_nets.values())
            nets += [self._net] if self._net is not None else []
            self._extra_nets = {}
            self._net = None
            for net in nets:
                net.close()
            if self._model is not None:
                self._model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _live(self):
        """The C network, or a clear error once closed.  Call with the lock held."""
        if self._net is None:
            raise NativeError(f"{self.path}: the network is closed", status="PD_ERR_STATE")
        return self._net

    # -- running arrays ------------------------------------------------------------------

    def _check_input(self, name, tensor, x):
        shape = self._shape(tensor)
        expected = _shape_text(("N",) + shape)
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
        if x.dtype.kind != "f":
            raise InputError(f"input {name!r}: expected a float32 array, got {x.dtype}")
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            hint = " (add the batch dimension: x[None])" if tuple(x.shape) == shape else ""
            raise InputError(f"input {name!r}: expected shape {expected}, got "
                             f"{_shape_text(x.shape)}{hint}")
        return x.astype(np.float32, copy=False)

    def _gather_inputs(self, x):
        """The run's inputs as a list in header order, checked and float32."""
        if isinstance(x, dict):
            names = [name for name, _ in self._inputs]
            unknown = sorted(set(x) - set(names), key=str)
            missing = [n for n in names if n not in x]
            if unknown or missing:
                raise InputError(f"inputs: expected {names}; missing {missing}, unknown {unknown}")
            arrays = [self._check_input(name, t, x[name]) for name, t in self._inputs]
        else:
            if len(self._inputs) != 1:
                raise InputError(f"this network has {len(self._inputs)} inputs: pass a dict "
                                 f"{{name: array}} with {self.input_names}")
            (name, tensor), = self._inputs
            arrays = [self._check_input(name, tensor, x)]
        batches = {a.shape[0] for a in arrays}
        if len(batches) != 1:
            raise InputError(f"inputs: every input needs the same batch size, got "
                             f"{[a.shape[0] for a in arrays]}")
        return arrays

    def _run_core(self, arrays, outputs, get_net):
        """Runs source-layout float32 arrays through a C network, max_batch at a time;
        returns the outputs (tensor indices ``outputs``) in the source layout.  A photo
        model's one input may instead be a uint8 pixel batch (N, H, W, C), normalized by
        the core as it reads it."""
        n = arrays[0].shape[0]
        shapes = [self._shape(t) for t in outputs]
        if n == 0:
            with self._lock:
                get_net()  # a closed network still says so
            return [np.zeros((0,) + s, np.float32) for s in shapes]
        in_shapes = [self._shape(t) for _, t in self._inputs]
        table = None
        if _is_pixels(arrays[0]):
            table = self._pixel_table
            if table is None or len(arrays) != 1:
                raise InputError("a uint8 pixel batch needs a photo model (one input, a preprocess spec)")
            h, w, c = _native().core_dims(list(in_shapes[0]))
            if arrays[0].ndim != 4 or arrays[0].shape[1:] != (h, w, c):
                raise InputError(f"pixels: expected shape (N, {h}, {w}, {c}), got {arrays[0].shape}")
        chunks = []
        for start in range(0, n, self.max_batch):
            stop = start + self.max_batch
            # (N, c, *spatial) as (N, c, h, w): the C core moves the channels last as it
            # copies the input in (one pass less than a transposing copy here)
            if table is not None:
                core_in = [np.ascontiguousarray(arrays[0][start:stop])]
            else:
                core_in = [_channels_first(a[start:stop], s) for a, s in zip(arrays, in_shapes)]
            with self._lock:
                core_out = get_net().run(core_in, channels_first=True, pixels=table)
            chunks.append([_from_core(y, s) for y, s in zip(core_out, shapes)])
        if len(chunks) == 1:
            return chunks[0]
        return [np.concatenate(parts) for parts in zip(*chunks)]

    def run(self, x):
        """Runs a batch in the source model's layout; returns its output(s).

        ``x`` is a float array (float32; other float types are converted) of
        shape ``(N, *input_shape)``, e.g. ``(N, 3, 224, 224)`` (the batch
        dimension is required, even for one sample), or a dict
        ``{input_name: array}``.  Returns a float32 array ``(N, *output
        shape)``, e.g. ``(N, 1000)`` logits, or a dict ``{output_name:
        array}`` when the network has several outputs.  Batches larger than
        ``max_batch`` are run in pieces.  Raises InputError for a wrong dtype
        or shape.

        >>> net.run(np.zeros((2, 3, 224, 224), np.float32)).shape   # doctest: +SKIP
        (2, 1000)
        """
        one = self._one
        if (one is not None and type(x) is np.ndarray and x.dtype == np.float32
                and x.shape[1:] == one[0] and 1 <= x.shape[0] <= self.max_batch
                and x.flags.c_contiguous):
            # What the general path below checks and does, in fewer steps: with caches
            # cold from other work (as between a server's requests), its Python took
            # ~0.1 ms of a 7 ms MobileNetV2 call.
            n = x.shape[0]
            with self._lock:
                y, = self._live()._run_checked([x.reshape((n,) + one[1])], n, True, None)
            return _from_core(y, one[2])
        arrays = self._gather_inputs(x)
        outputs = self._run_core(arrays, [t for _, t in self._outputs], self._live)
        if len(outputs) == 1:
            return outputs[0]
        return {name: y for (name, _), y in zip(self._outputs, outputs)}

    # -- photos ----------------------------------------------------------------------------

    def _photo_batches(self, images, what):
        """(an iterator of preprocessed batches of up to max_batch photos, whether
        ``images`` was a list rather than one photo)."""
        spec = self._header["preprocess"]
        if spec is None:
            raise InputError(f"{what} needs photos, but this network has no preprocess spec "
                             f"(not an image model); use run() with arrays")
        if len(self._inputs) != 1:
            raise InputError(f"{what} needs a network with one input; this one has "
                             f"{len(self._inputs)}")
        if isinstance(images, (list, tuple)):
            many, photos = True, list(images)
        elif isinstance(images, np.ndarray) and images.ndim == 4:
            many, photos = True, list(images)
        else:
            many, photos = False, [images]
        max_pixels = self.max_pixels

        def batches():  # lazily, so a long list never sits in memory as one tensor
            for start in range(0, len(photos), self.max_batch):
                part = photos[start:start + self.max_batch]
                pixels = [preprocess_pixels(p, spec, max_pixels=max_pixels) for p in part]
                # one photo as a batch of one without a copy (a fresh process's peak memory)
                yield pixels[0][None] if len(pixels) == 1 else np.stack(pixels)

        return batches(), many

    def classify(self, images, top=5, *, tta=False):
        """Names what is in photos: the ``top`` classes with their probabilities.

        ``images`` is one photo (a path, bytes, a file object, a PIL image or
        an ``(H, W, C)`` array; see ``predict.image``) or a list of them (or
        an ``(N, H, W, C)`` array).  One photo gives a list of ``(label,
        probability)`` pairs, most likely first; a list gives one such list
        per photo.  Probabilities are the softmax of the first output (or the
        output itself when the model ends in a softmax).  Labels come from
        the file, or are the class index as a string when it has none.
        ``top`` is clipped to the number of classes; ``None`` means all.
        ``tta=True`` averages the probabilities of the centre crop and of its
        mirror image (test-time augmentation, twice the work).
        A photo that cannot be read raises ImageError naming it.

        >>> net.classify("chelsea.jpg", top=2)                # doctest: +SKIP
        [('Egyptian cat', 0.69...), ('tabby, tabby cat', 0.15...)]
        """
        labels = self._header["labels"]
        ranked, many = self._rank(images, top, "classify", tta=tta)
        results = [[(labels[i] if i < len(labels) else str(i), p) for i, p in pairs]
                   for pairs in ranked]
        return results if many else results[0]

    def _rank(self, images, top, what, tta=False):
        """classify() with class indices instead of labels: ([[(index, probability)]
        per photo], whether ``images`` was a list).  The CLI's JSON uses the indices."""
        if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
            raise InputError(f"top must be a positive integer or None, got {top!r}")
        batches, many = self._photo_batches(images, what)
        ranked = []
        for batch in batches:
            probs = self._probabilities(batch)
            if tta:
                probs = (probs + self._probabilities(_mirrored(batch))) / 2
            k = probs.shape[1] if top is None else min(top, probs.shape[1])
            for p in probs:
                order = top_indices(p, k)
                ranked.append([(int(i), float(p[i])) for i in order])
        return ranked, many

    def _probabilities(self, batch):
        """float64 class probabilities (N, K) of a preprocessed batch."""
        return self.scores(batch)[0]

    @property
    def _pixel_table(self):
        """The (C, 256) float32 normalization table of a photo model (None otherwise),
        which the core applies to uint8 pixel batches."""
        if self._pixels is None and self._header["preprocess"] is not None:
            self._pixels = pixel_table(self._header["preprocess"])
        return self._pixels

    def scores(self, batch, features=False):
        """Class probabilities (and optionally features) of preprocessed photos, in one run.

        ``batch`` is a float32 ``(N, *input_shape)`` array of samples made by
        ``predict.image.preprocess``, or a uint8 ``(N, H, W, C)`` array of
        pixels made by ``predict.image.preprocess_pixels`` (the core then
        normalizes them as it reads them: the same numbers, bit for bit, with
        no float32 copy of the batch).  Returns ``(probabilities, features)``:
        float64 ``(N, classes)`` (softmax of the first output, as ``classify``
        ranks them) and float32 ``(N, D)`` or None.  With ``features`` both
        come from one pass through the network.  The batch runner uses this.

        >>> probs, feats = net.scores(np.zeros((2, 3, 224, 224), np.float32), features=True)  # doctest: +SKIP
        >>> probs.shape, feats.shape                          # doctest: +SKIP
        ((2, 1000), (2, 1280))
        """
        arrays = [batch] if _is_pixels(batch) else self._gather_inputs(batch)
        first = self._outputs[0][1]
        if features:
            tensor = self._header["features"]
            if tensor is None:
                raise InputError(f"{os.path.basename(self.path)} names no features tensor")
            logits, vectors = self._run_core(arrays, [first, tensor],
                                             lambda: self._core_for((first, tensor)))
            vectors = vectors.reshape(vectors.shape[0], -1)
        else:
            (logits,), vectors = self._run_core(arrays, [first], self._live), None
        logits = logits.reshape(logits.shape[0], -1)
        probs = logits.astype(np.float64) if self._ends_in_softmax else _softmax(logits)
        return probs, vectors


    def feature_tensor(self, layer=None):
        """The tensor index and name that ``features(layer=...)`` returns.

        ``layer`` None is the header's features tensor (the penultimate
        embedding); otherwise the name of any tensor of the graph
        (``info()`` and ``layer_names()`` list them).  Raises InputError for
        a name the graph does not have, or a model without features.

        >>> net.feature_tensor()                              # doctest: +SKIP
        (65, 'features')
        """
        if layer is None:
            tensor = self._header["features"]
            if tensor is None:
                raise InputError(f"{os.path.basename(self.path)} names no features tensor; "
                                 f"pass layer=NAME (one of its tensors)")
            return tensor, self._tensors[tensor]["name"]
        if not isinstance(layer, str):
            raise InputError(f"layer must be a tensor name (str) or None, got {layer!r}")
        inputs = {tensor for _, tensor in self._inputs}
        for index, t in enumerate(self._tensors):
            if t["name"] == layer:
                if index in inputs:
                    raise InputError(f"layer {layer!r} is the network's input, not a layer output")
                return index, layer
        names = self.layer_names()
        close = [n for n in names if layer.lower() in n.lower()][:5]
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise InputError(f"{os.path.basename(self.path)} has no tensor named {layer!r} "
                         f"({len(names)} layer outputs, e.g. {names[-1]!r}; see "
                         f"Network.layer_names()){hint}")

    def layer_names(self):
        """The names of the layer outputs ``features(layer=...)`` can return, in graph order.

        >>> net.layer_names()[-2:]                            # doctest: +SKIP
        ['features', 'logits']
        """
        return [self._tensors[layer["output"]]["name"] for layer in self._header["layers"]]

    def _checked(self, net, path, max_batch):
        """``net`` if its arena and scratch fit the activation limit; else closes it and raises."""
        try:
            _check_activation_memory(path, net.arena_bytes + net.scratch_bytes, max_batch,
                                     self._activation_limit, exact=True)
        except ModelFormatError:
            net.close()
            raise
        return net

    def _core_for(self, outputs):
        """The C network that outputs the tensors ``outputs``, built on first use (lock held)."""
        self._live()
        outputs = tuple(outputs)
        if outputs not in self._extra_nets:
            self._extra_nets[outputs] = self._checked(_native().NativeNet(
                self._header, self._model.arrays, max_batch=self.max_batch, outputs=list(outputs),
                threads=self.threads), self.path, self.max_batch)
        return self._extra_nets[outputs]

    def features(self, images, layer=None, *, tta=False):
        """The penultimate features of photos (or a named layer's output), for search,
        similarity or learning new classes (``predict.learn``).

        Returns a float32 vector ``(D,)`` for one photo, ``(N, D)`` for a list
        (the tensor flattened in the source layout, channels first).
        ``layer`` None is the header's features tensor; a tensor name (see
        ``layer_names()``) picks another one.  ``tta=True`` averages the
        features of the centre crop and of its mirror image (test-time
        augmentation: steadier features for twice the work).  Each layer
        asked for gets its own C network (its own activation arena), kept
        until ``close()``.  Raises InputError if the model names no features
        tensor or has no tensor called ``layer``.

        >>> net.features("chelsea.jpg").shape                 # doctest: +SKIP
        (1280,)
        >>> net.features(["a.jpg", "b.jpg"], layer="features.18.2.out").shape  # doctest: +SKIP
        (2, 62720)
        """
        tensor, _ = self.feature_tensor(layer)
        batches, many = self._photo_batches(images, "features")
        parts = [self._batch_features(batch, tensor, tta) for batch in batches]
        d = math.prod(self._shape(tensor))
        vectors = np.concatenate(parts) if parts else np.zeros((0, d), np.float32)
        return vectors if many else vectors[0]

    def _batch_features(self, batch, tensor, tta=False):
        """float32 ``(N, D)``: tensor index ``tensor`` of a preprocessed batch, flattened; with
        ``tta`` averaged with the mirrored batch's.  ``features()`` and the batch runner's
        predictors (``predict.batch.worker``) both use it, so both give the same numbers."""
        get_net = lambda: self._core_for((tensor,))  # noqa: E731
        (y,) = self._run_core([batch], [tensor], get_net)
        y = y.reshape(y.shape[0], -1).astype(np.float32, copy=False)
        if tta:
            (mirrored,) = self._run_core([_mirrored(batch)],
                                         [tensor], get_net)
            y = (y + mirrored.reshape(y.shape).astype(np.float32, copy=False)) * 0.5
        return y
