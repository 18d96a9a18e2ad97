"""``kgan serve``: the web pages and their JSON, on Flask.

Three pages (the runs, a run, a run's explorer), each a template plus a script that asks the
JSON routes below. Requests are parsed here into ``kgan.serve.explorer``'s requests; the run
folder is read through ``kgan.serve.runs_view``. Every error a request can cause is answered
with a one-line message (JSON for the API, a small page otherwise) and the server goes on.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from kgan import __version__
from kgan.errors import DataError, KganError, OptionError
from kgan.serve.explorer import Explorer, GridRequest, Key, data_url, kgan_command
from kgan.serve.runs_view import NotFound, find_run, run_details, run_file, runs_list

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
log = logging.getLogger("kgan.serve")


def create_app(
    runs_dir: Path, max_generators: int = 3, project_steps: int = 300, trusted_hosts: list[str] | None = None
) -> Flask:
    """The web application for the runs in ``runs_dir``.

    ``trusted_hosts``: the Host names requests may carry (None: any); a server on this machine only
    answers to its own names, so a web page elsewhere cannot reach it by DNS rebinding.
    """
    app = Flask(__name__)
    app.config["TRUSTED_HOSTS"] = trusted_hosts
    app.url_map.merge_slashes = False  # '//etc/passwd' is refused, not redirected
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    app.json.sort_keys = False
    runs_dir = Path(runs_dir)
    explorer = Explorer(runs_dir, max_generators=max_generators, project_steps=project_steps)
    app.extensions["kgan_explorer"] = explorer

    @app.before_request
    def _same_origin() -> None:
        # A page from elsewhere may send a form to this server; only this server's pages may change things.
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin and origin.split("://", 1)[-1] != request.host:
            abort(403, "requests that change files must come from kgan's own pages")

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'"
        )
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    # Pages.

    @app.get("/")
    def runs_page() -> str:
        return render_template("runs.html", runs_dir=str(runs_dir), version=__version__)

    @app.get("/run/<name>")
    def run_page(name: str) -> str:
        run = find_run(runs_dir, name)
        run.config()  # a damaged config.json is one line here, not a broken page
        return render_template("run.html", name=run.name, version=__version__)

    @app.get("/run/<name>/explore")
    def explore_page(name: str) -> str:
        run = find_run(runs_dir, name)
        run.config()
        return render_template("explore.html", name=run.name, version=__version__)

    @app.get("/files/<name>/<path:relative>")
    def file(name: str, relative: str) -> Any:
        path = run_file(find_run(runs_dir, name), relative)
        download = request.args.get("download") == "1"
        return send_file(path, as_attachment=download, download_name=path.name, max_age=0)

    # The runs, as JSON.

    @app.get("/api/runs")
    def api_runs() -> Any:
        return jsonify({"runs_dir": str(runs_dir), "runs": runs_list(runs_dir)})

    @app.get("/api/runs/<name>")
    def api_run(name: str) -> Any:
        run = find_run(runs_dir, name)
        timelapse = kgan_command(runs_dir, "video", "--run", run.name, "--timelapse")
        return jsonify({**run_details(run), "timelapse_command": timelapse})

    # The explorer.

    @app.get("/api/runs/<name>/generator")
    def api_generator(name: str) -> Any:
        return jsonify(explorer.describe(find_run(runs_dir, name)))

    @app.get("/api/runs/<name>/grid")
    def api_grid(name: str) -> Any:
        run = find_run(runs_dir, name)
        grid = _grid_request(request.args)
        picture = explorer.grid(run, grid)
        return jsonify({
            "step": picture.step, "seed": grid.seed, "count": grid.count, "command": picture.command,
            "images": [data_url(png) for png in picture.images],
        })  # fmt: skip

    @app.post("/api/runs/<name>/save")
    def api_save(name: str) -> Any:
        run = find_run(runs_dir, name)
        picture = explorer.save_grid(run, _grid_request(_json_body()))
        return jsonify({"step": picture.step, "command": picture.command, "folder": picture.extra["folder"],
                        "grid": f"{picture.extra['folder']}/grid.png"})  # fmt: skip

    @app.post("/api/runs/<name>/walk")
    def api_walk(name: str) -> Any:
        run = find_run(runs_dir, name)
        body = _json_body()
        picture = explorer.walk(run, _keys(run, body), _truncation(body.get("truncation")))
        return jsonify({"step": picture.step, "frames": [data_url(png) for png in picture.images]})

    @app.post("/api/runs/<name>/video")
    def api_video(name: str) -> Any:
        run = find_run(runs_dir, name)
        body = _json_body()
        picture = explorer.save_video(run, _keys(run, body), _truncation(body.get("truncation")))
        return jsonify({"step": picture.step, "command": picture.command, **picture.extra})

    @app.post("/api/runs/<name>/timelapse")
    def api_timelapse(name: str) -> Any:
        picture = explorer.save_timelapse(find_run(runs_dir, name))
        return jsonify({"command": picture.command, **picture.extra})

    @app.post("/api/runs/<name>/project")
    def api_project(name: str) -> Any:
        run = find_run(runs_dir, name)
        upload = request.files.get("image")
        if upload is None or not upload.filename:
            raise OptionError("choose a picture to upload (form field 'image')")
        data = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            abort(413)
        if not data:
            raise OptionError(f"{upload.filename} is empty")
        picture = explorer.project_upload(run, data, upload.filename)
        return jsonify({"step": picture.step, "command": picture.command,
                        "reconstruction": data_url(picture.images[0]), **picture.extra})  # fmt: skip

    # Errors: one line, and the server goes on.

    @app.errorhandler(NotFound)
    def _not_found(error: NotFound) -> Any:
        return _error(404, str(error))

    @app.errorhandler(KganError)
    def _refused(error: KganError) -> Any:
        status = 422 if isinstance(error, DataError) else 400
        return _error(status, str(error))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        if error.code == 413:
            return _error(413, f"the upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        return _error(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        log.exception("unexpected error in %s", request.path)
        detail = " ".join(str(error).split())[:300]
        return _error(500, f"unexpected {type(error).__name__}: {detail}")

    return app


def _error(status: int, message: str) -> Any:
    if request.path.startswith("/api/") or request.method != "GET":
        return jsonify({"error": message}), status
    return render_template("error.html", status=status, message=message), status


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise OptionError("the request needs a JSON object")
    return body


def _grid_request(values: Any) -> GridRequest:
    """A GridRequest from query arguments or a JSON object; OptionError naming a bad value."""
    codes = values.get("codes") or ()
    if isinstance(codes, str):  # "0:3,1:-0.5" in a query
        codes = [part.split(":", 1) for part in codes.split(",") if part]
    elif isinstance(codes, dict):
        codes = list(codes.items())
    try:
        pairs = tuple((int(code), float(setting)) for code, setting in codes)
    except (TypeError, ValueError):
        raise OptionError("codes must be pairs of a code number and a value, e.g. 0:3,1:-0.5") from None
    label = values.get("label")
    return GridRequest(
        seed=_integer(values.get("seed", 0), "seed"),
        count=_integer(values.get("n", values.get("count", 64)), "n"),
        label=str(label) if label not in (None, "") else None,
        truncation=_truncation(values.get("truncation")),
        codes=pairs,
    )


def _keys(run: Any, body: dict[str, Any]) -> list[Key]:
    """The pictures a walk passes through: grid images or latent files inside the run."""
    keys = body.get("keys")
    if not isinstance(keys, list) or not keys:
        raise OptionError("a walk needs 'keys': a list of chosen pictures")
    if len(keys) > 32:
        raise OptionError(f"a walk goes through at most 32 pictures, not {len(keys)}")
    result = []
    for key in keys:
        if not isinstance(key, dict):
            raise OptionError("each key is an object: a grid image or a latent file")
        if "latent" in key:
            result.append(Key(latent=run_file(run, str(key["latent"]))))
        else:
            result.append(Key(grid=_grid_request(key), index=_integer(key.get("index", 0), "index")))
    return result


def _integer(value: Any, name: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a whole number, not {value!r}") from None
    if not number.is_integer():
        raise OptionError(f"{name} must be a whole number, not {value!r}")
    return int(number)


def _truncation(value: Any) -> float | None:
    if value in (None, "", 1, "1", 1.0):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise OptionError(f"truncation must be a number between 0 and 1, not {value!r}") from None


def serve(runs_dir: Path, host: str, port: int, announce: Any, project_steps: int = 300) -> None:
    """Serve until interrupted; ``announce`` receives the lines to print (the address, warnings)."""
    from werkzeug.serving import make_server

    if host not in LOCAL_HOSTS:
        announce(f"warning: serving on {host}: anyone who can reach this machine can see the runs and make pictures")
    trusted = ["127.0.0.1", "localhost", "::1", "[::1]"] if host in LOCAL_HOSTS else None
    app = create_app(runs_dir, project_steps=project_steps, trusted_hosts=trusted)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:  # bound here, so that a taken port is our one-line error, not Werkzeug's exit
        listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except (OSError, OverflowError) as error:
        reason = os.strerror(error.errno) if getattr(error, "errno", None) else str(error)
        raise OptionError(f"cannot serve on {host}:{port}: {reason}") from None
    with listener:
        server = make_server(host, port, app, threaded=True, fd=listener.fileno())
    shown = f"[{host}]" if ":" in host else host
    announce(f"kgan serve: http://{shown}:{server.socket.getsockname()[1]}/  (runs in {runs_dir}; Ctrl-C stops)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
