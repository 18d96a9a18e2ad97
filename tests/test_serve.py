"""kgan serve: the JSON and pages through Flask's test client, the server itself, and its defences."""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_TRAIN_ARGS, _run_cli, make_folder

flask = pytest.importorskip("flask")

from kgan.serve.app import create_app  # noqa: E402
from kgan.serve.explorer import WALK_FRAMES_PER_KEY  # noqa: E402


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image.squeeze()).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(url_or_bytes: str | bytes) -> np.ndarray:
    import base64

    data = url_or_bytes
    if isinstance(url_or_bytes, str):
        data = base64.b64decode(url_or_bytes.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.fixture(scope="module")
def runs_dir(trained_run, tmp_path_factory) -> Path:
    """A copy of the shared tiny run (so what the server writes stays here), plus an InfoGAN run."""
    from kgan.cli import main

    base = tmp_path_factory.mktemp("serve")
    runs = base / "runs"
    shutil.copytree(trained_run, runs / trained_run.name)
    folder = make_folder(base / "images")
    args = ["train", str(folder), "--steps", "2", "--seed", "4", "--runs-dir", str(runs), "--name", "info"]
    assert _run_cli(main, [*args, *TINY_TRAIN_ARGS, "--info-codes", "--info-categories", "3"]) == 0
    return runs


@pytest.fixture(scope="module")
def app(runs_dir):
    return create_app(runs_dir, max_generators=2, project_steps=3)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def run_name(runs_dir, trained_run) -> str:
    return trained_run.name


def test_runs_list_shows_each_run_with_its_newest_grid(client, run_name):
    response = client.get("/api/runs")
    assert response.status_code == 200
    runs = {run["name"]: run for run in response.get_json()["runs"]}
    assert set(runs) == {run_name, "info"}
    run = runs[run_name]
    assert run["step"] == 4 and run["shape"] == "16x16x1" and run["kind"].startswith("dcgan/bce")
    assert run["grid"] == "samples/step-000004.png" and run["grid_step"] == 4
    grid = client.get(f"/files/{run_name}/{run['grid']}")
    assert grid.status_code == 200 and grid.data[:8] == b"\x89PNG\r\n\x1a\n"
    page = client.get("/")
    assert page.status_code == 200 and b"runs.js" in page.data


def test_the_runs_list_answers_without_loading_tensorflow(runs_dir):
    script = (
        "import sys; from pathlib import Path; from kgan.serve.app import create_app;"
        f"client = create_app(Path({str(runs_dir)!r})).test_client();"
        "assert client.get('/').status_code == 200; assert client.get('/api/runs').status_code == 200;"
        "run = client.get('/api/runs').get_json()['runs'][0]['name'];"
        "assert client.get('/api/runs/' + run).status_code == 200;"
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_run_has_its_grids_in_step_order_with_elapsed_time_and_its_charts(client, run_name, runs_dir):
    details = client.get(f"/api/runs/{run_name}").get_json()
    steps = [grid["step"] for grid in details["grids"]]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 4
    assert details["grids"][0]["elapsed"] == 0.0 and details["grids"][-1]["elapsed"] > 0
    series = details["series"]
    assert series["step"] == [1, 2, 3, 4]
    assert all(len(series[name]) == 4 for name in ("d_loss", "g_loss", "d_real", "d_fake", "images_per_second"))
    assert details["options"]["batch_size"] == 8 and details["summary"]["step"] == 4
    assert details["has_checkpoint"] is True
    assert details["timelapse_command"] == f"kgan video --run {run_name} --timelapse --runs-dir {runs_dir}"
    page = client.get(f"/run/{run_name}")
    assert page.status_code == 200 and b"uPlot.iife.min.js" in page.data
    assert client.get("/static/vendor/uplot/LICENSE").status_code == 200


def test_the_explorer_grid_is_what_kgan_sample_writes(client, run_name, runs_dir, run_cli, tmp_path):
    response = client.get(f"/api/runs/{run_name}/grid?seed=11&n=5&truncation=0.7")
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert len(result["images"]) == 5 and result["step"] == 4
    assert result["command"] == f"kgan sample --run {run_name} --seed 11 -n 5 --truncation 0.7 --runs-dir {runs_dir}"
    code, _, err = run_cli("sample", "--run", runs_dir / run_name, "--seed", 11, "-n", 5, "--truncation", 0.7,
                           "--out", tmp_path / "s")  # fmt: skip
    assert code == 0, err
    for index, url in enumerate(result["images"]):
        written = np.asarray(Image.open(tmp_path / "s" / f"sample-{index:04d}.png"))
        assert np.array_equal(decode(url), written)
    other = client.get(f"/api/runs/{run_name}/grid?seed=12&n=5").get_json()
    assert not np.array_equal(decode(other["images"][0]), decode(result["images"][0]))


def test_saving_a_grid_writes_the_files_of_its_command(client, run_name, runs_dir, run_cli):
    response = client.post(f"/api/runs/{run_name}/save", json={"seed": 5, "n": 4})
    assert response.status_code == 200, response.get_json()
    saved = response.get_json()
    assert saved["folder"].startswith("generated/")
    grid = runs_dir / run_name / saved["grid"]
    assert grid.is_file()
    args = saved["command"].split()[1:]
    code, _, err = run_cli(*args)
    assert code == 0, err
    newest = sorted((runs_dir / run_name / "generated").iterdir())[-1]
    assert newest != grid.parent and np.array_equal(
        np.asarray(Image.open(newest / "grid.png")), np.asarray(Image.open(grid))
    )
    download = client.get(f"/files/{run_name}/{saved['grid']}?download=1")
    assert "attachment" in download.headers["Content-Disposition"]


def test_a_walk_passes_through_the_chosen_pictures_and_saves_as_kgan_video_would(client, run_name, runs_dir):
    keys = [{"seed": 3, "n": 4, "index": 1}, {"seed": 3, "n": 4, "index": 2}, {"seed": 9, "n": 2, "index": 0}]
    walk = client.post(f"/api/runs/{run_name}/walk", json={"keys": keys})
    assert walk.status_code == 200, walk.get_json()
    frames = walk.get_json()["frames"]
    assert len(frames) == 3 * WALK_FRAMES_PER_KEY
    grid = client.get(f"/api/runs/{run_name}/grid?seed=3&n=4").get_json()["images"]
    assert np.array_equal(decode(frames[0]), decode(grid[1]))
    assert np.array_equal(decode(frames[WALK_FRAMES_PER_KEY]), decode(grid[2]))
    video = client.post(f"/api/runs/{run_name}/video", json={"keys": keys[:2]})
    assert video.status_code == 200, video.get_json()
    made = video.get_json()
    assert made["video"].startswith("videos/between-") or made["video"].startswith("videos/walk")
    assert (runs_dir / run_name / made["video"]).stat().st_size > 0
    assert made["command"].startswith(f"kgan video --run {run_name} --latents ")
    latents = [part for part in made["command"].split() if part.endswith(".npy")]
    assert len(latents) == 2 and all(Path(path).is_file() for path in latents)


def test_an_uploaded_picture_is_projected_and_can_start_a_walk(client, run_name, runs_dir):
    picture = png(np.full((20, 20), 200, np.uint8))
    response = client.post(f"/api/runs/{run_name}/project", data={"image": (io.BytesIO(picture), "mine.png")})
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert (runs_dir / run_name / result["latent"]).is_file()
    assert decode(result["reconstruction"]).shape[:2] == (16, 16) and decode(result["target"]).shape[:2] == (16, 16)
    assert result["command"].startswith("kgan project ") and "--steps 3" in result["command"]
    uploaded = Path(result["command"].split()[2])
    assert uploaded.is_file() and uploaded.read_bytes() == picture
    walk = client.post(
        f"/api/runs/{run_name}/walk", json={"keys": [{"latent": result["latent"]}, {"seed": 1, "index": 0}]}
    )
    assert walk.status_code == 200, walk.get_json()


@pytest.mark.parametrize(
    "name, data, status, words",
    [
        ("notes.png", b"this is text, not a picture", 422, "cannot read"),
        ("cut.png", None, 422, "cannot read"),
        ("bomb.png", "bomb", 422, "decompression bomb"),
        ("empty.png", b"", 400, "empty"),
    ],
)
def test_bad_uploads_get_one_line_and_leave_nothing(client, run_name, runs_dir, name, data, status, words):
    if data is None:
        whole = png(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8))
        data = whole[: len(whole) // 2]
    elif data == "bomb":
        buffer = io.BytesIO()
        Image.new("1", (20000, 20000)).save(buffer, format="PNG")  # 400 megapixels, a few kilobytes
        data = buffer.getvalue()
    uploads = runs_dir / run_name / "explore" / "uploads"
    before = set(uploads.iterdir()) if uploads.is_dir() else set()
    response = client.post(f"/api/runs/{run_name}/project", data={"image": (io.BytesIO(data), name)})
    assert response.status_code == status
    message = response.get_json()["error"]
    assert words in message and "\n" not in message
    after = set(uploads.iterdir()) if uploads.is_dir() else set()
    assert after == before


def test_an_upload_over_the_limit_is_refused(app, run_name):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        response = app.test_client().post(
            f"/api/runs/{run_name}/project", data={"image": (io.BytesIO(b"x" * 5000), "big.png")}
        )
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 20 * 1024 * 1024
    assert response.status_code == 413 and "larger than" in response.get_json()["error"]


@pytest.mark.parametrize(
    "query, words",
    [
        ("seed=abc", "seed must be a whole number"),
        ("seed=-1", "seed must be from 0"),
        ("n=100000", "a grid holds 1 to 256"),
        ("n=0", "a grid holds 1 to 256"),
        ("truncation=2", "truncation"),
        ("truncation=x", "truncation"),
        ("label=shoes", "--conditional"),
        ("codes=0:1", "--info-codes"),
        ("codes=zz", "codes must be pairs"),
    ],
)
def test_bad_grid_requests_get_one_line(client, run_name, query, words):
    response = client.get(f"/api/runs/{run_name}/grid?{query}")
    assert response.status_code == 400
    assert words in response.get_json()["error"]


def test_bad_walks_and_bodies_get_one_line(client, run_name):
    url = f"/api/runs/{run_name}/walk"
    cases = [
        (client.post(url, data="not json", content_type="application/json"), "JSON object"),
        (client.post(url, json={"keys": [{"seed": 1, "index": 0}]}), "at least two"),
        (client.post(url, json={"keys": [{"seed": 1, "n": 2, "index": 5}, {"seed": 1}]}), "not in a grid of 2"),
        (client.post(url, json={"keys": [{"latent": "../../etc/passwd"}, {"seed": 1}]}), "no file"),
        (client.post(url, json={"keys": "everything"}), "list of chosen pictures"),
    ]
    for response, words in cases:
        assert response.status_code in (400, 404), response.get_json()
        assert words in response.get_json()["error"]
    assert client.get("/api/runs").status_code == 200


def test_infogan_codes_and_categories_become_controls(client):
    described = client.get("/api/runs/info/generator").get_json()
    assert [code["kind"] for code in described["codes"]] == ["category", "range", "range"]
    assert described["codes"][0]["count"] == 3 and described["classes"] == []
    plain = client.get("/api/runs/info/grid?seed=2&n=3").get_json()["images"]
    fixed = client.get("/api/runs/info/grid?seed=2&n=3&codes=0:1,1:1.5").get_json()
    assert fixed["command"] == ""  # no kgan sample flag sets codes: saving goes through a latent file
    assert any(not np.array_equal(decode(a), decode(b)) for a, b in zip(plain, fixed["images"]))
    bad = client.get("/api/runs/info/grid?codes=0:7")
    assert bad.status_code == 400 and "category from 0 to 2" in bad.get_json()["error"]
    saved = client.post("/api/runs/info/save", json={"seed": 2, "n": 3, "codes": {"0": 1, "1": 1.5}}).get_json()
    assert "--latents" in saved["command"]


def test_generators_are_kept_but_bounded(app, client, run_name):
    explorer = app.extensions["kgan_explorer"]
    client.get(f"/api/runs/{run_name}/grid?n=1")
    client.get("/api/runs/info/grid?n=1")
    assert explorer.loaded() == [run_name, "info"]
    explorer.max_generators = 1
    client.get(f"/api/runs/{run_name}/grid?n=1")
    assert explorer.loaded() == [run_name]
    explorer.max_generators = 2


def test_damaged_runs_give_one_line_and_the_server_goes_on(client, runs_dir, run_name):
    damaged = runs_dir / "damaged"
    shutil.copytree(runs_dir / run_name, damaged)
    try:
        checkpoint = sorted((damaged / "checkpoints").iterdir())[-1]
        for model in checkpoint.glob("generator*.keras"):
            model.write_bytes(b"PK\x03\x04 not really a keras file")
        response = client.get("/api/runs/damaged/grid?n=2")
        assert response.status_code == 400 and "\n" not in response.get_json()["error"]
        (damaged / "config.json").write_text("{ not json", encoding="utf-8")
        names = [run["name"] for run in client.get("/api/runs").get_json()["runs"]]
        assert "damaged" not in names
        response = client.get("/api/runs/damaged")
        assert response.status_code == 400 and "config.json" in response.get_json()["error"]
        page = client.get("/run/damaged")
        assert page.status_code == 400 and b"config.json" in page.data
    finally:
        shutil.rmtree(damaged)
    assert client.get(f"/api/runs/{run_name}").status_code == 200


def test_files_outside_the_runs_folder_are_never_served(app, runs_dir, run_name, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve", encoding="utf-8")
    run = runs_dir / run_name
    (run / "link-out.txt").symlink_to(secret)
    outside_run = tmp_path / "outside"
    shutil.copytree(run, outside_run, symlinks=True)
    (runs_dir / "escape").symlink_to(outside_run, target_is_directory=True)
    client = app.test_client()
    try:
        for url in [
            f"/files/{run_name}/link-out.txt",
            f"/files/{run_name}/../../secret.txt",
            f"/files/{run_name}/%2e%2e/%2e%2e/secret.txt",
            f"/files/{run_name}/..%2f..%2fsecret.txt",
            f"/files/{run_name}/{secret}",
            f"/files/{run_name}//etc/passwd",
            "/files/escape/config.json",
            "/files/../secret.txt",
            "/files/%2e%2e/secret.txt",
            "/api/runs/escape",
        ]:
            response = client.get(url)
            assert response.status_code == 404, url
            assert b"do not serve" not in response.data
        assert "escape" not in [run["name"] for run in client.get("/api/runs").get_json()["runs"]]
        # The same over a real socket, where nothing normalises the path first.
        with served(app) as port:
            for path in [f"/files/{run_name}/../../secret.txt", f"/files/{run_name}/%2E%2E/%2E%2E/secret.txt"]:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                assert response.status == 404 and b"do not serve" not in body, path
    finally:
        (run / "link-out.txt").unlink()
        (runs_dir / "escape").unlink()


class served:
    """The app on a real socket in a thread, for the length of a with block."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)

    def __enter__(self) -> int:
        import threading

        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self.server.server_port

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


def _start_server(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "kgan", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "http://" in line:
            return process, "".join(lines)
    process.kill()
    raise AssertionError(f"no address printed: {''.join(lines)} {process.stderr.read()}")


def test_kgan_serve_prints_its_address_and_answers(runs_dir):
    process, printed = _start_server("--runs-dir", str(runs_dir))
    try:
        assert "warning" not in printed
        port = int(printed.split("http://127.0.0.1:")[1].split("/")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/runs")
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["runs"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_kgan_serve_warns_when_it_listens_beyond_this_machine(runs_dir):
    process, printed = _start_server("--runs-dir", str(runs_dir), "--host", "0.0.0.0")
    try:
        assert printed.startswith("warning: serving on 0.0.0.0")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_kgan_serve_on_a_taken_port_says_so(runs_dir, run_cli, app):
    with served(app) as port:
        code, _, err = run_cli("serve", "--runs-dir", runs_dir, "--port", port)
    assert (
        code == 2
        and err.startswith(f"kgan: error: cannot serve on 127.0.0.1:{port}: Address already in use")
        and err.count("\n") == 1
    )


def test_requests_from_other_sites_are_refused(runs_dir, run_name):
    app = create_app(runs_dir, trusted_hosts=["127.0.0.1", "localhost"])
    client = app.test_client()
    assert client.get("/api/runs").status_code == 200
    rebound = client.get("/api/runs", headers={"Host": "evil.example"})
    assert rebound.status_code == 400 and run_name.encode() not in rebound.data
    url = f"/api/runs/{run_name}/save"
    foreign = client.post(url, json={"seed": 1, "n": 1}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and "kgan's own pages" in foreign.get_json()["error"]
    own = client.post(url, json={"seed": 1, "n": 1}, headers={"Origin": "http://localhost"})
    assert own.status_code == 200


def test_the_time_lapse_saves_as_kgan_video_would(client, run_name, runs_dir):
    response = client.post(f"/api/runs/{run_name}/timelapse", json={})
    assert response.status_code == 200, response.get_json()
    made = response.get_json()
    assert made["video"].startswith("videos/timelapse") and made["frames"] == 3
    assert (runs_dir / run_name / made["video"]).stat().st_size > 0
    assert made["command"] == f"kgan video --run {run_name} --timelapse --runs-dir {runs_dir}"


def test_a_model_file_with_code_in_it_is_refused_not_run(client, runs_dir, run_name):
    from kgan.backend import keras_module
    from kgan.files import file_sha256

    keras = keras_module()
    sneaky = runs_dir / "sneaky"
    shutil.copytree(runs_dir / run_name, sneaky)
    try:
        checkpoint = sorted((sneaky / "checkpoints").iterdir())[-1]
        model = keras.Sequential(
            [keras.Input((8,)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Reshape((2, 2, 2))]
        )
        state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
        for path in checkpoint.glob("generator*.keras"):
            model.save(path)
            state["sha256"][path.name] = file_sha256(path)  # a careful forger fixes the checksums too
        (checkpoint / "state.json").write_text(json.dumps(state), encoding="utf-8")
        response = client.get("/api/runs/sneaky/grid?n=2")
        assert response.status_code == 400
        assert "generator" in response.get_json()["error"] and "\n" not in response.get_json()["error"]
    finally:
        shutil.rmtree(sneaky)


def test_a_run_that_is_training_shows_its_newest_logged_step(client, runs_dir, run_name):
    training = runs_dir / "training"
    shutil.copytree(runs_dir / run_name, training)
    try:
        shutil.rmtree(training / "checkpoints")  # before its first save
        with open(training / "logs" / "losses.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps({"step": 9, "d_loss": 1.0, "g_loss": 1.0, "elapsed_seconds": 75.0}) + "\n")
        listed = {run["name"]: run for run in client.get("/api/runs").get_json()["runs"]}["training"]
        assert listed["step"] == 9 and listed["elapsed_seconds"] == 75.0
        details = client.get("/api/runs/training").get_json()
        assert details["summary"]["step"] == 9 and details["has_checkpoint"] is False
        response = client.get("/api/runs/training/generator")
        assert response.status_code == 400 and "no checkpoint yet" in response.get_json()["error"]
    finally:
        shutil.rmtree(training)
