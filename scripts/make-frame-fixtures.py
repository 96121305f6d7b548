#!/usr/bin/env python3
"""Makes the frame fixtures of tests/fixtures/frames once, with FFmpeg's
encoders through PyAV (`pip install av numpy`); CI needs neither: the
clips and their reference frames are committed.

  counter.mp4    320x180 H.264 (High, B-frames), 25 fps, 4 s, a keyframe
                 every 25 frames; frame N shows N in large digits on a
                 shade of its own; frames 0-12 are black (a fade-in), so a
                 poster at 0 s must look further.
  portrait.mp4   the same picture coded 320x180 with a 90° rotation in its
                 track header: it displays upright as 180x320.
  hevc.mp4       1 s of HEVC (hvc1): stored, never decoded.
  counter-<ms>.png, portrait-<ms>.png: the frame FFmpeg shows at <ms>,
                 as displayed (rotation applied), lossless.
  benches/fixtures/clip-720p-20s.mp4: 20 s of 1280x720 H.264 (moving
                 gradients and a block), what benches/pictures.rs measures.
"""
import struct
import sys
from pathlib import Path

import av
import numpy as np

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/frames")
W, H, FPS, FRAMES = 320, 180, 25, 100

# Seven segments: a, b, c, d, e, f, g.
DIGITS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def digit(img, x, y, d, w=40, h=80, t=10):
    seg = {
        "a": (x, y, w, t), "b": (x + w - t, y, t, h // 2), "c": (x + w - t, y + h // 2, t, h // 2),
        "d": (x, y + h - t, w, t), "e": (x, y + h // 2, t, h // 2), "f": (x, y, t, h // 2),
        "g": (x, y + h // 2 - t // 2, w, t),
    }
    for s in DIGITS[d]:
        sx, sy, sw, sh = seg[s]
        img[sy:sy + sh, sx:sx + sw] = 255


def picture(n):
    img = np.zeros((H, W, 3), dtype=np.uint8)
    if n < 13:
        return img  # the fade-in: black
    img[:, :] = ((n * 37) % 200 + 30, (n * 91) % 200 + 30, (n * 53) % 200 + 30)
    img[:, : W // 8] = (200, 30, 30)  # a red band on the left: rotation shows
    for i, ch in enumerate(f"{n:03d}"):
        digit(img, 90 + i * 50, 50, int(ch))
    return img


def encode(path, codec, frames, options):
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = options
        if codec == "libx265":
            stream.codec_tag = "hvc1"
        for n in range(frames):
            frame = av.VideoFrame.from_ndarray(picture(n), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def rotate_90(path):
    """Sets the video track header's matrix to a 90° clockwise rotation."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    version = data[at + 4]
    # tkhd: version/flags, times (v0: 4+4+4+4+4, v1: 8+8+4+4+8), reserved 8,
    # layer 2, group 2, volume 2, reserved 2, then the 9-value matrix.
    matrix = at + 8 + (20 if version == 0 else 32) + 16
    one, minus_one = 0x00010000, 0xFFFF0000
    struct.pack_into(">9I", data, matrix, 0, one, 0, minus_one, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


def reference(path, name, times_ms):
    """The frames FFmpeg shows at each time, as displayed, as PNG."""
    with av.open(str(path)) as clip:
        stream = clip.streams.video[0]
        frames = [(float(f.pts * f.time_base), f) for f in clip.decode(stream)]
    frames.sort(key=lambda pair: pair[0])
    first = frames[0][0]
    for ms in times_ms:
        t = first + ms / 1000
        shown = [f for pts, f in frames if pts <= t + 1e-9][-1]
        image = shown.to_image()
        if name == "portrait":
            image = image.rotate(-90, expand=True)  # PIL turns counter-clockwise
        image.save(OUT / f"{name}-{ms}.png")


OUT.mkdir(parents=True, exist_ok=True)
options = {"g": "25", "bf": "2", "profile": "high", "preset": "medium", "crf": "18", "x264-params": "scenecut=0"}
encode(OUT / "counter.mp4", "libx264", FRAMES, options)
encode(OUT / "portrait.mp4", "libx264", 50, options)
rotate_90(OUT / "portrait.mp4")
encode(OUT / "hevc.mp4", "libx265", 25, {"x265-params": "log-level=error"})
reference(OUT / "counter.mp4", "counter", [0, 520, 1000, 1040, 2999, 3960])
reference(OUT / "portrait.mp4", "portrait", [1000])


def bench_clip(path, seconds=20, width=1280, height=720):
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": "50", "bf": "2", "preset": "veryfast", "crf": "30", "x264-params": "scenecut=0"}
        yy, xx = np.mgrid[0:height, 0:width]
        for n in range(FPS * seconds):
            t = n / FPS
            planes = [np.sin(xx / 60 + t), np.sin(yy / 45 - t * 1.3), np.sin((xx + yy) / 80 + t * 0.7)]
            img = np.dstack([(127 + 120 * p).astype(np.uint8) for p in planes])
            top = (n * 7) % (height - 80)
            img[top:top + 80, 100:300] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


bench_clip(Path("benches/fixtures/clip-720p-20s.mp4"))
