"""The schema of params.yaml: every section and key the stages read, and the values their parsers accept.

``read_params`` checks a file against it before any command starts work, so a typo or a bad value is one clear
line naming the key, instead of a default silently used or a traceback after the model has loaded. The check
never changes a value: each key's rule is a test on the value as YAML parsed it (an int stays an int, a string is
not turned into a number), and the parsers downstream still receive the plain dict. Every section and key may be
left out (the code's default applies); ``null`` is accepted only where the parser reads it as "the default" or
as a setting of its own.
"""

import difflib
from collections.abc import Mapping
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lrat.params_rules import (
    PathText,
    Probability,
    Share,
    bound_pair,
    choice,
    flag,
    integer,
    is_int,
    is_number,
    mapping,
    number,
    numbers,
    quantile_key,
    rule,
    strings,
    text,
)

# Choices the parsers accept (tests/test_params_schema.py checks they match the parsers' own constants).
DATA_SOURCES = ("simulated", "logs")
TRAIN_LOSSES = ("weighted", "mnrl")
TRAIN_DEVICES = ("auto", "cpu", "cuda")
TRAIN_PRECISIONS = ("fp32", "bf16")
TRAIN_ROWS = ("satisfied", "all")
INGEST_FORMATS = ("auto", "bcp", "search-r1", "openai-chat", "native")
MINE_PRESETS = ("official", "lrat")
MINE_PAIRINGS = ("latest", "attributed")
MINE_NEGATIVES = ("episode", "same_search")
MINE_JUDGES = ("none", "heuristic", "openai")
MINE_ON_ERROR = ("relevant", "not_relevant", "drop", "fail")
MINE_FORMATS = ("lrat", "compact", "flagembedding")
PROMOTE_METRICS = ("recall@10", "recall@100", "ndcg@10", "mrr@10")
INDEX_TYPES = ("flat", "hnsw", "ivf")
FLYWHEEL_INITS = ("champion", "base")
FLYWHEEL_AGENTS = ("simulated", "llm")


# sections ---------------------------------------------------------------------------------------------------------


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Data(Section):
    source: choice(DATA_SOURCES, nullable=True) = None
    runs: PathText = None
    corpus: PathText = None
    queries: PathText = None
    qrels_evidence: PathText = None
    qrels_golds: PathText = None
    ground_truth: PathText = None


class Split(Section):
    file: text(nullable="no splits file: lrat makes the split") = None
    test: number(gt=0, lt=1) = None
    dev: number(ge=0, lt=1) = None


class World(Section):
    n_docs: integer(ge=1) = None
    n_questions: integer(ge=1) = None
    min_hops: integer(ge=1) = None
    max_hops: integer(ge=1) = None
    background_share: number(ge=0, lt=1) = None
    name_rate: Share = None
    split: numbers(lambda v: is_number(v) and 0 <= v <= 1, "shares in [0, 1] (train, dev, test)", length=3) = None


class Retrieval(Section):
    cache_dir: text(nullable="no cache") = None
    query_prefix: text(nullable=True) = None
    doc_prefix: text(nullable=True) = None
    workers: integer(ge=1, nullable=True) = None


class Agent(Section):
    retriever: text() = None
    split: text() = None
    workers: integer(ge=1, nullable=True) = None
    k: integer(ge=1) = None
    max_searches: integer(ge=1) = None
    patience: integer(ge=0) = None
    p_browse_known: Probability = None
    p_browse_described: Probability = None
    p_browse_described_unshown: number(ge=0, le=1, nullable="as when shown") = None
    p_browse_lookalike: Probability = None
    p_browse_other: Probability = None
    overlap_gain: number(ge=0) = None
    snippet_words: integer(ge=1) = None
    position_top: number(ge=0) = None
    position_bottom: number(ge=0) = None
    shuffle_display: flag() = None
    max_browses_per_search: integer(ge=0) = None
    p_rebrowse: Probability = None
    mean_reasoning_evidence: number(ge=0) = None
    mean_reasoning_other: number(ge=0) = None
    p_negative_other: Probability = None
    p_negative_evidence: Probability = None
    p_wrong_answer: Probability = None
    p_wrong_unverified: Probability = None
    p_guess: Probability = None
    p_truncate: Probability = None
    p_verify_answer: Probability = None
    verify_searches: numbers(lambda v: is_int(v) and v >= 0, "whole numbers >= 0") = None
    p_repeat_query: Probability = None


class Ingest(Section):
    format: choice(INGEST_FORMATS, nullable=True) = None
    search_tools: strings() = None
    browse_tools: strings() = None
    query_keys: strings() = None
    docid_keys: strings() = None
    url_keys: strings() = None


class Mine(Section):
    """null anywhere here means "the preset's value" (lrat.mining.options)."""

    preset: choice(MINE_PRESETS, nullable=True) = None
    judge: choice(MINE_JUDGES, nullable="the preset's") = None
    judge_url: text(nullable=True) = None
    judge_model: text(nullable=True) = None
    judge_cache: text(nullable=True) = None
    judge_settings: mapping(nullable=True) = None
    api_key_env: text(nullable=True) = None
    concurrency: integer(ge=1, nullable=True) = None
    timeout: number(gt=0, nullable=True) = None
    retries: integer(ge=0, nullable=True) = None
    backoff: number(ge=0, nullable=True) = None
    prompt_version: text(nullable=True) = None
    prompts: mapping(nullable=True) = None
    sampling: mapping(nullable=True) = None
    pairing: choice(MINE_PAIRINGS, nullable="the preset's") = None
    negatives: choice(MINE_NEGATIVES, nullable="the preset's") = None
    on_error: choice(MINE_ON_ERROR, nullable="the preset's") = None
    group_by: text(nullable=True) = None
    statuses: strings(nullable=True) = None
    skip_repeats: flag(nullable=True) = None
    empty_reasoning_is_zero: flag(nullable=True) = None
    require_negative: flag(nullable=True) = None
    tokenizer: text(nullable=True) = None
    format: choice(MINE_FORMATS, nullable="the preset's") = None
    compact_above_mb: number(ge=0, nullable="never") = None


class Validate(Section):
    min_rows: integer(ge=0) = None
    weight_mean: rule("[low, high] numbers, low <= high (null = open)", bound_pair) = None
    satisfied_ratio: rule("[low, high] numbers, low <= high (null = open)", bound_pair) = None
    reasoning_len_quantiles: rule(
        "a non-empty mapping {quantile in [0, 1]: [low, high]}",
        lambda v: isinstance(v, Mapping) and bool(v) and all(quantile_key(q) and bound_pair(p) for q, p in v.items())
    ) = None
    evidence_retention_min: Share = None


class Train(Section):
    """null on the trainer's own keys means its default; the row-selection keys (rows, weights, n_negatives, seed)
    go to the data config as they are, so only max_rows may be null there."""

    base_model: text(nullable=True) = None
    epochs: number(gt=0, nullable=True) = None
    lr: number(gt=0, nullable=True) = None
    batch_size: integer(ge=1, nullable=True) = None
    max_seq_length: integer(ge=1, nullable=True) = None
    loss: choice(TRAIN_LOSSES, nullable=True) = None
    scale: number(gt=0, nullable=True) = None
    warmup_ratio: number(ge=0, le=1, nullable=True) = None
    save_steps: integer(ge=1, nullable=True) = None
    resume: flag(nullable=True) = None
    experiment: text(nullable=True) = None
    device: choice(TRAIN_DEVICES, nullable=True) = None
    precision: choice(TRAIN_PRECISIONS, nullable=True) = None
    query_prefix: text(nullable=True) = None
    doc_prefix: text(nullable=True) = None
    rows: choice(TRAIN_ROWS) = None
    weights: flag() = None
    n_negatives: integer(ge=0) = None
    max_rows: integer(ge=0, nullable="all rows") = None
    seed: integer() = None


class Ablation(Section):
    jobs: integer(ge=1) = None


class Registry(Section):
    name: text(nullable=True) = None
    experiment: text(nullable=True) = None
    import_experiment: text(nullable=True) = None


class Promote(Section):
    split: text(nullable=True) = None
    primary: choice(PROMOTE_METRICS, nullable=True) = None
    min_gain: number(nullable=True) = None
    alpha: number(gt=0, lt=1, nullable=True) = None
    max_drop: number(nullable=True) = None
    require_validation: flag(nullable=True) = None
    agent: flag(nullable=True) = None
    max_success_drop: number(nullable=True) = None
    max_searches_rise: number(nullable=True) = None


class Index(Section):
    type: choice(INDEX_TYPES) = None
    hnsw_m: integer(ge=1) = None
    ef_construction: integer(ge=1) = None
    ef_search: integer(ge=1) = None
    ivf_nlist: integer(ge=1, nullable="4·√documents") = None
    nprobe: integer(ge=1) = None
    eval_split: text() = None
    eval_max_queries: integer(ge=1) = None


class Serve(Section):
    host: text(nullable=True) = None
    port: integer(ge=1, le=65535, nullable=True) = None
    max_k: integer(ge=1, le=10_000) = None
    max_query_chars: integer(ge=1) = None
    max_batch: integer(ge=1) = None
    max_body_bytes: integer(ge=1024) = None
    workers: integer(ge=1) = None
    threads: integer(ge=0) = None
    batch_max_size: integer(ge=2) = None
    timeout: integer(ge=1) = None
    access_log: flag() = None


class AgentRunner(Section):
    k: integer(ge=1) = None
    max_turns: integer(ge=1) = None
    concurrency: integer(ge=1) = None
    snippet_tokens: integer(ge=1) = None
    document_tokens: integer(ge=1) = None
    timeout: number(gt=0) = None
    retries: integer(ge=0) = None
    backoff: number(ge=0) = None
    api_key_env: text() = None
    sampling: mapping(nullable=True) = None


class Scaling(Section):
    fractions: numbers(lambda v: is_number(v) and 0 < v <= 1, "shares in (0, 1]", as_text=True,
                       nullable=True) = None
    max_rows: integer(ge=0, nullable="all rows") = None
    experiment: text(nullable=True) = None


class Topk(Section):
    k: numbers(lambda v: is_int(v) and v >= 1, "whole numbers >= 1", as_text=True, nullable=True) = None
    experiment: text(nullable=True) = None


class Experiment(Section):
    split: text(nullable=True) = None
    scaling: Scaling | None = None
    topk: Topk | None = None


class Flywheel(Section):
    dir: text() = None
    experiment: text(nullable=True) = None
    split: text(nullable=True) = None
    questions_per_round: integer(ge=1, nullable=True) = None
    window: integer(ge=1, nullable="every round so far") = None
    init: choice(FLYWHEEL_INITS, nullable=True) = None
    max_rows: integer(ge=1, nullable="all rows") = None
    agent: choice(FLYWHEEL_AGENTS, nullable=True) = None
    llm_url: text(nullable=True) = None
    llm_model: text(nullable=True) = None
    dvc: flag(nullable=True) = None
    metrics: text() = None
    plot: text() = None
    report: text() = None


class Params(Section):
    seed: integer() = None
    data: Data | None = None
    split: Split | None = None
    world: World | None = None
    retrieval: Retrieval | None = None
    agent: Agent | None = None
    ingest: Ingest | None = None
    mine: Mine | None = None
    validate_: Validate | None = Field(None, alias="validate")  # (BaseModel has a method named validate)
    train: Train | None = None
    ablation: Ablation | None = None
    registry: Registry | None = None
    promote: Promote | None = None
    index: Index | None = None
    serve: Serve | None = None
    agent_runner: AgentRunner | None = None
    experiment: Experiment | None = None
    flywheel: Flywheel | None = None


# problems ---------------------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML terms."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) and not isinstance(part, bool) else f"{'.' if out else ''}{part}"
    return out


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that holds the keys at ``loc`` (a path of section names), for "did you mean" suggestions."""
    model: type[BaseModel] | None = Params
    for part in loc:
        field = next((f for name, f in model.model_fields.items() if (f.alias or name) == part), None)
        if field is None:
            return None
        candidates = [field.annotation, *get_args(field.annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _unknown(loc: tuple[Any, ...]) -> str:
    model = _section_model(loc[:-1])
    known = [f.alias or name for name, f in model.model_fields.items()] if model else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f"{_dotted(loc)}: unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")


def _cross_checks(values: dict[str, Any]) -> list[str]:
    """Rules between two keys; each side falls back to the code's default when left out."""
    out = []
    split = values.get("split") if isinstance(values.get("split"), dict) else {}
    test, dev = split.get("test", 0.2), split.get("dev", 0.0)
    if is_number(test) and is_number(dev) and 0 < test < 1 and 0 <= dev < 1 and not test + dev < 1:
        out.append(f"split.dev: {_show(dev)} is not valid: expected split.test + split.dev < 1 "
                   f"(split.test is {_show(test)})")
    world = values.get("world") if isinstance(values.get("world"), dict) else {}
    low, high = world.get("min_hops", 2), world.get("max_hops", 4)
    if is_int(low) and is_int(high) and low >= 1 and high >= 1 and low > high:
        out.append(f"world.max_hops: {_show(high)} is not valid: expected a whole number >= world.min_hops "
                   f"({_show(low)})")
    return out


def problems(values: dict[str, Any]) -> list[str]:
    """Every way ``values`` (params.yaml as loaded) breaks the schema, one line each; empty when it is valid."""
    out: list[str] = []
    try:
        Params.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            if error["type"] == "extra_forbidden":
                out.append(_unknown(loc))
            elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
                out.append(f"{_dotted(loc)}: {_show(error['input'])} is not valid: expected a mapping of settings")
            else:
                out.append(f"{_dotted(loc)}: {_show(error['input'])} is not valid: {_expected(error)}")
    return out + _cross_checks(values)


def _expected(error: Any) -> str:
    ctx = error.get("ctx") or {}
    return f"expected {ctx['expected']}" if "expected" in ctx else error["msg"]


__all__ = ["Params", "problems"]
