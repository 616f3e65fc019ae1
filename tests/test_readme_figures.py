"""The figures the model READMEs show inline (issue 14), checked without training anything.

Every inline image of a model README is a committed PNG under its folder, small enough for the
repository's web page; every PNG in a figures/ folder is shown by its README; and the table of
docs/make_figures.py, which regenerates them, names only scripts, experiments and plots that exist
and commands that the README itself gives.
"""

import importlib.util
import re
import shlex
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from utils.config import load_experiments
from utils.modules import model_dirs

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS = model_dirs(REPO_ROOT)
IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")  # ![alt](path)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_make_figures():
    path = REPO_ROOT / "docs" / "make_figures.py"
    spec = importlib.util.spec_from_file_location("make_figures", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_figures"] = module  # dataclasses look their module up while building Figure
    spec.loader.exec_module(module)
    return module


make_figures = load_make_figures()
TABLE = make_figures.FIGURES_BY_MODEL


def readme(model: str) -> str:
    return (MODELS[model] / "README.md").read_text(encoding="utf-8")


def flat(text: str) -> str:
    """The text with every run of whitespace made one space: README lines wrap commands."""
    return " ".join(text.split())


def inline_images(model: str) -> list[str]:
    return [path for _, path in IMAGE_LINK.findall(readme(model))]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])  # IHDR: width, height


def test_the_table_covers_every_model():
    assert sorted(TABLE) == sorted(MODELS)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_inline_images_are_small_committed_pngs(model):
    folder = MODELS[model]
    for link in inline_images(model):
        assert "://" not in link, f"{model}: {link} is not a committed file"
        path = (folder / link).resolve()
        assert path.is_relative_to(folder), f"{model}: {link} is outside the model's folder"
        assert path.is_file(), f"{model}/README.md shows {link}, which does not exist"
        assert path.suffix == ".png", f"{model}: {link} is not a .png"
        width, _ = png_size(path)
        assert width <= make_figures.MAX_WIDTH, f"{model}: {link} is {width} px wide"
        size = path.stat().st_size
        assert size < make_figures.MAX_BYTES, f"{model}: {link} is {size} bytes"


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_committed_figure_is_shown_and_regenerated(model):
    folder = MODELS[model]
    shown = {(folder / link).resolve() for link in inline_images(model)}
    committed = sorted((folder / make_figures.FIGURES).glob("*"))
    for path in committed:
        assert path.resolve() in shown, f"{path.relative_to(REPO_ROOT)} is not in its README"
    names = {fig.name for fig in TABLE[model]}
    for path in committed:
        assert path.name in names, f"{path.name}: not in docs/make_figures.py, so never remade"
    if committed:
        command = f"python docs/make_figures.py --models {model}"
        assert command in flat(readme(model)), f"{model}/README.md does not say: {command}"


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_key_figure_is_committed_and_shown(model):
    shown = {(MODELS[model] / link).resolve() for link in inline_images(model)}
    for fig in TABLE[model]:
        path = MODELS[model] / make_figures.FIGURES / fig.name
        assert path.resolve() in shown, (
            f"{model}/README.md does not show {make_figures.FIGURES}/{fig.name}: run "
            f"python docs/make_figures.py --models {model}, then add it to the README"
        )


@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_table_names_existing_scripts_experiments_and_plots(model):
    folder = MODELS[model]
    text = flat(readme(model))
    experiments = load_experiments(folder / "src" / "experiments.yaml")
    for fig in TABLE[model]:
        for command in fig.commands():
            assert command in text, f"{model}/README.md does not give the command: {command}"
            argv = shlex.split(command)
            assert argv[0] == "python" and (folder / argv[1]).is_file(), command
            if "--experiment" in argv:
                experiment = argv[argv.index("--experiment") + 1]
                assert experiment in experiments, f"{model}: no experiment {experiment!r}"
        # The README lists each plot its commands write, by name or as <experiment>_...
        argv = shlex.split(fig.command)
        experiment = argv[argv.index("--experiment") + 1] if "--experiment" in argv else ""
        spellings = {fig.output}
        if experiment and fig.output.startswith(experiment):
            spellings.add("<experiment>" + fig.output[len(experiment) :])
            spellings.add(fig.output[len(f"{experiment}_train") :])  # "`_c1_maps.png`"
        assert any(s in text for s in spellings), f"{model}/README.md never names {fig.output}"
        assert fig.name.endswith(".png") and "/" not in fig.name, fig.name


def test_list_prints_every_command(capsys):
    assert make_figures.main(["--list"]) == 0
    out = capsys.readouterr().out
    for model, figures in TABLE.items():
        for fig in figures:
            assert f"models/{model}/figures/{fig.name}" in out


def test_unknown_model_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        make_figures.main(["--models", "99_nothing"])
    assert exc.value.code == 2
    assert "invalid choice: '99_nothing'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command, message",
    [
        ("python -c 'raise SystemExit(3)'", "exited with 3"),
        ("python -c 'pass'", "not found"),
    ],
)
def test_a_failing_command_is_one_error_line_and_exit_1(monkeypatch, caplog, command, message):
    figure = make_figures.Figure(command, "never_written.png", "never.png")
    monkeypatch.setattr(make_figures, "FIGURES_BY_MODEL", {"01_perceptron": [figure]})
    assert make_figures.main(["--models", "01_perceptron"]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and message in errors[0], errors
    assert not (MODELS["01_perceptron"] / make_figures.FIGURES / "never.png").exists()


def test_shrink_png_fits_width_and_bytes(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (700, 2000, 3), dtype=np.uint8)
    source, target = tmp_path / "big.png", tmp_path / "small.png"
    Image.fromarray(noise).save(source)  # about 4 MB of incompressible pixels
    size = make_figures.shrink_png(source, target)
    assert size == target.stat().st_size < make_figures.MAX_BYTES
    assert png_size(target)[0] <= make_figures.MAX_WIDTH
