"""Write the demo's sample photos, taken from packages that ship real photos.

Usage: python tools/sample_photos.py OUT_DIR

Nothing is downloaded: scikit-image and scikit-learn carry these photos in
their wheels.  They are written as JPEGs, as a user's photos would be.
"""
import pathlib
import sys

from PIL import Image


def sample_photos():
    """Yield (name, HxWx3 uint8 array) for each available sample photo."""
    from skimage import data

    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        yield name, getattr(data, name)()
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        return
    bunch = load_sample_images()
    for filename, image in zip(bunch.filenames, bunch.images):
        yield pathlib.Path(filename).stem, image


def main(argv):
    out = pathlib.Path(argv[1] if len(argv) > 1 else "build/samples")
    out.mkdir(parents=True, exist_ok=True)
    for name, pixels in sample_photos():
        Image.fromarray(pixels).save(out / f"{name}.jpg", quality=92)
        print(out / f"{name}.jpg")


if __name__ == "__main__":
    main(sys.argv)
