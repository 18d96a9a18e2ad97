"""How fast ``kgan serve`` answers the explorer's grid once the generator is loaded (issue 15).

Target: a 64-image grid at 64 px in under a quarter of a second on a 2-core machine.

    python bench/serve_speed.py                       # makes a 64 px run with the default recipe
    python bench/serve_speed.py --runs-dir runs --run NAME

Times GET /api/runs/NAME/grid?n=64 over a real socket (the server in this process, threaded, as
``kgan serve`` runs it): the first request (loads TensorFlow and G), then --repeats more with new
seeds, and prints the median and worst. Results are appended to bench/results/serve_speed.jsonl.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_run(base: Path) -> tuple[Path, str]:
    """A default-recipe run at 64 px (trained two steps: the speed of G does not depend on training)."""
    images = base / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(64):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(images / f"{index:03d}.png")
    runs = base / "runs"
    subprocess.run(
        [sys.executable, "-m", "kgan", "train", str(images), "--steps", "2", "--runs-dir", str(runs), "--name", "speed",
         "--quiet", "--no-cache"],
        check=True, cwd=REPO,
    )  # fmt: skip
    return runs, "speed"


def get(port: int, path: str) -> tuple[float, int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    return time.perf_counter() - start, response.status, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", type=Path)
    parser.add_argument("--run")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("-n", type=int, default=64)
    args = parser.parse_args()

    from werkzeug.serving import make_server

    from kgan.serve.app import create_app

    with tempfile.TemporaryDirectory() as scratch:
        if args.runs_dir and args.run:
            runs, name = args.runs_dir, args.run
        else:
            runs, name = make_run(Path(scratch))
        server = make_server("127.0.0.1", 0, create_app(runs), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_port
        first, status, body = get(port, f"/api/runs/{name}/grid?seed=0&n={args.n}")
        if status != 200:
            print(f"error: {status} {body[:300]!r}")
            return 1
        times = []
        for seed in range(1, args.repeats + 1):
            seconds, status, body = get(port, f"/api/runs/{name}/grid?seed={seed}&n={args.n}")
            assert status == 200, body[:300]
            times.append(seconds)
        server.shutdown()
        resolution = json.loads((runs / name / "config.json").read_text(encoding="utf-8"))["model"]["resolution"]
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "run": name,
        "resolution": resolution,
        "images": args.n,
        "first_request_s": round(first, 3),
        "median_s": round(statistics.median(times), 4),
        "worst_s": round(max(times), 4),
        "repeats": len(times),
        "cpu": _cpu(),
    }
    print(json.dumps(result))
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    with open(results / "serve_speed.jsonl", "a", encoding="utf-8") as stream:
        stream.write(json.dumps(result) + "\n")
    verdict = "meets" if result["median_s"] < 0.25 else "misses"
    print(f"{args.n} images at {resolution} px: median {result['median_s']:.3f} s, worst "
          f"{result['worst_s']:.3f} s ({verdict} the 0.25 s target); first request {first:.1f} s")  # fmt: skip
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


if __name__ == "__main__":
    sys.exit(main())
