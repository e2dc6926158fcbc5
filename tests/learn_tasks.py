"""Few-shot learning tasks made of real photos that ship with scikit-image and scikit-learn.

Shared by tests/test_learn_photos.py and bench/bench_learn.py.  Each task returns ``(train,
test)``: two ``{class name: [photo, ...]}`` maps, photos as numpy arrays, deterministic.  How
hard each one is, honestly:

- ``faces``: scikit-image's ``lfw_subset()``, 100 faces (Labeled Faces in the Wild, 25x25 grey
  crops) and 100 non-faces (25x25 patches of other photos).  Split half and half, stratified.
  Real photos no one here made; a face is a very distinctive pattern, so it is an easy task for
  ImageNet features.
- ``textures``: brick, grass and gravel (scikit-image, 512x512 grey), each class a set of random
  square crops (20-40 % of the side, some mirrored).  Training crops come from the top half of
  each texture, test crops from the bottom half: no test pixel was ever seen in training.
- ``digits``: scikit-learn's ``load_digits()``, real 8x8 handwritten digits 0-9 (1797 writers'
  samples), the first ``per_class`` of each digit to train, the next ``per_class`` to test.
  Hard for features of natural photos: an 8x8 digit blown up is a few blurry blobs.
- ``scenes``: six unrelated photos (chelsea the cat, coffee, astronaut, rocket, and
  scikit-learn's china and flower), each class the crops of one photo: training crops from its
  left half, test crops from its right half.  It asks "which photo is this part of", from
  a part never seen: easy when both halves look alike (the flower, the coffee cup), hard when
  they do not (the astronaut's left half is the flag and the shuttle).
"""
import numpy as np

__all__ = ["TASKS", "digits", "faces", "scenes", "textures"]


def _crops(image, count, rng, rows, cols, sizes):
    """``count`` random square crops of ``image`` inside the fractional ``rows`` x ``cols``
    window, sides a fraction ``sizes`` of the shorter image side, half of them mirrored."""
    h, w = image.shape[:2]
    top, bottom = int(rows[0] * h), int(rows[1] * h)
    left, right = int(cols[0] * w), int(cols[1] * w)
    out = []
    for _ in range(count):
        side = min(int(rng.uniform(*sizes) * min(h, w)), bottom - top, right - left)
        t = int(rng.integers(top, bottom - side + 1))
        c = int(rng.integers(left, right - side + 1))
        crop = image[t:t + side, c:c + side]
        out.append(np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop))
    return out


def faces(seed=1):
    """lfw_subset: 50 + 50 photos to train, the other 50 + 50 to test."""
    from skimage import data

    photos = data.lfw_subset()  # (200, 25, 25) float in [0, 1]: 100 faces, then 100 others
    labels = np.repeat([0, 1], 100)
    half = np.zeros(200, bool)
    rng = np.random.default_rng(seed)
    for c in (0, 1):
        members = np.flatnonzero(labels == c)
        half[rng.permutation(members)[:50]] = True
    split = lambda keep: {name: list(photos[(labels == c) & keep])  # noqa: E731
                          for c, name in enumerate(("face", "not face"))}
    return split(half), split(~half)


def textures(per_class=12, seed=2):
    from skimage import data

    rng = np.random.default_rng(seed)
    images = {name: getattr(data, name)() for name in ("brick", "grass", "gravel")}
    train = {n: _crops(im, per_class, rng, (0, 0.5), (0, 1), (0.2, 0.4))
             for n, im in images.items()}
    test = {n: _crops(im, per_class, rng, (0.5, 1), (0, 1), (0.2, 0.4))
            for n, im in images.items()}
    return train, test


def digits(per_class=10, seed=None):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.rint(bunch.images * (255 / 16)).astype(np.uint8)  # 0..16 ink -> grey levels
    train, test = {}, {}
    for digit in range(10):
        members = np.flatnonzero(bunch.target == digit)
        train[str(digit)] = list(pixels[members[:per_class]])
        test[str(digit)] = list(pixels[members[per_class:2 * per_class]])
    return train, test


def scenes(per_class=8, seed=3):
    from skimage import data
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    images = {name: getattr(data, name)() for name in ("chelsea", "coffee", "astronaut", "rocket")}
    sample = load_sample_images()
    images.update(china=sample.images[0], flower=sample.images[1])
    train = {n: _crops(im, per_class, rng, (0, 1), (0, 0.5), (0.4, 0.5))
             for n, im in images.items()}
    test = {n: _crops(im, per_class, rng, (0, 1), (0.5, 1), (0.4, 0.5))
            for n, im in images.items()}
    return train, test


TASKS = {"faces": faces, "textures": textures, "digits": digits, "scenes": scenes}
