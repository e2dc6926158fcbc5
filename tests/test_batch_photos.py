"""predict tag with the real MobileNetV2 on real photos stored every awkward way:
CMYK, grayscale, palette, 16-bit, alpha and EXIF-rotated files are all tagged
as what they show, with the same tags `predict classify` gives them."""
import json

import numpy as np
import pytest
from PIL import Image

from batch_helpers import rows
from predict.batch import tag
from predict.cli import main

CATS = range(281, 286)   # ImageNet's domestic cat classes
ESPRESSO = 967


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    from converters.default_model import build

    path = tmp_path_factory.mktemp("model") / "mobilenet_v2.pnet"
    build(str(path))
    return str(path)


def write_variants(folder, name, rgb):
    """{kind: path} of one real photo stored in every mode predict must handle."""
    img = Image.fromarray(rgb)
    out = {}

    def save(kind, image, ext, **kw):
        path = folder / f"{name}_{kind}.{ext}"
        image.save(path, **kw)
        out[kind] = str(path)

    save("rgb", img, "jpg", quality=92)
    save("cmyk", img.convert("CMYK"), "jpg", quality=92)
    save("gray", img.convert("L"), "jpg", quality=92)
    save("palette", img.convert("P", palette=Image.Palette.ADAPTIVE, colors=256), "png")
    gray16 = Image.fromarray(np.asarray(img.convert("L")).astype(np.uint16) * 257)
    assert gray16.mode == "I;16"
    save("gray16", gray16, "png")
    rgba = np.asarray(img.convert("RGBA")).copy()
    rgba[:24, :, 3] = 0          # a transparent band, composited over white
    rgba[24:48, :, 3] = 128
    save("alpha", Image.fromarray(rgba), "png")
    # stored on its side, with EXIF orientation 6 ("rotate 90 clockwise to view")
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = img.transpose(Image.Transpose.ROTATE_90)
    save("exif", sideways, "jpg", quality=92, exif=exif.tobytes())
    if name == "coffee":
        save("sideways", sideways, "jpg", quality=92)   # the same pixels, no EXIF
    return out


def test_every_photo_mode_is_tagged_as_what_it_shows(mobilenet, tmp_path, capsys):
    from skimage import data

    files = {}
    for name in ("chelsea", "coffee"):
        files[name] = write_variants(tmp_path, name, getattr(data, name)())
    db = str(tmp_path / "tags.sqlite")
    summary = tag([str(tmp_path)], mobilenet, db, top=5, workers=2, shard_size=4, batch=4,
                  progress=False)
    assert summary["failed"] == 0
    got = rows(db)
    for name, want in (("chelsea", CATS), ("coffee", [ESPRESSO])):
        for kind, path in files[name].items():
            assert got[path]["classes"][0] in want, (name, kind, got[path]["labels"])
        score = {kind: got[path]["scores"][0] for kind, path in files[name].items()}
        # EXIF orientation is applied: the rotated file scores like the upright one
        assert abs(score["exif"] - score["rgb"]) < 0.05, score
    coffee = {k: got[p]["scores"][0] for k, p in files["coffee"].items()}
    assert abs(coffee["exif"] - coffee["rgb"]) < abs(coffee["sideways"] - coffee["rgb"])
    # and the same as `predict classify`, photo by photo (a few: the reference
    # kernels take a while per photo)
    paths = [files["chelsea"][kind] for kind in ("cmyk", "gray16", "exif")]
    main(["classify", "--json", "--top", "5", "--model", mobilenet, *paths])
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line)
        row = got[record["path"]]
        assert row["classes"] == [p["index"] for p in record["predictions"]]
        np.testing.assert_allclose(row["scores"], [p["probability"] for p in record["predictions"]],
                                   atol=1e-5)
        assert row["labels"] == [p["label"] for p in record["predictions"]]
