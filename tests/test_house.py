"""The rules of the house that no single feature test would notice breaking (see ARCHITECTURE.md)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import TINY_TRAIN_ARGS, make_folder

PACKAGE = Path(__file__).resolve().parent.parent / "kgan"


def _python(code: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300
    )


def test_importing_the_spine_and_the_image_readers_loads_no_tensorflow():
    code = (
        "import sys\n"
        "import kgan.cli, kgan.options, kgan.session, kgan.loop, kgan.recorder, kgan.runs, kgan.files\n"
        "import kgan.images.folders, kgan.images.cache, kgan.images.clips, kgan.tools.summary\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_training_decodes_the_images_before_tensorflow_is_imported(tmp_path):
    # Decoding a large folder forks worker processes, which is only safe before
    # TensorFlow starts its threads; a new run and a resumed one must both decode first.
    folder = make_folder(tmp_path / "images")
    code = (
        "import sys\n"
        "import kgan.session as session\n"
        "seen = []\n"
        "original = session.load_image_folder\n"
        "def spy(*args, **kwargs):\n"
        "    seen.append('tensorflow' in sys.modules)\n"
        "    return original(*args, **kwargs)\n"
        "session.load_image_folder = spy\n"
        "from kgan.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('tensorflow-loaded-before-decoding:', seen)\n"
    )
    runs = tmp_path / "runs"
    new = _python(code, "train", str(folder), "--steps", "1", "--runs-dir", str(runs), "--name", "r",
                  "--no-cache", *TINY_TRAIN_ARGS)  # fmt: skip
    assert "tensorflow-loaded-before-decoding: [False]" in new.stdout, new.stdout + new.stderr
    resumed = _python(code, "train", "--resume", str(runs / "r"), "--steps", "2", "--no-cache", "--quiet")
    assert "tensorflow-loaded-before-decoding: [False]" in resumed.stdout, resumed.stdout + resumed.stderr


def test_no_code_outside_the_conditions_module_asks_which_condition_it_has():
    asking = re.compile(r"isinstance\([^)]*(NoCondition|ClassCondition|InfoCodes)|\[\"kind\"\]|\.get\(\"kind\"")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "conditions.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if asking.search(line)
    ]
    assert offenders == []


def test_random_stream_keys_are_distinct_and_every_draw_goes_through_the_table():
    from kgan.random_streams import Stream

    assert len({int(key) for key in Stream}) == len(Stream)
    # No other module makes its own keyed stream: a key outside the table could collide with one in it.
    keyed = re.compile(r"default_rng\(\[")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "random_streams.py" and keyed.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_every_training_option_is_one_dataclass_field_and_one_flag_of_kgan_train():
    from kgan.cli import train
    from kgan.options import TrainOptions

    fields = {item.name for item in dataclasses.fields(TrainOptions) if item.metadata.get("saved", True)}
    parameters = {parameter.name for parameter in train.params} - {"quiet", "resume"}
    assert fields == parameters


def test_config_types_come_from_the_dataclass(tmp_path):
    from kgan.errors import OptionError
    from kgan.options import TrainOptions

    saved = TrainOptions(data_dir=make_folder(tmp_path / "images"), beta1=0.2).validate().to_json()
    assert TrainOptions.from_json(saved).beta1 == 0.2
    for name, wrong in (("beta1", "high"), ("batch_size", 6.5), ("conditional", 1), ("cache_dir", 3)):
        try:
            TrainOptions.from_json({**saved, name: wrong})
        except OptionError as error:
            assert name in str(error)
        else:
            raise AssertionError(f"{name}={wrong!r} was accepted")
