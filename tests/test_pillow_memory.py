"""predict.pillow_memory: Pillow's pixel memory read in place through the Arrow C data
interface must hold exactly the bytes ``tobytes`` copies out, and anything unexpected must
give None (the caller then copies)."""

import numpy as np
import pytest
from PIL import Image

from predict.pillow_memory import pixel_view


def images(rng):
    rgb = Image.fromarray(rng.integers(0, 256, (61, 47, 3), dtype=np.uint8))
    grey = Image.fromarray(rng.integers(0, 256, (33, 1, 1), dtype=np.uint8)[:, :, 0])
    return [rgb, grey, rgb.transpose(Image.Transpose.ROTATE_90), rgb.crop((3, 5, 40, 44)),
            rgb.convert("L"), Image.new("RGB", (1, 1), (9, 8, 7))]


def test_the_view_holds_what_tobytes_copies():
    for img in images(np.random.default_rng(0)):
        view = pixel_view(img)
        if view is None:
            pytest.skip("this Pillow exports no Arrow arrays")
        raw = img.tobytes("raw", "RGBX") if img.mode == "RGB" else img.tobytes()
        assert view.pixel_bytes == (4 if img.mode == "RGB" else 1)
        assert bytes(view.pixels) == raw


def test_the_view_survives_the_image_reference():
    img = Image.fromarray(np.full((20, 30, 3), 77, np.uint8))
    view = pixel_view(img)
    if view is None:
        pytest.skip("this Pillow exports no Arrow arrays")
    del img   # the export holds the image
    assert set(bytes(view.pixels)[0::4]) == {77}


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "F", "1", "CMYK"])
def test_other_modes_give_none(mode):
    assert pixel_view(Image.new(mode, (4, 3))) is None


def test_a_failing_or_odd_export_gives_none(monkeypatch):
    img = Image.new("RGB", (4, 3))

    def refuse(*args, **kw):
        raise ValueError("image is in multiple blocks")

    monkeypatch.setattr(Image.Image, "__arrow_c_array__", refuse, raising=False)
    assert pixel_view(img) is None
    grey = Image.new("L", (4, 3))
    monkeypatch.setattr(Image.Image, "__arrow_c_array__",
                        lambda self, *a: Image.new("RGB", (4, 3)).__arrow_c_array__(),
                        raising=False)
    assert pixel_view(grey) is None   # an RGB layout where L was expected
    monkeypatch.setattr(Image.Image, "__arrow_c_array__", lambda self, *a: (1, 2), raising=False)
    assert pixel_view(img) is None    # not capsules
