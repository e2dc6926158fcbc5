"""A learned classifier head on a model's features, and its file (``predict learn`` writes it).

A ``Predictor`` is a multinomial logistic regression (``predict.logreg``) over the features of
one layer of one particular .pnet model: class names, the standardization of the features
(mean, scale), weights and biases, and the identity of that model (its sha256) and layer.  It
is meaningless on any other model, so applying it checks the network first.

The file is small (about 4 bytes x (classes + 2) x feature length, ~15 KB for two classes on
MobileNetV2) and holds no code, no pickle:

    offset 0   MAGIC, 8 bytes: b"\\x89PRED\\r\\n\\x1a"
    offset 8   format version, uint32 little-endian (VERSION)
    offset 12  body length B, uint64 little-endian
    offset 20  body: one msgpack map (see ``_FIELDS``); arrays are little-endian float32 bytes
    offset 20+B  sha256 of everything before it (32 bytes); the file ends there

Loading checks every byte of that before believing any of it, and raises PredictorError with
what is wrong: not a predictor, an unknown version, truncated, corrupt (checksum), a field
missing, of the wrong type or size, non-finite numbers.

    >>> p = load_predictor("pets.predictor")                  # doctest: +SKIP
    >>> p.classes, p.layer, p.feature_dim                     # doctest: +SKIP
    (['cat', 'dog'], 'features', 1280)
    >>> with predict.load("models/mobilenet_v2.pnet") as net:  # doctest: +SKIP
    ...     p.classify(net, "photo.jpg")
    [('cat', 0.97...), ('dog', 0.02...)]
"""

import math
import os
import struct

import msgpack
import numpy as np

from predict import checksum
from predict.errors import InputError, PredictorError
from predict.ranking import top_indices

__all__ = ["MAGIC", "VERSION", "Predictor", "load_predictor"]

MAGIC = b"\x89PRED\r\n\x1a"
VERSION = 1
_PREAMBLE = struct.Struct("<8sIQ")
_DIGEST = 32
MAX_BYTES = 1 << 30  # 1 GiB: far above any real predictor (100 classes x 62720 features is 25 MB)

# field -> (the Python type it must have, a description for messages)
_FIELDS = {
    "model_sha256": (str, "the sha256 of the .pnet model the features came from"),
    "model_name": (str, "the model file's name when the predictor was trained"),
    "layer": (str, "the tensor whose features are used"),
    "feature_dim": (int, "the length of a feature vector"),
    "classes": (list, "the class names"),
    "tta": (bool, "whether features average the centre and mirrored crops"),
    "penalty": (float, "the L2 penalty chosen by cross-validation"),
    "mean": (bytes, "float32 [feature_dim]"),
    "scale": (bytes, "float32 [feature_dim]"),
    "weights": (bytes, "float32 [classes, feature_dim]"),
    "bias": (bytes, "float32 [classes]"),
    "training": (dict, "how it was trained (examples, folds, accuracy, ...)"),
}


def _fail(path, message):
    raise PredictorError(f"{path}: {message}")


class Predictor:
    """A classifier head for one model and layer: ``predict_features`` and ``classify``.

    Make one with ``predict.learn`` (from photos) or ``predict.learning.fit_predictor`` (from
    features), or load one with ``load_predictor(path)``.  Attributes: ``classes``, ``layer``,
    ``feature_dim``, ``model_sha256``, ``model_name``, ``tta``, ``penalty``, ``training`` (a
    dict: examples per class, folds, cross-validated accuracy, ...), ``path`` (None until saved
    or loaded), ``skipped`` (photos ``learn`` could not read; not saved).

    >>> p = Predictor(classes=["a", "b"], weights=np.array([[-1.0], [1.0]]), bias=np.zeros(2),
    ...               mean=np.zeros(1), scale=np.ones(1), model_sha256="0" * 64,
    ...               model_name="m.pnet", layer="features")
    >>> p.predict_features(np.array([[2.0]])).round(3).tolist()
    [[0.018, 0.982]]
    """

    def __init__(self, *, classes, weights, bias, mean, scale, model_sha256, model_name, layer,
                 tta=False, penalty=0.0, training=None):
        self.classes = [str(c) for c in classes]
        self.weights = np.ascontiguousarray(weights, np.float32)
        self.bias = np.ascontiguousarray(bias, np.float32)
        self.mean = np.ascontiguousarray(mean, np.float32)
        self.scale = np.ascontiguousarray(scale, np.float32)
        self.model_sha256 = str(model_sha256)
        self.model_name = str(model_name)
        self.layer = str(layer)
        self.tta = bool(tta)
        self.penalty = float(penalty)
        self.training = dict(training or {})
        self.path = None
        self.skipped = []
        k, d = len(self.classes), self.mean.shape[0] if self.mean.ndim == 1 else -1
        if (k < 2 or d < 1 or self.weights.shape != (k, d) or self.bias.shape != (k,)
                or self.scale.shape != (d,)):
            raise InputError(f"inconsistent predictor: {k} classes, weights {self.weights.shape}, "
                             f"bias {self.bias.shape}, mean {self.mean.shape}, "
                             f"scale {self.scale.shape}")

    @property
    def feature_dim(self):
        return int(self.mean.shape[0])

    def __repr__(self):
        where = f" {os.path.basename(self.path)}" if self.path else ""
        accuracy = self.training.get("cv_accuracy")
        acc = f", cross-validated accuracy {accuracy:.3f}" if accuracy is not None else ""
        return (f"<Predictor{where}: {len(self.classes)} classes {self.classes[:4]}"
                f"{'...' if len(self.classes) > 4 else ''} on {self.model_name} "
                f"{self.layer!r} ({self.feature_dim}){acc}>")

    # -- applying it ---------------------------------------------------------------------

    def predict_features(self, features):
        """Class probabilities of feature vectors: ``(N, K)`` for ``(N, D)``, ``(K,)`` for ``(D,)``.

        The features must come from this predictor's model and layer (and with ``tta`` if it
        was trained with it): ``net.features(photos, layer=p.layer, tta=p.tta)``.  Columns
        follow ``classes``.  Computed in float64; rows sum to 1.

        >>> probs = p.predict_features(net.features(photos, layer=p.layer))  # doctest: +SKIP
        >>> [p.classes[i] for i in probs.argmax(axis=1)]       # doctest: +SKIP
        ['cat', 'dog']
        """
        from predict.logreg import probabilities

        x = np.asarray(features)
        one = x.ndim == 1
        x = x.reshape(1, -1) if one else x
        if x.ndim != 2 or x.shape[1] != self.feature_dim:
            raise InputError(f"features: expected shape (N, {self.feature_dim}) from layer "
                             f"{self.layer!r}, got {tuple(np.shape(features))}")
        if x.dtype.kind not in "fiu":
            raise InputError(f"features: expected numbers, got {x.dtype}")
        z = (x.astype(np.float64) - self.mean) / self.scale
        probs = probabilities(self.weights.astype(np.float64), self.bias.astype(np.float64), z)
        return probs[0] if one else probs

    def check_network(self, net):
        """Raises PredictorError unless ``net`` is the model this predictor was trained on.

        The model is recognized by its file's sha256, so a copy or a renamed file is fine and
        a rebuilt or different model is refused.
        """
        if net.sha256 != self.model_sha256:
            source = f"{self.path}: this predictor" if self.path else "this predictor"
            raise PredictorError(
                f"{source} was trained on the model {self.model_name} (sha256 "
                f"{self.model_sha256}), but {os.path.basename(net.path)} has sha256 "
                f"{net.sha256}: features differ between models, so use the model it was "
                f"trained on, or train it again on this one (predict learn --model ...)")
        try:
            tensor, _ = net.feature_tensor(self.layer)
        except InputError as e:
            raise PredictorError(f"predictor layer {self.layer!r}: {e}") from None
        dim = math.prod(net._shape(tensor))
        if dim != self.feature_dim:
            raise PredictorError(f"predictor layer {self.layer!r} has {dim} features in "
                                 f"{os.path.basename(net.path)}, the predictor expects "
                                 f"{self.feature_dim}")

    def probabilities(self, net, images, *, tta=None):
        """``(N, K)`` probabilities for a list of photos, ``(K,)`` for one photo.

        ``tta`` None uses the setting it was trained with.  Checks ``net`` first.
        """
        self.check_network(net)
        features = net.features(images, layer=self.layer, tta=self.tta if tta is None else tta)
        return self.predict_features(features)

    def classify(self, net, images, *, top=None, tta=None):
        """Names the learned classes in photos: ``[(class, probability), ...]``, most likely first.

        One photo gives one list, a list of photos a list of lists (like
        ``Network.classify``).  ``top`` None gives every class.  Raises PredictorError if
        ``net`` is not the model the predictor was trained on.

        >>> p.classify(net, "rex.jpg", top=1)                 # doctest: +SKIP
        [('dog', 0.98...)]
        """
        if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
            raise InputError(f"top must be a positive integer or None, got {top!r}")
        probs = self.probabilities(net, images, tta=tta)
        many = probs.ndim == 2
        ranked = []
        for row in np.atleast_2d(probs):
            order = top_indices(row, top)
            ranked.append([(self.classes[i], float(row[i])) for i in order])
        return ranked if many else ranked[0]

    # -- the file -------------------------------------------------------------------------

    def _body(self):
        le = lambda a: np.ascontiguousarray(a, "<f4").tobytes()  # noqa: E731
        return {
            "model_sha256": self.model_sha256, "model_name": self.model_name,
            "layer": self.layer, "feature_dim": self.feature_dim, "classes": self.classes,
            "tta": self.tta, "penalty": self.penalty,
            "mean": le(self.mean), "scale": le(self.scale), "weights": le(self.weights),
            "bias": le(self.bias), "training": self.training,
        }

    def save(self, path):
        """Writes the predictor file atomically (a temporary file, then a rename); returns its
        sha256.

        >>> p.save("pets.predictor")                          # doctest: +SKIP
        'b5d1...'
        """
        body = msgpack.packb(self._body(), use_bin_type=True)
        data = _PREAMBLE.pack(MAGIC, VERSION, len(body)) + body
        data += checksum.sha256(data)
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise PredictorError(f"{path}: cannot write: {e.strerror or e}") from None
        self.path = path
        return checksum.sha256(data).hex()


def _array(path, body, key, shape):
    data = body[key]
    count = math.prod(shape)
    if len(data) != 4 * count:
        _fail(path, f"field {key!r}: {len(data)} bytes, expected {4 * count} "
                    f"(float32 {list(shape)})")
    a = np.frombuffer(data, "<f4").astype(np.float32).reshape(shape)
    if not np.all(np.isfinite(a)):
        _fail(path, f"field {key!r} holds non-finite numbers")
    return a


def _parse(path, data):
    """Checks the bytes of a predictor file and returns its body (a dict with typed fields)."""
    if data[:8] != MAGIC:
        if data[:8] == b"\x89PNET\r\n\x1a":
            _fail(path, "this is a .pnet model, not a predictor (pass it as --model)")
        if not data:
            _fail(path, "empty (zero bytes), not a predictor file")
        _fail(path, "not a predictor file (it does not start with the predictor magic bytes)")
    if len(data) < _PREAMBLE.size:
        _fail(path, f"truncated: {len(data)} bytes, shorter than the preamble")
    _, version, length = _PREAMBLE.unpack_from(data)
    if version != VERSION:
        _fail(path, f"predictor format version {version}; this predict reads version {VERSION}")
    expected = _PREAMBLE.size + length + _DIGEST
    if len(data) < expected:
        _fail(path, f"truncated: {len(data)} bytes, the header says {expected}")
    if len(data) > expected:
        _fail(path, f"{len(data) - expected} unexpected bytes after the checksum")
    with memoryview(data) as whole, whole[:-_DIGEST] as body:
        computed = checksum.sha256(body)
    if computed != data[-_DIGEST:]:
        _fail(path, "corrupt: the sha256 checksum does not match the contents")
    try:
        body = msgpack.unpackb(data[_PREAMBLE.size:-_DIGEST], raw=False, strict_map_key=True,
                               use_list=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        _fail(path, f"the body is not valid msgpack ({type(e).__name__}: {e})")
    if not isinstance(body, dict):
        _fail(path, f"the body is a {type(body).__name__}, expected a map")
    missing = [k for k in _FIELDS if k not in body]
    unknown = sorted(str(k) for k in body if k not in _FIELDS)
    if missing or unknown:
        _fail(path, f"fields missing {missing}, unknown {unknown}")
    for key, (kind, what) in _FIELDS.items():
        value = body[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            _fail(path, f"field {key!r} ({what}) must be {kind.__name__}, "
                        f"got {type(value).__name__}")
    classes, d = body["classes"], body["feature_dim"]
    if len(classes) < 2 or not all(isinstance(c, str) and c for c in classes):
        _fail(path, f"field 'classes' must be 2 or more non-empty names, got {classes!r:.200}")
    if len(set(classes)) != len(classes):
        _fail(path, "field 'classes' repeats a name")
    if d < 1:
        _fail(path, f"field 'feature_dim' must be >= 1, got {d}")
    sha = body["model_sha256"]
    if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
        _fail(path, f"field 'model_sha256' is not a sha256 hex digest: {sha!r:.80}")
    if not math.isfinite(body["penalty"]) or body["penalty"] < 0:
        _fail(path, f"field 'penalty' must be finite and >= 0, got {body['penalty']!r}")
    k = len(classes)
    arrays = {"mean": _array(path, body, "mean", (d,)), "scale": _array(path, body, "scale", (d,)),
              "weights": _array(path, body, "weights", (k, d)),
              "bias": _array(path, body, "bias", (k,))}
    if not np.all(arrays["scale"] > 0):
        _fail(path, "field 'scale' must be > 0 everywhere")
    return {**body, **arrays}


def load_predictor(path, network=None):
    """Reads and checks a predictor file; with ``network``, also checks it belongs to it.

    Raises PredictorError naming the file for anything wrong (missing, not a predictor,
    truncated, corrupt, inconsistent, or trained on another model: both checksums are named).

    >>> p = load_predictor("pets.predictor", network=net)     # doctest: +SKIP
    """
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            _fail(path, f"{size:,} bytes is more than a predictor file may hold ({MAX_BYTES:,})")
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        _fail(path, "no such file")
    except IsADirectoryError:
        _fail(path, "is a directory, not a predictor file")
    except OSError as e:
        _fail(path, f"cannot read: {e.strerror or e}")
    body = _parse(path, data)
    predictor = Predictor(
        classes=body["classes"], weights=body["weights"], bias=body["bias"], mean=body["mean"],
        scale=body["scale"], model_sha256=body["model_sha256"], model_name=body["model_name"],
        layer=body["layer"], tta=body["tta"], penalty=body["penalty"], training=body["training"])
    predictor.path = path
    if network is not None:
        predictor.check_network(network)
    return predictor

