"""The plain Python pipeline bench/extract.ts compares headstart's extraction with.

Pillow decodes, torchvision's ImageNet evaluation transform is done by hand (EXIF orientation, RGB,
shorter side to 256 with bilinear antialiasing and the long side truncated, centre crop 224 with
round-half-even offsets, /255, mean/std, CHW: the numerics of src/image/preprocess.ts), onnxruntime
runs the same backbone file in batches of 32 with its default threads, and each embedding is
written to its own file, as headstart's cache does. One process, nothing overlapped: what someone
would write first.

    python3 bench/extract_baseline.py <model.onnx> <folder>/<label>/<file> [--limit N] [--out DIR]

Prints one JSON line: images, seconds from the interpreter's start (imports and session included),
and seconds per stage.
"""
import io
import json
import os
import sys
import time

START = time.perf_counter()

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)
RESIZE, CROP, BATCH = 256, 224, 32


def files_of(folder, limit):
    out = []
    for label in sorted(os.listdir(folder)):
        d = os.path.join(folder, label)
        if os.path.isdir(d):
            out += [os.path.join(d, f) for f in sorted(os.listdir(d))]
    return out[:limit]


def main(argv):
    model, folder = argv[0], argv[1]
    limit = int(argv[argv.index("--limit") + 1]) if "--limit" in argv else None
    out_dir = argv[argv.index("--out") + 1] if "--out" in argv else None
    stages = {"read": 0.0, "decode": 0.0, "resize": 0.0, "normalise": 0.0, "backbone": 0.0, "writes": 0.0}

    t = time.perf_counter()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    stages["session"] = time.perf_counter() - t

    paths = files_of(folder, limit)
    done = 0
    for start in range(0, len(paths), BATCH):
        rows = []
        for p in paths[start:start + BATCH]:
            t0 = time.perf_counter()
            with open(p, "rb") as fh:
                data = fh.read()
            t1 = time.perf_counter()

            img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
            img = img.convert("RGB")
            img.load()
            t2 = time.perf_counter()
            w, h = img.size
            if w <= h:
                nw, nh = RESIZE, int(RESIZE * h / w)
            else:
                nw, nh = int(RESIZE * w / h), RESIZE
            if (nw, nh) != (w, h):
                img = img.resize((nw, nh), Image.BILINEAR)
            left, top = round((nw - CROP) / 2), round((nh - CROP) / 2)
            img = img.crop((left, top, left + CROP, top + CROP))
            t3 = time.perf_counter()
            x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
            rows.append((x - MEAN) / STD)
            t4 = time.perf_counter()
            stages["read"] += t1 - t0
            stages["decode"] += t2 - t1
            stages["resize"] += t3 - t2
            stages["normalise"] += t4 - t3
        t = time.perf_counter()
        batch = np.stack(rows).astype(np.float32)
        emb = session.run(["embedding"], {"input": batch})[0]
        stages["backbone"] += time.perf_counter() - t
        t = time.perf_counter()
        if out_dir:
            for i, row in enumerate(emb):
                with open(os.path.join(out_dir, f"{start + i}.f32"), "wb") as fh:
                    fh.write(np.ascontiguousarray(row, dtype=np.float32).tobytes())
        stages["writes"] += time.perf_counter() - t
        done += len(rows)

    total = time.perf_counter() - START
    print(json.dumps({"images": done, "seconds": total, "stages": stages, "threads": os.cpu_count()}))


if __name__ == "__main__":
    main(sys.argv[1:])
