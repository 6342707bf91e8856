"""CLIPFeatures against a plain batched open_clip loop, the feature store, and memory.

Real-size architectures with random weights (no download needed): images per second of
CLIPFeatures against the plain loop on the same model and images (target: 0.95 of it or
more), the speed-up of a second run from the feature store (target: 50x or more), and the peak
memory of encoding 1,000 and 10,000 images (target: the same within 10%: work streams in
batches). Images are synthetic JPEG files written to a temporary folder.

    python benchmarks/bench_clip_features.py [--images 256] [--memory 1000,10000]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*random weights.*")


def write_images(folder, n, size=256, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"{i:06d}.jpg")
        if not os.path.exists(path):
            shifted = np.roll(base, shift=(i * 7) % size, axis=i % 2)
            Image.fromarray(shifted).save(path, quality=90)
        paths.append(path)
    return paths


def plain_loop(model, preprocess, paths, batch_size):
    """What a user would write with open_clip alone (the model already loaded)."""
    import torch
    from PIL import Image

    out = []
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            batch = [Image.open(p).convert("RGB") for p in paths[start : start + batch_size]]
            x = torch.stack([preprocess(im) for im in batch])
            out.append(model.encode_image(x, normalize=True).numpy())
    return np.concatenate(out)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def speed(model_name, paths, batch_size, cache):
    import open_clip

    from skclipens import CLIPFeatures

    checkpoint = _random_checkpoint(model_name)
    spec = f"{model_name}:{checkpoint}"
    feats = CLIPFeatures([spec], batch_size=batch_size).fit()
    feats.transform(paths[:batch_size])  # warm-up, loads the model
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=checkpoint)
    model.eval()
    plain_loop(model, preprocess, paths[:batch_size], batch_size)  # warm-up
    plain_s, ours_s = np.inf, np.inf
    for _ in range(2):  # alternating, best of two: the machine's noise hits both alike
        t, reference = timed(plain_loop, model, preprocess, paths, batch_size)
        plain_s = min(plain_s, t)
        t, X = timed(feats.transform, paths)
        ours_s = min(ours_s, t)
    assert np.allclose(X.embeddings[spec], reference, atol=1e-4)
    stored = CLIPFeatures([spec], batch_size=batch_size, cache=cache).fit()
    first_s, _ = timed(stored.transform, paths)
    second_s, _ = timed(stored.transform, paths)
    return plain_s, ours_s, first_s, second_s


_CHECKPOINTS = {}


def _random_checkpoint(model_name):
    """Random weights saved to a file, so the plain loop and CLIPFeatures share them
    (and the store, which never keeps random weights' vectors, keys them by file)."""
    import open_clip
    import torch

    if model_name not in _CHECKPOINTS:
        torch.manual_seed(0)
        path = os.path.join(tempfile.mkdtemp(), f"{model_name}.pt")
        torch.save(open_clip.create_model(model_name).state_dict(), path)
        _CHECKPOINTS[model_name] = path
    return _CHECKPOINTS[model_name]


#: A small ViT for the memory rows, so that 10,000 images take seconds, not an hour, on a
#: CPU; what is measured is whether memory grows with the number of images.
SMALL_VIT = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 128, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}

# The peak resident memory of this process since it started: VmHWM, which execve resets
# (ru_maxrss would carry over the forking parent's, models and all).
MEMORY_CHILD = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import open_clip
open_clip.add_model_config(sys.argv[4])
from skclipens import CLIPFeatures
paths = json.load(open(sys.argv[1]))
X = CLIPFeatures([sys.argv[2]], batch_size=int(sys.argv[3])).fit().transform(paths)
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(int(status.split()[0]) / 1024)
"""


def peak_memory_mib(model_name, paths, batch_size, folder):
    listing = os.path.join(folder, f"paths-{len(paths)}.json")
    with open(listing, "w") as f:
        json.dump(paths, f)
    configs = os.path.join(folder, "configs")
    os.makedirs(configs, exist_ok=True)
    with open(os.path.join(configs, "bench-small-vit.json"), "w") as f:
        json.dump(SMALL_VIT, f)
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, listing, model_name, str(batch_size), configs],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="images for the speed rows")
    parser.add_argument("--models", default="RN50,ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--memory", default="1000,10000", help="image counts for peak memory")
    parser.add_argument("--memory-model", default="bench-small-vit", help="or RN50, ...")
    args = parser.parse_args()

    import torch

    folder = tempfile.mkdtemp(prefix="skclipens-bench-")
    counts = [int(c) for c in args.memory.split(",") if c]
    paths = write_images(folder, max([args.images, *counts]))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, fp32")
    header = (
        f"{'model':<10}{'images':>7}{'plain img/s':>13}{'ours img/s':>12}{'ratio':>7}"
        f"{'store 1st s':>13}{'store 2nd s':>13}{'speed-up':>10}"
    )
    models = [m for m in args.models.split(",") if m]
    if models:
        print(header)
        print("-" * len(header))
    for model_name in models:
        cache = os.path.join(folder, "store")
        plain_s, ours_s, first_s, second_s = speed(
            model_name, paths[: args.images], args.batch_size, cache
        )
        n = args.images
        print(
            f"{model_name:<10}{n:>7}{n / plain_s:>13.1f}{n / ours_s:>12.1f}"
            f"{plain_s / ours_s:>7.2f}{first_s:>13.2f}{second_s:>13.3f}{first_s / second_s:>9.0f}x"
        )
    if counts:
        print(
            f"\npeak memory (VmHWM of a fresh process), {args.memory_model}, "
            f"batch {args.batch_size}"
        )
        for n in counts:
            mib = peak_memory_mib(args.memory_model, paths[:n], args.batch_size, folder)
            print(f"{n:>7} images: {mib:8.0f} MiB")


if __name__ == "__main__":
    main()
