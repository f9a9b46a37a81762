"""A user's own data folder, as someone bringing their agents' logs would have it: a corpus, queries, evidence and
gold qrels, answers and a folder of run files, each under a name and in a place of the user's choosing, and no
splits.json or simulation.json anywhere (real benchmarks ship neither).

The content comes from the simulator (a small world, and the simulated agent run on ALL its questions, so the
questions `lrat split` holds out have trajectories in the logs too). The simulator runs only here, in a scratch
folder that is deleted afterwards: the pipeline under test never sees a world.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import REPO

VENV_BIN = Path(sys.executable).parent
# Small enough for one test on 2 busy CPU cores (the agent's 300 runs are the fixture's main cost), large enough
# that a 20 % held-out split has questions to test significance on, and the rest gives hundreds of label rows.
N_DOCS = 800
N_QUESTIONS = 300

# where each file goes in the user's folder (params.yaml `data:` keys → path inside the folder)
LAYOUT = {
    "corpus": "corpus/docs.jsonl",
    "queries": "topics/queries.tsv",
    "qrels_evidence": "qrels/evidence.txt",
    "qrels_golds": "qrels/golds.txt",
    "ground_truth": "answers.jsonl",
    "runs": "runs",
}
# the simulated world's name for each of them
WORLD_NAMES = {
    "corpus": "corpus.jsonl",
    "queries": "queries.tsv",
    "qrels_evidence": "qrel_evidence.txt",
    "qrels_golds": "qrel_golds.txt",
    "ground_truth": "ground_truth.jsonl",
}


@dataclass(frozen=True)
class UserData:
    folder: Path                # the user's folder (its name: `folder.name`)
    n_docs: int
    n_questions: int
    question_ids: frozenset[str]
    run_files: int              # one per question: the agent answered every one
    runs_by_question: dict[str, int]

    def path(self, key: str) -> Path:
        return self.folder / LAYOUT[key]

    def data_params(self, prefix: str) -> dict[str, str]:
        """params.yaml `data:` entries for this folder placed at ``prefix`` (relative to the project)."""
        return {key: f"{prefix}/{rel}" for key, rel in LAYOUT.items()}


def _lrat(cwd: Path, *args: str, timeout: float = 900) -> None:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MLFLOW_TRACKING_URI": "",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([str(VENV_BIN / "lrat"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"lrat {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")


def build_user_files(root: Path, name: str = "mydata", n_docs: int = N_DOCS, n_questions: int = N_QUESTIONS
                     ) -> UserData:
    """``root``/``name``: the user's folder, built from a fresh simulated world in ``root``/simulator (removed)."""
    sim = root / "simulator"
    sim.mkdir(parents=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["world"].update(n_docs=n_docs, n_questions=n_questions)
    params["retrieval"]["cache_dir"] = ".cache/embeddings"  # inside sim/, removed with it
    (sim / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    _lrat(sim, "simulate", "world", "--out", "world", "--retriever", "", "--metrics", "world.json", "--quiet")
    _lrat(sim, "simulate", "agent", "--world", "world", "--split", "all", "--out", "runs", "--metrics",
          "agent.json", "--quiet", timeout=1500)

    user = root / name
    for key, world_name in WORLD_NAMES.items():
        target = user / LAYOUT[key]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sim / "world" / world_name, target)
    # run files under the user's own names (a running number, not the question id), as their agent wrote them
    runs = user / LAYOUT["runs"]
    runs.mkdir(parents=True)
    by_question: dict[str, int] = {}
    for number, path in enumerate(sorted(sim.glob("runs/*.json")), start=1):
        qid = str(json.loads(path.read_text(encoding="utf-8"))["query_id"])
        by_question[qid] = by_question.get(qid, 0) + 1
        shutil.copyfile(path, runs / f"trace-{number:05d}.json")
    questions = frozenset(line.split("\t", 1)[0] for line in
                          (user / LAYOUT["queries"]).read_text(encoding="utf-8").splitlines() if line.strip())
    shutil.rmtree(sim)  # the simulator's world is gone: nothing the pipeline runs can read it

    leftovers = [p for p in user.rglob("*") if p.name in ("splits.json", "simulation.json")]
    assert not leftovers, f"a user's folder has no split and no simulator state: {leftovers}"
    assert len(questions) == n_questions and set(by_question) == set(questions), "the agent ran every question"
    return UserData(user, n_docs, n_questions, questions, sum(by_question.values()), by_question)
