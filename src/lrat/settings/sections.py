"""Every section and key of params.yaml, with its one default.

Each section is a frozen pydantic model; ``lrat.settings.load_settings`` reads the file once into ``Settings`` and
every command, the flywheel and the experiments take the typed sections from there. A key left out, or set to
``null`` where null means "the default", gets the default declared here and nowhere else. A few keys give
``null`` a meaning of its own (the rule's text says which: "no cache", "all rows", "the preset's" ...).

Deliberate exceptions, each read in one place only: `mine:` keys default to ``None`` = the preset's value
(``lrat.mining.options`` holds the two presets, the authors' builder and LRAT's); its judge keys (``concurrency``,
``timeout``, ...) default to ``None`` = the judge client's own default (``lrat.judge.openai``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lrat.settings.rules import (
    EMPTY_MEANS_DEFAULT,
    NULL_MEANS_DEFAULT,
    Probability,
    Share,
    bound_pair,
    choice,
    flag,
    gate_metric,
    gate_metrics,
    integer,
    is_int,
    is_number,
    mapping,
    number,
    numbers,
    path,
    quantile_key,
    rule,
    strings,
    text,
)

# Choices the parsers accept.
DATA_SOURCES = ("simulated", "logs")
TRAIN_LOSSES = ("weighted", "mnrl")
TRAIN_DEVICES = ("auto", "cpu", "cuda")
TRAIN_PRECISIONS = ("fp32", "bf16")
ENCODE_PRECISIONS = ("fp32", "fp16", "bf16")
DEVICE = re.compile(r"cpu|cuda(:[0-9]+)?|mps")
TRAIN_ROWS = ("satisfied", "all")
INGEST_FORMATS = ("auto", "bcp", "search-r1", "openai-chat", "native", "service")
MINE_PRESETS = ("official", "lrat")
MINE_PAIRINGS = ("latest", "attributed")
MINE_NEGATIVES = ("episode", "same_search")
MINE_JUDGES = ("none", "heuristic", "openai")
MINE_ON_ERROR = ("relevant", "not_relevant", "drop", "fail")
MINE_FORMATS = ("lrat", "compact", "flagembedding")
PROMOTE_METRICS = ("recall@10", "recall@100", "ndcg@10", "mrr@10")
INDEX_TYPES = ("flat", "hnsw", "ivf")
FLYWHEEL_INITS = ("champion", "base")
FLYWHEEL_AGENTS = ("simulated", "llm", "none")
FLYWHEEL_COLLECT = ("agent", "service")

DEFAULT_SEARCH_TOOLS = ("search", "local_knowledge_base_retrieval", "web_search", "retrieve", "retrieval")
DEFAULT_BROWSE_TOOLS = ("get_document", "visit", "access", "open", "open_page", "visit_webpage", "fetch", "browse")


class Section(BaseModel):
    """A params.yaml section: unknown keys are errors; ``null`` on a key marked "null means the default" is the
    same as leaving the key out."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        fields = {(f.alias or name): f for name, f in cls.model_fields.items()}

        def means_default(key: str, value: Any) -> bool:
            marks = fields[key].metadata if key in fields else ()
            return (value is None and NULL_MEANS_DEFAULT in marks) or (value == [] and EMPTY_MEANS_DEFAULT in marks)

        return {k: v for k, v in data.items() if not means_default(k, v)}

    def given(self, key: str) -> bool:
        """Whether params.yaml set ``key`` (to a value other than a default-meaning null)."""
        return key in self.model_fields_set


def sub(model: type[Section]) -> Any:
    """A nested section: left out or ``null`` means all its defaults."""
    return Annotated[model, NULL_MEANS_DEFAULT]


class Encoding(BaseModel):
    """How a model encodes, passed as one value wherever one does: prompt overrides (None: the model's own
    ``query`` / ``document`` prompt, as ``encode_query`` / ``encode_document`` use them), and where and how wide
    (the in-process device, fp16/bf16 on CUDA, texts per forward pass)."""

    model_config = ConfigDict(frozen=True)

    query: str | None = None
    doc: str | None = None
    device: str = "cpu"
    precision: str = "fp32"
    batch_size: int | None = None


# sections ---------------------------------------------------------------------------------------------------------


class Data(Section):
    source: choice(DATA_SOURCES, nullable=True) = "simulated"
    runs: path(nullable=True) = Path("data/runs/sim")
    corpus: path(nullable=True) = Path("data/world/corpus.jsonl")
    queries: path(nullable=True) = Path("data/world/queries.tsv")
    qrels_evidence: path(nullable=True) = Path("data/world/qrel_evidence.txt")
    qrels_golds: path(nullable="no gold qrels") = Path("data/world/qrel_golds.txt")
    ground_truth: path(nullable=True) = Path("data/world/ground_truth.jsonl")


class Split(Section):
    file: path(nullable="no splits file: lrat makes the split") = None
    test: number(gt=0, lt=1, nullable=True) = 0.2
    dev: number(ge=0, lt=1, nullable=True) = 0.0


class World(Section):
    n_docs: integer(ge=1) = 4000
    n_questions: integer(ge=1) = 1200
    min_hops: integer(ge=1) = 2
    max_hops: integer(ge=1) = 4
    background_share: number(ge=0, lt=1) = 0.15
    name_rate: Share = 0.9
    split: numbers(lambda v: is_number(v) and 0 <= v <= 1, "shares in [0, 1] (train, dev, test)",
                   length=3) = (0.7, 0.1, 0.2)


class Retrieval(Section):
    cache_dir: path(nullable="no cache") = Path(".cache/embeddings")  # corpus and query vectors; null or "": none
    # overrides of the model's own prompts (config_sentence_transformers.json); null: the model's
    query_prefix: text(nullable="the model's query prompt") = None
    doc_prefix: text(nullable="the model's document prompt") = None
    workers: integer(ge=1, nullable=True) = 1
    device: rule("cpu, cuda, cuda:N or mps", lambda v: isinstance(v, str) and bool(DEVICE.fullmatch(v)), True,
                  kind=str) = "cpu"  # where this process encodes (--devices: one worker process per device)
    precision: choice(ENCODE_PRECISIONS, nullable=True) = "fp32"  # fp16 | bf16: on CUDA only; CPUs stay fp32
    batch_size: integer(ge=1, nullable="16 texts on CPUs, 64 on accelerators") = None

    @property
    def encoding(self) -> Encoding:
        return Encoding(query=self.query_prefix, doc=self.doc_prefix, device=self.device,
                        precision=self.precision, batch_size=self.batch_size)


class Agent(Section):
    """The simulated agent (`lrat simulate agent`, the agent-level evaluation): its retriever, its question split,
    and its behaviour, calibrated against the paper (docs: calibration)."""

    retriever: text() = "base"
    split: text() = "train"
    workers: integer(ge=1, nullable=True) = 1
    k: integer(ge=1) = 10
    max_searches: integer(ge=1) = 18
    patience: integer(ge=0) = 4  # failed searches on one target before moving to another known name
    p_browse_known: Probability = 0.45  # a result whose title is a name the agent is looking for
    p_browse_described: Probability = 0.35  # the page it needs, when its snippet shows the clue's phrase
    p_browse_described_unshown: number(ge=0, le=1, nullable="as when shown") = None
    p_browse_lookalike: Probability = 0.0  # another page whose snippet shows the clue's phrase (a distractor)
    p_browse_other: Probability = 0.004
    overlap_gain: number(ge=0) = 0.03  # unknown results are browsed more when the snippet shares the query's words
    snippet_words: integer(ge=1) = 48
    position_top: number(ge=0) = 1.1  # browse-probability factor at displayed rank 1 ...
    position_bottom: number(ge=0) = 0.9  # ... and at rank k: weak position bias (paper: 0.12 vs 0.09)
    shuffle_display: flag() = True  # as in the paper's position-bias protocol
    max_browses_per_search: integer(ge=0) = 3
    p_rebrowse: Probability = 0.02
    mean_reasoning_evidence: number(ge=0) = 111.0
    mean_reasoning_other: number(ge=0) = 77.0
    p_negative_other: Probability = 0.3  # explicit negative judgement after a useless page
    p_negative_evidence: Probability = 0.02
    p_wrong_answer: Probability = 0.08
    p_wrong_unverified: Probability = 0.6  # extra chance of a wrong answer, times the share of unverified hops
    p_guess: Probability = 0.5  # out of budget: guess (a wrong answer) or stop without one
    p_truncate: Probability = 0.02
    p_verify_answer: Probability = 0.15
    # searches re-checking a hop just found (drawn uniformly)
    verify_searches: numbers(lambda v: is_int(v) and v >= 0, "whole numbers >= 0") = (2, 2, 3, 4)
    p_repeat_query: Probability = 0.7  # a re-check repeats an earlier query verbatim


class Ingest(Section):
    format: choice(INGEST_FORMATS, nullable=True) = "auto"
    search_tools: strings() = DEFAULT_SEARCH_TOOLS
    browse_tools: strings() = DEFAULT_BROWSE_TOOLS
    query_keys: strings() = ("query", "user_query", "queries", "q")
    docid_keys: strings() = ("docid", "doc_id", "id")
    url_keys: strings() = ("url", "urls", "link")


class Mine(Section):
    """null anywhere here means "the preset's value" (lrat.mining.options), or for the judge's request settings
    the judge client's own."""

    preset: choice(MINE_PRESETS, nullable=True) = "lrat"
    judge: choice(MINE_JUDGES, nullable="the preset's") = None
    judge_url: text(nullable="none") = None
    judge_model: text(nullable="the endpoint's") = None
    judge_cache: text(nullable="no cache") = None
    judge_settings: mapping(nullable="none") = None
    api_key_env: text(nullable="the judge's") = None
    concurrency: integer(ge=1, nullable="the judge's") = None
    timeout: number(gt=0, nullable="the judge's") = None
    retries: integer(ge=0, nullable="the judge's") = None
    backoff: number(ge=0, nullable="the judge's") = None
    prompt_version: text(nullable="the judge's") = None
    prompts: mapping(nullable="none") = None
    sampling: mapping(nullable="the preset's") = None
    pairing: choice(MINE_PAIRINGS, nullable="the preset's") = None
    negatives: choice(MINE_NEGATIVES, nullable="the preset's") = None
    on_error: choice(MINE_ON_ERROR, nullable="the preset's") = None
    group_by: text(nullable="the preset's") = None
    statuses: strings(nullable="the preset's") = None
    skip_repeats: flag(nullable="the preset's") = None
    empty_reasoning_is_zero: flag(nullable="the preset's") = None
    require_negative: flag(nullable="the preset's") = None
    tokenizer: text(nullable="the preset's") = None
    format: choice(MINE_FORMATS, nullable="the preset's") = None
    compact_above_mb: number(ge=0, nullable="never") = 256.0


class Validate(Section):
    min_rows: integer(ge=0) = 1
    weight_mean: rule("[low, high] numbers, low <= high (null = open)", bound_pair) = [0.98, 1.02]
    satisfied_ratio: rule("[low, high] numbers, low <= high (null = open)", bound_pair) = [0.5, 0.99]
    reasoning_len_quantiles: rule(
        "a non-empty mapping {quantile in [0, 1]: [low, high]}",
        lambda v: isinstance(v, Mapping) and bool(v) and all(quantile_key(q) and bound_pair(p) for q, p in v.items())
    ) = Field(default_factory=lambda: {"0.5": [5, 2000], "0.9": [10, 4000]})
    evidence_retention_min: Share = 0.9


class Train(Section):
    """The trainer's settings and which rows it trains on (rows, weights, n_negatives, max_rows, seed)."""

    base_model: text(nullable=True) = "base"  # base (packaged MiniLM) | org/name[@rev] | a folder | models:/...
    epochs: number(gt=0, nullable=True) = 1.0
    lr: number(gt=0, nullable=True) = 5e-5
    batch_size: integer(ge=1, nullable=True) = 32
    max_seq_length: integer(ge=1, nullable=True) = 128
    loss: choice(TRAIN_LOSSES, nullable=True) = "weighted"  # weighted (LRAT) | mnrl (plain InfoNCE)
    scale: number(gt=0, nullable=True) = 50.0  # 1/τ, τ = 0.02 as in the paper
    warmup_ratio: number(ge=0, le=1, nullable=True) = 0.1
    save_steps: integer(ge=1, nullable=True) = 25
    resume: flag(nullable=True) = True
    experiment: text(nullable=True) = "lrat"
    device: choice(TRAIN_DEVICES, nullable=True) = "auto"  # auto (CUDA when present, else CPU) | cpu | cuda
    precision: choice(TRAIN_PRECISIONS, nullable=True) = "fp32"  # fp32 | bf16 (mixed precision on GPUs)
    query_prefix: text(nullable="retrieval.query_prefix") = None
    doc_prefix: text(nullable="retrieval.doc_prefix") = None
    rows: choice(TRAIN_ROWS) = "satisfied"  # satisfied (judge-kept positives) | all (every browse)
    weights: flag() = True  # False: every row weight 1 (plain InfoNCE)
    n_negatives: integer(ge=0) = 1
    max_rows: integer(ge=0, nullable="all rows") = None  # a deterministic sample of the rows, for a time budget
    seed: integer() = 13

    @property
    def encoding(self) -> Encoding:
        """The prompt overrides this model trains with (``Settings`` fills a null from ``retrieval:``; still null:
        the base model's own prompts)."""
        return Encoding(query=self.query_prefix, doc=self.doc_prefix)


class Ablation(Section):
    jobs: integer(ge=1) = 1


class Registry(Section):
    name: text(nullable=True) = "lrat-retriever"
    experiment: text(nullable=True) = "lrat-promotion"  # one MLflow run per decision
    import_experiment: text(nullable=True) = "lrat-registry"  # runs holding models registered from elsewhere


class Promote(Section):
    split: text(nullable=True) = "test"  # held-out questions (a key of splits.json)
    # the metric the candidate must improve: search_recall@10 predicts the agent better than recall@10 on two worlds
    # (docs/flywheel/alignment.md)
    primary: gate_metric(nullable=True) = "search_recall@10"
    min_gain: number(nullable=True) = 0.02  # relative gain on the primary metric (0.02 = +2 %)
    alpha: number(gt=0, lt=1, nullable=True) = 0.05  # paired t-test on the primary metric: p < alpha
    max_drop: number(nullable=True) = 0.01  # every other offline metric: at most this much lower (absolute)
    # the metrics max_drop applies to (not the primary)
    no_regression: gate_metrics(nullable=True) = (*PROMOTE_METRICS, "trajectory_recall@10")
    # read instead of an agent-query primary when there are no logged queries of the held-out questions
    fallback_primary: gate_metric(nullable="none: an unmeasured primary is an error") = "recall@10"
    require_validation: flag(nullable=True) = True  # the candidate's training labels passed `lrat validate`
    agent: flag(nullable=True) = True  # agent-level checks when the world supports the simulated agent
    max_success_drop: number(nullable=True) = 0.01  # agent success: at most this much lower (absolute)
    max_searches_rise: number(nullable=True) = 0.05  # searches per question: at most this much higher (relative)


class Index(Section):
    type: choice(INDEX_TYPES) = "flat"  # flat (exact) | hnsw | ivf
    hnsw_m: integer(ge=1) = 32
    ef_construction: integer(ge=1) = 200
    ef_search: integer(ge=1) = 128
    ivf_nlist: integer(ge=1, nullable="4·√documents") = None
    nprobe: integer(ge=1) = 16
    eval_split: text() = "test"  # held-out questions for recall@10 against exact search
    eval_max_queries: integer(ge=1) = 500

    def search_params(self) -> dict[str, Any]:
        """What shapes the index (part of its identity): only the keys of its type."""
        if self.type == "hnsw":
            return {"M": self.hnsw_m, "ef_construction": self.ef_construction, "ef_search": self.ef_search}
        if self.type == "ivf":
            return {"nlist": self.ivf_nlist, "nprobe": self.nprobe}
        return {}


class ServeLimits(Section):
    """What the service enforces and how it runs; copied into the bento, which runs where params.yaml is not."""

    max_k: integer(ge=1, le=10_000) = Field(100, description="largest k a search may ask for")
    max_query_chars: integer(ge=1) = Field(2000, description="longest query, in characters")
    max_batch: integer(ge=1) = Field(64, description="most queries in one /search_batch")
    max_body_bytes: integer(ge=1024) = Field(1 << 20, description="larger request bodies get 413 unread")
    workers: integer(ge=1) = Field(1, description="worker processes, each with its own copy of model and index")
    threads: integer(ge=0) = Field(0, description="torch threads per worker (0: torch's default)")
    batch_max_size: integer(ge=2) = Field(32, description="adaptive batching: most searches in one encode")
    timeout: integer(ge=1) = Field(30, description="request timeout, seconds")
    access_log: flag() = Field(True, description="one log line per request (BentoML's access log)")


class Capture(Section):
    """`serve.capture:` — the service records the trajectories its callers tag (docs: guides/capture.md). Read when
    the service starts, not built into the bento, so turning it on or off rebuilds nothing."""

    dir: path(nullable="off") = None  # a folder turns capture on (`lrat serve --capture DIR` does too)
    max_shard_bytes: integer(ge=1024) = 64 << 20  # a shard is sealed at this size ...
    max_shard_seconds: number(gt=0) = 300.0  # ... or this age
    queue_size: integer(ge=1) = 10_000  # events waiting for the writer; beyond it events are dropped and counted
    retention_days: number(gt=0, nullable="keep every shard") = None  # sealed shards older than this are deleted


class Serve(ServeLimits):
    host: text(nullable=True) = "127.0.0.1"
    port: integer(ge=1, le=65535, nullable=True) = 3000
    capture: sub(Capture) = Field(default_factory=Capture)


class AgentRunner(Section):
    k: integer(ge=1) = 5
    max_turns: integer(ge=1) = 30
    concurrency: integer(ge=1) = 8
    snippet_tokens: integer(ge=1) = 512
    document_tokens: integer(ge=1) = 4096
    timeout: number(gt=0) = 120.0
    retries: integer(ge=0) = 3
    backoff: number(ge=0) = 1.0
    api_key_env: text() = "OPENAI_API_KEY"
    sampling: mapping(nullable=True) = Field(default_factory=dict)


class Scaling(Section):
    fractions: numbers(lambda v: is_number(v) and 0 < v <= 1, "shares in (0, 1]", as_text=True,
                       nullable=True) = (0.1, 0.25, 0.5, 1.0)
    max_rows: integer(ge=0, nullable="all rows") = None
    experiment: text(nullable=True) = "lrat-scaling"


class Topk(Section):
    k: numbers(lambda v: is_int(v) and v >= 1, "whole numbers >= 1", as_text=True, nullable=True) = (5, 10, 20, 50)
    experiment: text(nullable=True) = "lrat-topk"


class Alignment(Section):
    # each entry: overrides of `train:` for one more lrat retriever ("max_rows=120", "lr=0.0002,seed=7")
    variants: strings(nullable=True) = ("max_rows=120", "max_rows=240", "seed=7", "lr=0.0002")
    experiment: text(nullable=True) = "lrat-alignment"


class Experiment(Section):
    split: text(nullable=True) = "test"
    scaling: sub(Scaling) = Field(default_factory=Scaling)
    topk: sub(Topk) = Field(default_factory=Topk)
    alignment: sub(Alignment) = Field(default_factory=Alignment)


class Flywheel(Section):
    dir: path() = Path("data/flywheel")
    experiment: text(nullable=True) = "lrat-flywheel"
    split: text(nullable=True) = "train"  # the question pool
    questions_per_round: integer(ge=1, nullable=True) = 280  # fresh questions per round; no two rounds share one
    window: integer(ge=1, nullable="every round so far") = 1  # rounds whose trajectories train a challenger
    init: choice(FLYWHEEL_INITS, nullable=True) = "champion"  # champion | base (train.base_model every round)
    max_rows: integer(ge=1, nullable="all rows") = None  # training rows per round
    agent: choice(FLYWHEEL_AGENTS, nullable=True) = "simulated"  # simulated | llm (`lrat agent` against llm_url)
    # | none (collect: service with callers outside lrat)
    collect: choice(FLYWHEEL_COLLECT, nullable=True) = "agent"  # agent: run files | service: what callers recorded
    service_trajectories: integer(ge=1, nullable="questions_per_round") = None  # collect: service ends after this
    service_seconds: number(gt=0, nullable="no limit") = 3600.0  # ... many finished trajectories, or this long
    llm_url: text(nullable="none") = None
    llm_model: text(nullable="none") = None
    dvc: flag(nullable=True) = True  # `dvc add` each finished round's folder
    metrics: path() = Path("metrics/flywheel.json")
    plot: path() = Path("reports/flywheel.png")
    report: path() = Path("reports/flywheel.md")

    def round_dir(self, n: int) -> Path:
        return self.dir / f"round-{n:02d}"

    def plan(self) -> dict[str, Any]:
        """What a flywheel folder is committed to: resuming with other values would mix two experiments."""
        return {"split": self.split, "questions_per_round": self.questions_per_round, "window": self.window,
                "init": self.init, "max_rows": self.max_rows, "agent": self.agent,
                **({"collect": self.collect} if self.collect != "agent" else {})}


class Settings(Section):
    """The whole params.yaml."""

    seed: integer() = 13
    data: sub(Data) = Field(default_factory=Data)
    split: sub(Split) = Field(default_factory=Split)
    world: sub(World) = Field(default_factory=World)
    retrieval: sub(Retrieval) = Field(default_factory=Retrieval)
    agent: sub(Agent) = Field(default_factory=Agent)
    ingest: sub(Ingest) = Field(default_factory=Ingest)
    mine: sub(Mine) = Field(default_factory=Mine)
    validate_: sub(Validate) = Field(default_factory=Validate, alias="validate")  # (BaseModel has .validate)
    train: sub(Train) = Field(default_factory=Train)
    ablation: sub(Ablation) = Field(default_factory=Ablation)
    registry: sub(Registry) = Field(default_factory=Registry)
    promote: sub(Promote) = Field(default_factory=Promote)
    index: sub(Index) = Field(default_factory=Index)
    serve: sub(Serve) = Field(default_factory=Serve)
    agent_runner: sub(AgentRunner) = Field(default_factory=AgentRunner)
    experiment: sub(Experiment) = Field(default_factory=Experiment)
    flywheel: sub(Flywheel) = Field(default_factory=Flywheel)

    @model_validator(mode="after")
    def _train_prefixes(self) -> Settings:
        """train.query_prefix / doc_prefix left null take retrieval's: a model trains with the prompts it is
        evaluated and served with unless told otherwise."""
        fill = {key: getattr(self.retrieval, key) for key in ("query_prefix", "doc_prefix")
                if getattr(self.train, key) is None}
        if fill:
            object.__setattr__(self, "train", self.train.model_copy(update=fill))
        return self
