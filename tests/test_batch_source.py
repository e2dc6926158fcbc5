"""predict.batch.source: folders (with symlink loops), path lists, globs, streaming."""
import itertools
import os

import pytest

from predict.batch.source import SourceError, check_sources, iter_photos


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb"):
        pass
    return os.path.abspath(path)


def test_folder_walk_keeps_photos_in_name_order_and_survives_symlink_loops(tmp_path):
    root = tmp_path / "photos"
    want = [touch(root / "a.JPG"), touch(root / "z.tiff"), touch(root / "b" / "c.png"),
            touch(root / "b" / "d" / "e.webp")]
    touch(root / "notes.txt")
    touch(root / "b" / ".DS_Store")
    os.symlink(root, root / "b" / "d" / "loop")        # a loop back to the top
    os.symlink(root / "b", root / "again")              # a second way into b
    os.symlink(tmp_path / "nowhere", root / "broken")   # a dangling link
    assert list(iter_photos([str(root)])) == want
    # a link to a folder outside the tree is walked, once
    outside = touch(tmp_path / "elsewhere" / "f.jpg")
    os.symlink(tmp_path / "elsewhere", root / "b" / "ext")
    os.symlink(tmp_path / "elsewhere", root / "ext2")
    assert list(iter_photos([str(root)])) == want + [str(root / "ext2" / "f.jpg")]
    assert os.path.samefile(outside, root / "ext2" / "f.jpg")


def test_a_path_list_is_read_lazily_relative_to_its_folder(tmp_path):
    listing = tmp_path / "lists" / "paths.txt"
    listing.parent.mkdir()
    listing.write_text("# my photos\n/abs/one.jpg\n\nrel/two.jpg\n  \nno-extension\n")
    assert list(iter_photos([str(listing)])) == [
        "/abs/one.jpg", str(tmp_path / "lists" / "rel" / "two.jpg"),
        str(tmp_path / "lists" / "no-extension")]


def test_a_long_list_streams_without_being_read_whole(tmp_path):
    listing = tmp_path / "big.txt"
    with open(listing, "w") as f:
        for i in range(100_000):
            f.write(f"/x/{i}.jpg\n")
    first = list(itertools.islice(iter_photos([str(listing)]), 3))
    assert first == ["/x/0.jpg", "/x/1.jpg", "/x/2.jpg"]


def test_globs_photos_and_several_sources(tmp_path):
    a = touch(tmp_path / "a" / "1.jpg")
    b = touch(tmp_path / "a" / "deep" / "2.jpg")
    touch(tmp_path / "a" / "deep" / "3.png")
    single = touch(tmp_path / "single.png")
    got = list(iter_photos([str(tmp_path / "a" / "**" / "*.jpg"), single]))
    assert sorted(got[:2]) == sorted([a, b]) and got[2] == single


def test_bad_sources_fail_before_any_work(tmp_path):
    with pytest.raises(SourceError, match="no such folder, file or pattern"):
        check_sources([str(tmp_path), str(tmp_path / "missing")])
    with pytest.raises(SourceError, match="no SOURCE"):
        check_sources([])
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    with pytest.raises(SourceError, match="broken link"):
        check_sources([str(tmp_path / "dangling")])
