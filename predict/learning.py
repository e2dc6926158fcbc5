"""Teach a network new classes from a few examples each, on the device.

A network trained on ImageNet computes, just before its classifier, an embedding that separates
far more than its 1000 classes.  ``learn`` runs the photos of each new class through the network
once (``Network.features``), then fits a multinomial logistic regression on those features
(``predict.logreg``: standardized features, an L2 penalty chosen by k-fold cross-validation)
and returns a ``Predictor`` to save and apply:

    >>> import predict
    >>> with predict.load("models/mobilenet_v2.pnet") as net:        # doctest: +SKIP
    ...     pets = predict.learn(net, {"cat": "photos/cats", "dog": "photos/dogs"})
    ...     print(pets.training["cv_accuracy"])
    ...     pets.save("pets.predictor")
    0.975

Each class is a folder (searched recursively for photos) or a list of photos (anything
``Network.features`` takes).  ``fit_predictor`` does the fitting alone, from features computed
elsewhere (the batch runner, a test that extracted them once).
"""

import datetime
import os
import time

import numpy as np

from predict import logreg
from predict.errors import ImageError, InputError
from predict.predictor import Predictor

__all__ = ["PHOTO_SUFFIXES", "extract_features", "fit_predictor", "learn", "photos_in"]

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".ppm",
                  ".pgm", ".avif")


def photos_in(folder):
    """The photo files under ``folder`` (recursively, by suffix, hidden entries skipped), sorted.

    >>> photos_in("photos/cats")[:2]                           # doctest: +SKIP
    ['photos/cats/001.jpg', 'photos/cats/002.jpg']
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: not a folder of photos")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files)
                  if not f.startswith(".") and f.lower().endswith(PHOTO_SUFFIXES)]
    return found


def _examples(classes):
    """{name: list of photos} from {name: folder or list of photos}, checked."""
    if not hasattr(classes, "items"):
        raise InputError("classes must be a mapping {class name: folder or list of photos}")
    out = {}
    for name, source in classes.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"class names must be non-empty strings, got {name!r}")
        if isinstance(source, (str, os.PathLike)):
            photos = photos_in(source)
            where = f" in {os.fspath(source)}"
        else:  # a list of photos, or an (N, H, W[, C]) array of them
            photos, where = list(source), ""
        if not photos:
            raise InputError(f"class {name!r}: no photos{where}")
        out[name] = photos
    if len(out) < 2:
        raise InputError(f"learning needs at least 2 classes, got {len(out)}: {list(out)}")
    return out


def _describe(photo):
    if isinstance(photo, (str, os.PathLike)):
        return os.fspath(photo)
    return f"<{type(photo).__name__}>"


def extract_features(net, photos, *, layer=None, tta=False, progress=None):
    """Features of many photos, skipping the ones that cannot be read.

    Returns ``(features (N, D) float32 for the readable photos, kept (their indices),
    skipped [(photo, message)])``.  ``progress(done, total)`` is called after each batch.

    >>> x, kept, skipped = extract_features(net, ["a.jpg", "broken.jpg"])  # doctest: +SKIP
    >>> x.shape, kept, skipped                                 # doctest: +SKIP
    ((1, 1280), [0], [('broken.jpg', 'broken.jpg: cannot decode the image: ...')])
    """
    tensor, _ = net.feature_tensor(layer)
    parts, kept, skipped = [], [], []
    step = net.max_batch
    for start in range(0, len(photos), step):
        chunk = photos[start:start + step]
        try:
            parts.append(net.features(chunk, layer=layer, tta=tta))
            kept += range(start, start + len(chunk))
        except ImageError:  # find the culprit(s); the rest of the chunk still counts
            for i, photo in enumerate(chunk, start):
                try:
                    parts.append(net.features([photo], layer=layer, tta=tta))
                    kept.append(i)
                except ImageError as e:
                    skipped.append((_describe(photo), str(e)))
        if progress is not None:
            progress(min(start + step, len(photos)), len(photos))
    d = int(np.prod(net._shape(tensor)))
    features = np.concatenate(parts) if parts else np.zeros((0, d), np.float32)
    return features, kept, skipped


def fit_predictor(features, net, *, layer=None, tta=False, folds=5,
                  penalties=logreg.DEFAULT_PENALTIES, seed=0):
    """Fits a Predictor on features already computed: ``{class name: (n, D) array}``.

    ``net`` is the Network the features came from (its sha256 and the layer are recorded);
    ``layer`` and ``tta`` must be how the features were made.  The penalty is chosen by
    stratified ``folds``-fold cross-validation (fewer folds if a class has fewer examples;
    every class needs 2 or more), then the head is fitted on every example.
    ``training["cv_accuracy"]`` is the held-out accuracy at that penalty: each example is
    predicted by a model fitted without it (picking the best of the penalty grid makes it
    slightly optimistic).

    >>> x = {"cat": net.features(cats), "dog": net.features(dogs)}   # doctest: +SKIP
    >>> fit_predictor(x, net).training["cv_accuracy"]          # doctest: +SKIP
    0.975
    """
    _, layer_name = net.feature_tensor(layer)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise InputError(f"folds must be an integer >= 2, got {folds!r}")
    names = list(features)
    if len(names) < 2:
        raise InputError(f"learning needs at least 2 classes, got {len(names)}: {names}")
    arrays = [np.asarray(features[n], np.float64) for n in names]
    dims = {a.shape[1] if a.ndim == 2 else None for a in arrays}
    if len(dims) != 1 or None in dims:
        raise InputError(f"features must be (n, D) arrays of one D, got "
                         f"{[a.shape for a in arrays]}")
    counts = [len(a) for a in arrays]
    if min(counts) < 2:
        few = [n for n, c in zip(names, counts) if c < 2]
        raise InputError(f"every class needs at least 2 examples; too few: {few}")
    x = np.concatenate(arrays)
    if not np.all(np.isfinite(x)):
        raise InputError("features hold non-finite values")
    y = np.repeat(np.arange(len(names)), counts)
    started = time.perf_counter()
    selection = logreg.choose_penalty(x, y, len(names), penalties=penalties, folds=folds,
                                      seed=seed)
    mean, scale = logreg.standardization(x)
    fit = logreg.fit_softmax((x - mean) / scale, y, len(names), selection.lam)
    confusion = np.zeros((len(names), len(names)), np.int64)
    np.add.at(confusion, (y, selection.predictions), 1)
    training = {
        "examples": dict(zip(names, counts)),
        "folds": selection.folds,
        "cv_accuracy": selection.accuracy,
        "cv_log_loss": selection.log_loss,
        "cv_confusion": confusion.tolist(),  # rows: true class, columns: predicted
        "penalties": selection.penalties,
        "cv_accuracies": selection.accuracies,
        "train_accuracy": logreg.accuracy(fit.weights, fit.bias, (x - mean) / scale, y),
        "converged": bool(fit.converged),
        "iterations": fit.iterations,
        "fit_seconds": round(time.perf_counter() - started, 4),
        "seed": seed,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return Predictor(classes=names, weights=fit.weights, bias=fit.bias, mean=mean, scale=scale,
                     model_sha256=net.sha256, model_name=os.path.basename(net.path),
                     layer=layer_name, tta=tta, penalty=selection.lam, training=training)


def learn(net, classes, *, layer=None, tta=False, folds=5, penalties=logreg.DEFAULT_PENALTIES,
          seed=0, progress=None):
    """Learns new classes from example photos; returns a Predictor (``save`` it to keep it).

    ``net`` is a Network (or a .pnet path, loaded for the occasion).  ``classes`` maps each
    class name to a folder of photos or a list of photos.  ``layer`` picks the features tensor
    (default: the model's penultimate embedding); ``tta`` averages each photo's features with
    its mirror image's (twice the work; the predictor then does the same when classifying).
    Photos that cannot be read are skipped and listed in ``predictor.skipped``;
    ``progress(done, total)`` follows the feature extraction.  ``training`` on the result holds
    the cross-validated accuracy, the confusion matrix, the chosen penalty and the timings.

    >>> pets = learn("models/mobilenet_v2.pnet", {"cat": "cats/", "dog": "dogs/"})  # doctest: +SKIP
    >>> pets.classes, pets.training["cv_accuracy"]             # doctest: +SKIP
    (['cat', 'dog'], 0.975)
    """
    if isinstance(net, (str, os.PathLike)):
        from predict.network import load

        with load(net) as loaded:
            return learn(loaded, classes, layer=layer, tta=tta, folds=folds,
                         penalties=penalties, seed=seed, progress=progress)
    examples = _examples(classes)
    net.feature_tensor(layer)  # an unknown layer fails before any photo is decoded
    everything = [p for photos in examples.values() for p in photos]
    owner = np.repeat(np.arange(len(examples)), [len(p) for p in examples.values()])
    started = time.perf_counter()
    x, kept, skipped = extract_features(net, everything, layer=layer, tta=tta, progress=progress)
    seconds = time.perf_counter() - started
    owner = owner[kept]
    features = {name: x[owner == i] for i, name in enumerate(examples)}
    predictor = fit_predictor(features, net, layer=layer, tta=tta, folds=folds,
                              penalties=penalties, seed=seed)
    predictor.training["features_seconds"] = round(seconds, 3)
    predictor.training["skipped"] = len(skipped)
    predictor.skipped = skipped
    return predictor
