"""params.yaml is read once into typed settings (lrat.settings) before any command starts work: a typo or a bad
value is an error that names the file, the key, the value and what is expected (exit 2, no traceback), never a
default silently used or a crash after the model has loaded; a key left out (or null where null means the default)
gets the one default declared in lrat.settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lrat.settings import ParamsError, Settings, Train, load_settings, problems, read_yaml

REPO = Path(__file__).resolve().parent.parent
LRAT = Path(sys.executable).parent / "lrat"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ParamsError) as caught:
        load_settings(_write(tmp_path / "params.yaml", text))
    return str(caught.value)


def test_the_repository_params_are_valid_and_every_value_is_taken_as_written():
    values = read_yaml(REPO / "params.yaml")
    assert values == yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    assert problems(values) == []
    settings = load_settings(REPO / "params.yaml")
    for name, block in values.items():
        if not isinstance(block, dict):
            assert getattr(settings, name) == block
            continue
        section = getattr(settings, "validate_" if name == "validate" else name)
        for key, value in block.items():
            held = getattr(section, key)
            if isinstance(value, dict) and key in ("scaling", "topk", "alignment", "capture"):
                continue
            assert (list(held) if isinstance(held, tuple) else held) == (
                value if not isinstance(held, Path) else Path(value)), f"{name}.{key}"


def test_a_missing_file_means_every_default(tmp_path: Path):
    assert load_settings(tmp_path / "absent.yaml") == Settings()
    assert Settings().train.lr == 5e-5 and Settings().retrieval.cache_dir == Path(".cache/embeddings")


def test_partial_files_and_nulls_where_null_means_the_default(tmp_path: Path):
    text = ("seed: 7\ndata:\n  source: logs\n  corpus: my/corpus.jsonl\nsplit:\n  file: null\n  test: 0.25\n"
            "train:\n  lr: 1\n  max_rows: null\n  epochs: null\nmine:\n  pairing: null\n"
            "  sampling: {temperature: 0.8}\nvalidate:\n  reasoning_len_quantiles: {0.5: [null, 100]}\n"
            "experiment:\n  topk:\n    k: '5,10'\n  scaling:\n    fractions: []\n")
    settings = load_settings(_write(tmp_path / "params.yaml", text))
    assert settings.train.lr == 1 and settings.train.max_rows is None  # null: all rows (a meaning of its own)
    assert settings.train.epochs == Train().epochs  # null: the default
    assert settings.data.corpus == Path("my/corpus.jsonl") and settings.data.given("corpus")
    assert settings.data.queries == Path("data/world/queries.tsv") and not settings.data.given("queries")
    assert settings.experiment.topk.k == "5,10"  # the flag's form, parsed by the command
    assert settings.experiment.scaling.fractions == (0.1, 0.25, 0.5, 1.0)  # empty: the default


def test_train_prefixes_default_to_the_retrieval_prefixes(tmp_path: Path):
    shared = load_settings(_write(tmp_path / "a.yaml", "retrieval:\n  query_prefix: 'query: '\n"))
    assert shared.train.encoding.query == "query: " == shared.retrieval.encoding.query
    own = load_settings(_write(tmp_path / "b.yaml", "retrieval:\n  query_prefix: 'q: '\ntrain:\n  query_prefix: ''\n"))
    assert own.train.encoding.query == "" and own.retrieval.encoding.query == "q: "


@pytest.mark.parametrize(("text", "expected"), [("retrieval:\n  cache_dir: null\n", None),
                                                ("retrieval:\n  cache_dir: ''\n", None),
                                                ("retrieval:\n  cache_dir: vectors\n", Path("vectors")),
                                                ("retrieval: {}\n", Path(".cache/embeddings"))])
def test_the_embeddings_cache_setting(tmp_path: Path, text: str, expected: Path | None):
    assert load_settings(_write(tmp_path / "p.yaml", text)).retrieval.cache_dir == expected


def test_a_bad_value_names_file_key_value_and_what_is_expected(tmp_path: Path):
    message = _error(tmp_path, "train:\n  lr: fast\n")
    assert message == f"{tmp_path / 'params.yaml'}: train.lr: 'fast' is not valid: expected a number > 0"


def test_an_exponent_without_a_dot_is_a_number_as_in_yaml_1_2(tmp_path: Path):
    # what `dvc exp run -S train.lr=1e-5` writes back; PyYAML alone would read the string '1e-5'
    assert load_settings(_write(tmp_path / "a.yaml", "train:\n  lr: 1e-5\n")).train.lr == 1e-5
    both = load_settings(_write(tmp_path / "b.yaml", "train:\n  lr: 1.0e-05\n  scale: 5E+1\n")).train
    assert (both.lr, both.scale) == (1e-5, 50.0)
    assert "train.lr: 'fast' is not valid" in _error(tmp_path, "train:\n  lr: fast\n")


@pytest.mark.parametrize(("text", "line"), [
    ("trian:\n  lr: 0.1\n", "trian: unknown key (did you mean 'train'?)"),
    ("train:\n  max_row: 10\n", "train.max_row: unknown key (did you mean 'max_rows'?)"),
    ("valdate: {}\n", "valdate: unknown key (did you mean 'validate'?)"),
    ("experiment:\n  topk:\n    ks: [5]\n", "experiment.topk.ks: unknown key (did you mean 'k'?)"),
    ("split:\n  zzz: 1\n", "split.zzz: unknown key"),
])
def test_unknown_keys_are_errors_with_the_closest_known_key(tmp_path: Path, text: str, line: str):
    assert _error(tmp_path, text).endswith(f"params.yaml: {line}")


@pytest.mark.parametrize(("text", "key", "expected"), [
    ("split:\n  test: 1.5\n", "split.test: 1.5", "a number in (0, 1)"),
    ("split:\n  test: 0.5\n  dev: 0.5\n", "split.dev: 0.5", "split.test + split.dev < 1"),
    ("train:\n  batch_size: 0\n", "train.batch_size: 0", "a whole number >= 1"),
    ("train:\n  batch_size: 8.5\n", "train.batch_size: 8.5", "a whole number >= 1"),
    ("train:\n  loss: infonce\n", "train.loss: 'infonce'", "one of 'weighted', 'mnrl'"),
    ("data:\n  source: files\n", "data.source: 'files'", "one of 'simulated', 'logs'"),
    ("agent:\n  p_guess: 1.2\n", "agent.p_guess: 1.2", "a number in [0, 1]"),
    ("serve:\n  port: 70000\n", "serve.port: 70000", "a whole number in [1, 65535]"),
    ("world:\n  split: [0.7, 0.3]\n", "world.split: [0.7, 0.3]", "a list of 3 shares"),
    ("world:\n  max_hops: 1\n", "world.max_hops: 1", ">= world.min_hops (2)"),
    ("seed: yes\n", "seed: true", "a whole number"),
    ("validate:\n  weight_mean: [1.1, 0.9]\n", "validate.weight_mean: [1.1, 0.9]", "low <= high"),
    ("train: [1, 2]\n", "train: [1, 2]", "a mapping"),
])
def test_wrong_types_and_out_of_range_values_are_errors(tmp_path: Path, text: str, key: str, expected: str):
    message = _error(tmp_path, text)
    assert f"params.yaml: {key} is not valid: expected " in message and expected in message


def test_every_problem_is_one_line(tmp_path: Path):
    lines = _error(tmp_path, "trian: {}\ntrain:\n  lr: fast\n  epochs: 0\n").splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{tmp_path / 'params.yaml'}: ") for line in lines)


def test_the_schema_choices_are_the_parsers_choices():
    from lrat.mining.options import FORMATS, JUDGES, NEGATIVES, PAIRINGS, PRESETS
    from lrat.settings import sections as schema

    assert (schema.MINE_PRESETS, schema.MINE_PAIRINGS, schema.MINE_NEGATIVES, schema.MINE_JUDGES,
            schema.MINE_FORMATS) == (PRESETS, PAIRINGS, NEGATIVES, JUDGES, FORMATS)


def _lrat(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LRAT), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_lrat_train_with_a_bad_params_file_exits_2_before_loading_anything(tmp_path: Path):
    labels = _write(tmp_path / "labels.jsonl", "{}\n")
    bad = _write(tmp_path / "bad.yaml", "train:\n  lr: fast\n")
    done = _lrat(tmp_path, "train", "--labels", str(labels), "--params", str(bad), "--out", "model")
    assert done.returncode == 2, done.stderr
    assert "train.lr: 'fast' is not valid" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "model").exists()


def test_a_command_that_reads_params_outside_its_error_handling_exits_2_too(tmp_path: Path):
    bad = _write(tmp_path / "bad.yaml", "trian:\n  lr: 0.1\n")
    done = _lrat(tmp_path, "simulate", "world", "--params", str(bad), "--out", "world", "--retriever", "")
    assert done.returncode == 2, done.stderr
    assert "trian: unknown key (did you mean 'train'?)" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "world").exists()


def test_lrat_evaluate_with_a_bad_params_file_exits_2(tmp_path: Path):
    bad = _write(tmp_path / "bad.yaml", "retrieval:\n  workers: 0\n")
    done = _lrat(tmp_path, "evaluate", "--params", str(bad), "--model", "base=base")
    assert done.returncode == 2, done.stderr
    assert "retrieval.workers: 0 is not valid" in done.stderr and "Traceback" not in done.stderr
