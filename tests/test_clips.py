"""Training on video: MP4 and animated GIF frames, strides, caps, truncated clips, stills mixed in."""

import json

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from kgan.images.clips import ClipPolicy, ClipReader, clip_kind
from kgan.images.folders import load_image_folder
from tests.conftest import TINY_TRAIN_ARGS, make_folder


def _frames(count, width=64, height=48):
    for index in range(count):
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[:, (index * 5) % width : (index * 5) % width + 8] = 255
        frame[..., 2] = (40 + index * 4) % 256
        yield frame


def make_mp4(path, count=30, fps=10, faststart=False, width=64, height=48):
    extra = {"output_params": ["-movflags", "+faststart"]} if faststart else {}
    writer = imageio.get_writer(path, fps=fps, macro_block_size=16, ffmpeg_log_level="error", **extra)
    for frame in _frames(count, width, height):
        writer.append_data(frame)
    writer.close()
    return path


def make_gif(path, count=12, duration_ms=100):
    pictures = [Image.fromarray(frame) for frame in _frames(count)]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0)
    return path


def test_clips_are_recognised_by_content(tmp_path):
    mp4 = make_mp4(tmp_path / "clip.mp4")
    renamed = tmp_path / "clip.bin"
    renamed.write_bytes(mp4.read_bytes())
    gif = make_gif(tmp_path / "anim.gif")
    still = tmp_path / "still.gif"
    Image.new("L", (8, 8)).save(still)
    assert [clip_kind(p) for p in (mp4, renamed, gif, still)] == ["video", "video", "animation", None]


@pytest.mark.parametrize(
    "policy, expected",
    [
        (ClipPolicy(), 6),  # auto: 2 frames per second of a 10 fps clip -> every 5th frame
        (ClipPolicy(stride=1), 30),
        (ClipPolicy(stride=4), 8),
        (ClipPolicy(stride=1, max_frames=4), 4),  # capped: spread over the clip, every 8th frame
    ],
)
def test_video_frame_counts_with_and_without_stride(tmp_path, policy, expected):
    clip = make_mp4(tmp_path / "clip.mp4")
    reader = ClipReader(clip, "video", policy, max_side=32)
    frames = list(reader.frames())
    assert len(frames) == reader.kept == expected and reader.reason is None
    assert min(frames[0].size) <= 32  # ffmpeg shrank the frames before they reached Python


@pytest.mark.parametrize("policy, expected", [(ClipPolicy(), 3), (ClipPolicy(stride=1), 12), (ClipPolicy(stride=2), 6)])
def test_animated_gif_frame_counts(tmp_path, policy, expected):
    reader = ClipReader(make_gif(tmp_path / "anim.gif"), "animation", policy, max_side=32)
    assert len(list(reader.frames())) == expected


def test_a_clip_cut_short_keeps_what_decodes_and_is_reported(tmp_path):
    whole = make_mp4(tmp_path / "whole.mp4", count=60, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    reader = ClipReader(cut, "video", ClipPolicy(stride=1), max_side=32)
    frames = list(reader.frames())
    assert 0 < len(frames) < 60 and reader.reason == "truncated"


def test_a_truncated_mp4_without_its_index_is_skipped_as_truncated(tmp_path):
    whole = make_mp4(tmp_path / "whole.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])  # the index (moov) is at the end
    reader = ClipReader(cut, "video", ClipPolicy(), max_side=32)
    assert list(reader.frames()) == [] and reader.reason == "truncated"


def test_a_folder_mixing_stills_and_clips(tmp_path):
    folder = make_folder(tmp_path / "mixed", count=4, color=True)
    make_mp4(folder / "a" / "clip.mp4")
    make_gif(folder / "anim.gif")
    whole = make_mp4(tmp_path / "whole.mp4")
    (folder / "broken.mp4").write_bytes(whole.read_bytes()[:300])
    loaded = load_image_folder(folder, resolution=16, cache_dir=tmp_path / "cache")
    assert loaded.videos == {"a/clip.mp4": 6, "anim.gif": 3}
    assert len(loaded.files) == 4 + 6 + 3 and loaded.images.shape == (13, 16, 16, 3)
    assert "a/clip.mp4#5" in loaded.files
    assert {item.path: item.reason for item in loaded.skipped} == {"broken.mp4": "truncated"}
    assert "(9 frames from 2 clips)" in loaded.summary()
    again = load_image_folder(folder, resolution=16, cache_dir=tmp_path / "cache")
    assert again.cache == "read" and again.videos == loaded.videos  # the second run does not decode again
    strided = load_image_folder(folder, resolution=16, cache_dir=tmp_path / "cache", clips=ClipPolicy(stride=10))
    assert strided.cache == "written" and strided.videos["a/clip.mp4"] == 3


def test_auto_resolution_reads_a_videos_size(tmp_path):
    clip = make_mp4(tmp_path / "clip.mp4", width=96, height=64)
    assert load_image_folder(clip).resolution == 64


def test_train_on_one_clip_then_sample_and_make_a_video(tmp_path, run_cli):
    clip = make_mp4(tmp_path / "clip.mp4")
    args = [a for a in TINY_TRAIN_ARGS if a != "--quiet"]
    code, out, err = run_cli("train", clip, "--steps", 2, "--runs-dir", tmp_path / "runs", "--video-stride", 2, *args)
    assert code == 0, err
    assert "15 images used (15 frames from 1 clip)" in out
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name == "clip-1"
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["videos"] == {"clip.mp4": 15} and config["options"]["video_stride"] == 2
    assert run_cli("sample", "-n", 3, "--run", run, "--out", tmp_path / "s")[0] == 0
    assert run_cli("video", "--frames", 4, "--size", 32, "--run", run, "--out", tmp_path / "v.gif")[0] == 0


def test_a_folder_of_only_broken_clips_is_one_error(tmp_path, run_cli):
    folder = tmp_path / "clips"
    folder.mkdir()
    whole = make_mp4(tmp_path / "whole.mp4")
    (folder / "cut.mp4").write_bytes(whole.read_bytes()[:500])
    code, _, err = run_cli("train", folder, "--runs-dir", tmp_path / "runs", *TINY_TRAIN_ARGS)
    assert code == 2 and "no usable images" in err and "1 truncated" in err
