"""Video clips (MP4, MOV, WebM, MKV, AVI) and animated GIF/WebP files as sources of training frames.

"Videos are just collections of images": each clip gives frames that enter the
data set like still images. Frames stream from the decoder (ffmpeg through
imageio-ffmpeg, which also thins and shrinks them before they reach Python;
Pillow for animated GIF and WebP), so a long 1080p clip never has its frames in
memory at once.

How many frames a clip gives:

* ``stride`` None (the default) keeps two frames per second of video: frames
  a few hundredths of a second apart are near copies, so this keeps the
  variety and drops the repetition. A number keeps every stride-th frame.
* ``max_frames`` (default 1000) caps each clip, so a long clip does not swamp a
  folder of stills: when a clip would give more, the stride grows to spread
  the kept frames evenly over the whole clip.

A clip cut short keeps the frames that decode and is reported as truncated.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

FRAMES_PER_SECOND_KEPT = 2.0
DEFAULT_MAX_FRAMES = 1000
UNKNOWN_FPS = 10.0
# A clip that yields fewer frames than this share of what its header promises was cut short.
COMPLETE_SHARE = 0.9

logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)


# Names video files go by; clips are recognised by content, this only says which
# names claim to be video (so that a damaged one is reported, not passed over).
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".gif", ".webp"}


@dataclass(frozen=True)
class ClipPolicy:
    """Which frames of a clip to keep."""

    stride: int | None = None
    max_frames: int = DEFAULT_MAX_FRAMES

    def stride_for(self, fps: float, total_frames: float) -> int:
        """The stride to use for a clip of this frame rate and (estimated) length."""
        stride = self.stride or max(1, round((fps or UNKNOWN_FPS) / FRAMES_PER_SECOND_KEPT))
        if total_frames > 0:
            stride = max(stride, math.ceil(total_frames / self.max_frames))
        return stride


def clip_kind(path: Path) -> str | None:
    """'video' for a video container, 'animation' for an animated GIF or WebP, None otherwise."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError:
        return None
    if head[4:8] == b"ftyp" or head[:4] == b"\x1a\x45\xdf\xa3" or (head[:4] == b"RIFF" and head[8:12] == b"AVI "):
        return "video"
    if head[:4] == b"GIF8" or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        try:
            with Image.open(path) as image:
                return "animation" if getattr(image, "is_animated", False) else None
        except (OSError, UnidentifiedImageError, ValueError):
            return None
    return None


def _ffmpeg_message(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[-2:]).lower()


def video_size(path: Path) -> tuple[int, int] | None:
    """A video's (width, height) from its header, or None when it cannot be read."""
    import imageio_ffmpeg

    try:
        frames = imageio_ffmpeg.read_frames(str(path))
        meta = next(frames)
        frames.close()
        return tuple(meta["source_size"])
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError):
        return None


class ClipReader:
    """Reads one clip's frames, shrunk so their shorter side is at most ``max_side``.

    After ``frames()`` is exhausted, ``kept`` counts the frames given and
    ``reason`` is None, "truncated" (cut short; the frames that decoded were
    given) or "unreadable".
    """

    def __init__(self, path: Path, kind: str, policy: ClipPolicy, max_side: int):
        self.path, self.kind, self.policy, self.max_side = path, kind, policy, max_side
        self.kept = 0
        self.reason: str | None = None

    def frames(self) -> Iterator[Image.Image]:
        if self.kind == "animation":
            yield from self._animation_frames()
        else:
            yield from self._video_frames()

    def _video_frames(self) -> Iterator[Image.Image]:
        import imageio_ffmpeg

        probe = video_size(self.path)
        if probe is None:
            self.reason = self._reason_from_probe()
            return
        frames = imageio_ffmpeg.read_frames(str(self.path))
        meta = next(frames)
        frames.close()
        fps, duration = float(meta.get("fps") or 0), float(meta.get("duration") or 0)
        expected = fps * duration
        stride = self.policy.stride_for(fps, expected)
        side = self.max_side
        # ffmpeg keeps every stride-th frame and shrinks it (never enlarging) before piping it to us.
        shrink = f"scale='if(gt(iw,ih),-2,min(iw,{side}))':'if(gt(iw,ih),min(ih,{side}),-2)'"
        thin = f"select=not(mod(n\\,{stride})),{shrink}"
        try:
            frames = imageio_ffmpeg.read_frames(str(self.path), output_params=["-vf", thin, "-fps_mode", "passthrough"])
            meta = next(frames)
            width, height = meta["size"]
            for raw in frames:
                if self.kept >= self.policy.max_frames:
                    break
                self.kept += 1
                yield Image.fromarray(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3))
        except (OSError, RuntimeError, ValueError) as error:
            self.reason = "truncated" if self.kept else self._classify(error)
            return
        finally:
            frames.close()
        promised = min(self.policy.max_frames, math.ceil(expected / stride)) if expected > 0 else 0
        if promised and self.kept < COMPLETE_SHARE * promised - 1:
            self.reason = "truncated"
        if self.kept == 0 and self.reason is None:
            self.reason = "unreadable"

    def _reason_from_probe(self) -> str:
        import imageio_ffmpeg

        try:
            next(imageio_ffmpeg.read_frames(str(self.path)))
        except (OSError, RuntimeError, StopIteration, ValueError) as error:
            return self._classify(error)
        return "unreadable"

    @staticmethod
    def _classify(error: Exception) -> str:
        message = _ffmpeg_message(error)
        if any(word in message for word in ("moov atom not found", "truncat", "end of file", "invalid data")):
            return "truncated"
        return "unreadable"

    def _animation_frames(self) -> Iterator[Image.Image]:
        try:
            with Image.open(self.path) as image:
                count = getattr(image, "n_frames", 1)
                duration_ms = float(image.info.get("duration") or 0)
                fps = 1000.0 / duration_ms if duration_ms > 0 else UNKNOWN_FPS
                stride = self.policy.stride_for(fps, count)
                for index in range(0, count, stride):
                    if self.kept >= self.policy.max_frames:
                        break
                    image.seek(index)
                    frame = image.copy()
                    self.kept += 1
                    yield frame
        except (OSError, EOFError, ValueError, UnidentifiedImageError):
            self.reason = "truncated" if self.kept else "unreadable"
