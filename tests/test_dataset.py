"""Reading image folders: sizes, colour, recursion, and what gets skipped."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kgan.errors import DataError
from kgan.images.folders import load_image_folder
from tests.conftest import make_folder, shape_image


def test_folder_is_read_recursively_resized_and_kept_gray(tmp_path):
    folder = make_folder(tmp_path / "images", count=6, size=40)
    loaded = load_image_folder(folder, resolution=16)
    assert loaded.images.shape == (6, 16, 16, 1) and loaded.images.dtype == np.uint8
    assert sorted(loaded.files)[0] == "a/001.png"
    assert loaded.skipped == []


def test_colour_images_give_three_channels(tmp_path):
    folder = make_folder(tmp_path / "images", count=4, color=True)
    assert load_image_folder(folder, resolution=16).channels == 3


def test_one_colour_image_among_gray_ones_gives_three_channels(tmp_path):
    folder = make_folder(tmp_path / "images", count=4)
    shape_image(9, color=True).save(folder / "colour.png")
    assert load_image_folder(folder, resolution=16).channels == 3
    assert load_image_folder(folder, resolution=16, channels=1).channels == 1


def test_auto_resolution_follows_the_images(tmp_path):
    folder = make_folder(tmp_path / "images", count=3, size=28)
    assert load_image_folder(folder).resolution == 28


def _wide_image_folder(tmp_path):
    folder = tmp_path / "wide"
    folder.mkdir()
    array = np.zeros((10, 40), dtype=np.uint8)
    array[:, :5] = 255  # a bright band at the left edge, outside the central square
    Image.fromarray(array).save(folder / "wide.png")
    return folder


def test_non_square_images_are_centre_cropped(tmp_path):
    image = load_image_folder(_wide_image_folder(tmp_path), resolution=16).images[0, ..., 0]
    assert image.max() < 50


def test_padding_keeps_the_whole_image_on_the_background(tmp_path):
    image = load_image_folder(_wide_image_folder(tmp_path), resolution=16, fit="pad").images[0, ..., 0]
    assert image[0].min() == 255  # white padding above
    assert image[8, 0] > 200 and image[8, 8] < 50  # the band, then the dark middle


def test_unusable_files_are_skipped_and_counted(tmp_path):
    folder = make_folder(tmp_path / "images", count=3)
    (folder / "photo.jpg").write_text("not a picture")
    (folder / "empty.png").write_bytes(b"")
    loaded = load_image_folder(folder, resolution=16)
    assert len(loaded.files) == 3
    assert loaded.skip_counts() == {"not an image": 1, "empty": 1}
    assert "3 images used, 2 skipped" in loaded.summary()


def test_plainly_non_image_files_are_passed_over_silently(tmp_path):
    folder = make_folder(tmp_path / "images", count=3)
    (folder / "LICENSE").write_text("Permission is hereby granted, free of charge ...")
    (folder / "README.md").write_text("# Pictures\nTaken in 2019 — übersetzt.\n")
    (folder / "build.py").write_text("print('hello')\n")
    (folder / "fake.png").write_text("text under an image's name")  # claims to be an image
    (folder / "blob.dat").write_bytes(bytes(range(256)) * 4)  # binary, no image: reported
    loaded = load_image_folder(folder, resolution=16)
    assert loaded.skip_counts() == {"not an image": 2}
    assert sorted(item.path for item in loaded.skipped) == ["blob.dat", "fake.png"]


def test_the_embedded_data_set_reports_no_skipped_files():
    from kgan.images.embedded import embedded_data_dir

    loaded = load_image_folder(embedded_data_dir(), resolution=16)
    assert loaded.skipped == [] and loaded.summary().endswith(", 0 skipped")


def test_a_folder_of_only_text_files_is_still_an_error_that_says_so(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("no pictures")
    with pytest.raises(DataError, match="no usable images .*1 text file"):
        load_image_folder(folder)


def test_missing_and_imageless_folders_are_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no files"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("hello")
    with pytest.raises(DataError, match="no usable images"):
        load_image_folder(tmp_path / "text")


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    folder = make_folder(tmp_path / "images", count=3)
    before = load_image_folder(folder, resolution=16).fingerprint
    shape_image(7).save(folder / "extra.png")
    assert load_image_folder(folder, resolution=16).fingerprint != before


def test_embedded_data_set_is_there_with_ten_classes():
    from kgan.images.embedded import embedded_data_dir

    root = embedded_data_dir()
    assert root is not None and (root / "LICENSE").is_file()
    classes = sorted(p.name for p in Path(root).iterdir() if p.is_dir())
    assert len(classes) == 10 and "sneaker" in classes
    assert all(550 <= len(list((root / name).glob("*.png"))) <= 650 for name in classes)


def test_the_cache_is_read_back_the_second_time_and_matches(tmp_path):
    folder = make_folder(tmp_path / "images", count=6)
    cache = tmp_path / "cache"
    first = load_image_folder(folder, cache_dir=cache)
    second = load_image_folder(folder, cache_dir=cache)
    assert (first.cache, second.cache) == ("written", "read")
    assert isinstance(second.images, np.memmap)
    np.testing.assert_array_equal(np.asarray(first.images), np.asarray(second.images))
    assert second.files == first.files and second.resolution == first.resolution == 24
    uncached = load_image_folder(folder)
    np.testing.assert_array_equal(np.asarray(uncached.images), np.asarray(second.images))


def test_a_changed_file_or_option_invalidates_the_cache(tmp_path):
    folder = make_folder(tmp_path / "images", count=4)
    cache = tmp_path / "cache"
    load_image_folder(folder, resolution=16, cache_dir=cache)
    assert load_image_folder(folder, resolution=20, cache_dir=cache).cache == "written"
    assert load_image_folder(folder, resolution=16, background="black", cache_dir=cache).cache == "written"
    target = folder / "a" / "001.png"
    shape_image(40).save(target)
    os.utime(target, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    changed = load_image_folder(folder, resolution=16, cache_dir=cache)
    assert changed.cache == "written"
    assert load_image_folder(folder, resolution=16, cache_dir=cache).cache == "read"


def test_a_damaged_cache_entry_is_rebuilt(tmp_path):
    folder = make_folder(tmp_path / "images", count=4)
    cache = tmp_path / "cache"
    load_image_folder(folder, resolution=16, cache_dir=cache)
    (data,) = cache.glob("*.u8")
    good = data.read_bytes()
    data.write_bytes(good[:10])  # truncated
    rebuilt = load_image_folder(folder, resolution=16, cache_dir=cache)
    assert rebuilt.cache.startswith("rebuilt (the cached copy was damaged: its image file has 10 bytes")
    assert rebuilt.images.shape == (4, 16, 16, 1)
    assert data.read_bytes() == good and load_image_folder(folder, resolution=16, cache_dir=cache).cache == "read"
    data.write_bytes(bytes([good[0] ^ 1]) + good[1:])  # same size, one bit changed
    rebuilt = load_image_folder(folder, resolution=16, cache_dir=cache)
    assert "checksum does not match" in rebuilt.cache
    np.testing.assert_array_equal(np.asarray(rebuilt.images).ravel(), np.frombuffer(good, np.uint8))


def test_an_unwritable_cache_falls_back_to_memory(tmp_path):
    folder = make_folder(tmp_path / "images", count=4)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    loaded = load_image_folder(folder, resolution=16, cache_dir=blocker / "cache")
    assert loaded.cache.startswith("unavailable") and loaded.images.shape == (4, 16, 16, 1)


def test_worker_processes_decode_the_same_images_as_threads(tmp_path):
    import subprocess
    import sys

    folder = make_folder(tmp_path / "images", count=8, color=True)
    (folder / "bad.png").write_bytes(b"")
    script = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "import kgan.images.folders as dataset\n"
        "dataset.PROCESS_POOL_MIN_FILES = 1\n"
        "loaded = dataset.load_image_folder(Path(sys.argv[1]), resolution=16)\n"
        "assert 'tensorflow' not in sys.modules\n"
        "np.save(sys.argv[2], np.asarray(loaded.images))\n"
        "print(len(loaded.files), len(loaded.skipped))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(tmp_path / "images.npy")],
        capture_output=True, text=True, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["8", "1"]
    threads = load_image_folder(folder, resolution=16).images
    np.testing.assert_array_equal(np.load(tmp_path / "images.npy"), threads)
