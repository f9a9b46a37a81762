"""A simulated deep-research agent: think → search → browse → answer, with the behaviour the paper measured.

The policy knows the world's hidden structure (which page states which hop) only the way a careful reader
would: it recognises a page it is looking for when the page shows up in the results, with some probability, and
it learns the next entity's name only by *browsing* the page that states it. So a retriever that ranks the pages
higher lets it finish with fewer searches and succeed more often.

`run_agent` is a generator: it yields each query and receives the hits, so a driver can batch retrieval across
many agents running side by side.
"""

from __future__ import annotations

import json
import random
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from lrat.retrieval.base import Hit
from lrat.settings import Agent as AgentConfig  # params.yaml `agent:`
from lrat.simulate import reasoning as say
from lrat.simulate.vocab import RELATIONS
from lrat.simulate.world import Entity, Question

REL = {r.name: r for r in RELATIONS}
_WORD = set("the a an of and that which who where on in to is was by for with".split())


@dataclass
class WorldView:
    entities: list[Entity]
    docs: dict[str, tuple[str, str]]  # docid -> (title, text)
    _words: dict[str, set[str]] = field(default_factory=dict)
    _snippets: dict[tuple[str, int], str] = field(default_factory=dict)

    def snippet(self, docid: str, words: int) -> str:
        text = self._snippets.get((docid, words))
        if text is None:
            title, body = self.docs[docid]
            text = self._snippets[docid, words] = f"DocID:{docid}\n[{title}]\n{' '.join(body.split()[:words])}"
        return text

    def shows(self, docid: str, phrase: str, words: int) -> bool:
        """Whether the result's snippet (what the agent reads in the list) contains ``phrase``."""
        return phrase in self.snippet(docid, words).lower()

    def shown_words(self, docid: str) -> set[str]:
        """Content words of what the result list shows (title + opening), computed once per page."""
        words = self._words.get(docid)
        if words is None:
            title, text = self.docs[docid]
            words = self._words[docid] = _content(title + " " + text[:300])
        return words


def _content(text: str) -> set[str]:
    return {w for w in text.lower().replace(",", " ").replace(".", " ").split() if w not in _WORD}


def _search_output(query: str, hits: list[Hit], view: WorldView, words: int) -> str:
    blocks = [view.snippet(hit.docid, words) for hit in hits]
    return f"A search for '{query}' found {len(hits)} results:\n\n## Web Results\n" + "\n\n".join(blocks)


def _item(kind: str, output: Any = None, tool: str | None = None, args: Any = None) -> dict[str, Any]:
    return {"type": kind, "tool_name": tool, "arguments": args, "output": output}


class _Run:
    """One agent's state; kept apart from the generator so the policy reads as plain methods."""

    def __init__(self, q: Question, view: WorldView, cfg: AgentConfig, rng: random.Random) -> None:
        self.q, self.view, self.cfg, self.rng = q, view, cfg, rng
        self.chain = [view.entities[i] for i in q.chain]
        self.hops = len(q.evidence)
        self.page_of = {e.docid: i for i, e in enumerate(self.chain)}
        self.known = {i for i, named in enumerate(q.named) if named}
        self.done: set[int] = set()
        self.failures: dict[int, int] = {}
        self.browsed: set[str] = set()
        self.seen: set[str] = set()  # every docid shown or opened: the run file's retrieved_docids
        self.asked: dict[int, int] = {}
        self.items: list[dict[str, Any]] = []
        self.searches = 0
        self.past: list[str] = []
        self.verify_left = 0

    def target(self) -> int | None:
        open_ = [i for i in range(self.hops) if i not in self.done]
        if not open_:
            return None
        named = [i for i in open_ if i in self.known and self.failures.get(i, 0) < self.cfg.patience]
        return named[0] if named else open_[0]

    def want(self, i: int) -> str:
        return f"the {self.q.nouns[i]} that {self.q.clues[i]}" if i not in self.known else self.chain[i].name

    def query(self, i: int) -> str:
        if self.verify_left and self.past:
            self.verify_left -= 1
            if self.rng.random() < self.cfg.p_repeat_query:
                return self.rng.choice(self.past)
            done = self.chain[self.rng.choice(sorted(self.done))] if self.done else self.chain[i]
            return f"{done.name} {self.q.clues[self.chain.index(done)]}"
        e, n = self.chain[i], self.asked.get(i, 0)
        self.asked[i] = n + 1
        if self.searches == 0:
            return self.q.text
        rel = REL[self.q.relations[i]]
        if i in self.known:
            options = [e.name, f"{e.name} {self.rng.choice(rel.keyword)}", f"{e.name} {self.q.nouns[i]}"]
        else:
            options = [f"{self.q.nouns[i]} {self.q.clues[i]}", self.q.clues[i],
                       f"{self.q.nouns[i]} {self.q.clues[i]} {self.rng.choice(rel.keyword)}"]
            if i > 0 and (i - 1) in self.known:
                prev = REL[self.q.relations[i - 1]]
                phrase = self.rng.choice(prev.question)
                options.append(phrase.format(o=f"the {self.q.nouns[i]}", s=self.chain[i - 1].name))
        text = options[n % len(options)]
        words = text.split()
        if len(words) > 3 and self.rng.random() < 0.15:
            del words[self.rng.randrange(len(words))]
        return " ".join(words)

    def clue_shown(self, docid: str, i: int) -> bool:
        """The question's clue for hop ``i`` quotes the entity's signature phrase ("a copper weathervane"); a
        snippet that shows the phrase is what lets the agent recognise a described page without opening it."""
        return self.view.shows(docid, self.chain[i].signature[1], self.cfg.snippet_words)

    def p_described(self, docid: str, i: int) -> float:
        cfg = self.cfg
        if cfg.p_browse_described_unshown is None or self.clue_shown(docid, i):
            return cfg.p_browse_described
        return cfg.p_browse_described_unshown

    def p_browse(self, docid: str, rank: int, query: set[str], target: int) -> float:
        cfg = self.cfg
        position = cfg.position_top + (cfg.position_bottom - cfg.position_top) * (rank - 1) / max(1, cfg.k - 1)
        if docid in self.browsed:
            return cfg.p_rebrowse * position
        hop = self.page_of.get(docid)
        if hop is not None and hop < self.hops and hop not in self.done:
            if hop == target:
                p = cfg.p_browse_known if hop in self.known else self.p_described(docid, hop)
            else:
                p = cfg.p_browse_known * 0.7 if hop in self.known else self.p_described(docid, hop) * 0.5
        elif hop == self.hops and self.hops - 1 in self.done:
            p = cfg.p_verify_answer
        elif cfg.p_browse_lookalike and target not in self.known and self.clue_shown(docid, target):
            p = cfg.p_browse_lookalike  # a distractor: its snippet shows the phrase the agent is looking for
        else:
            overlap = len(query & self.view.shown_words(docid)) / max(1, len(query))
            p = cfg.p_browse_other + cfg.overlap_gain * overlap * overlap
        return min(1.0, p * position)

    def browse(self, docid: str, target: int) -> None:
        title, text = self.view.docs[docid]
        repeat = docid in self.browsed
        self.browsed.add(docid)
        self.items.append(_item("tool_call", f"Document {docid}:\n{text}", "get_document",
                                json.dumps({"docid": docid})))
        hop = self.page_of.get(docid)
        cfg, rng = self.cfg, self.rng
        if hop is not None and hop < self.hops and not repeat:
            self.done.add(hop)
            self.verify_left += rng.choice(cfg.verify_searches)
            nxt = self.chain[hop + 1]
            self.known.add(hop + 1)
            fact = f"It confirms that {self.chain[hop].name} is linked to {nxt.name}."
            if hop + 1 == self.hops:
                plan = f"So the answer should be {nxt.name}."
            else:
                plan = f"Next I need the page on {nxt.name}."
            opening = say.useful(self.chain[hop].name, fact, plan)
            if rng.random() < cfg.p_negative_evidence:
                opening = say.negative(title, self.want(target), rng) + opening[1:]
            mean = cfg.mean_reasoning_evidence
        elif hop == self.hops and not repeat:
            opening, mean = [f"The page on {title} matches the remaining clues."], cfg.mean_reasoning_evidence * 0.8
        else:
            judge = say.negative if rng.random() < cfg.p_negative_other else say.neutral
            opening, mean = judge(title, self.want(target), rng), cfg.mean_reasoning_other
        self.items.append(_item("reasoning", say.fill(rng, opening, text, say.draw_length(rng, mean))))


def run_agent(q: Question, view: WorldView, cfg: AgentConfig, rng: random.Random, items: list | None = None,
              ) -> Generator[str, list[Hit], dict[str, Any]]:
    """``items``: an empty list the run appends its items to (and returns as ``result``), so a caller can watch
    them between searches; lrat.simulate.http_agent sends the reasoning and browses to the service as they come."""
    run = _Run(q, view, cfg, rng)
    if items is not None:
        run.items = items
    items, truncate_at = run.items, None
    # drawn first, so two retrievers compared on the same seed face the same luck (common random numbers)
    u_answer, u_guess = rng.random(), rng.random()
    if rng.random() < cfg.p_truncate:
        truncate_at = rng.randint(1, max(1, cfg.max_searches - 1))
    items.append(_item("reasoning", say.fill(rng, [f"The question asks: {q.text}", "I will work through the chain "
                                                   "of clues one entity at a time."], "", say.draw_length(rng, 60))))
    while (target := run.target()) is not None and run.searches < cfg.max_searches:
        if run.searches == truncate_at:
            return _finish(run, None, "exceed available llm calls")
        query = run.query(target)
        if run.searches:
            items.append(_item("reasoning", f"I still need {run.want(target)}. Let me search for: {query}"))
        hits = yield query
        run.searches += 1
        run.past.append(query)
        shown = list(hits)
        run.seen.update(h.docid for h in shown)
        if cfg.shuffle_display:
            rng.shuffle(shown)
        items.append(_item("tool_call", _search_output(query, shown, view, cfg.snippet_words), "search",
                           json.dumps({"query": query})))
        words = _content(query)
        picks = [h.docid for rank, h in enumerate(shown, 1)
                 if rng.random() < run.p_browse(h.docid, rank, words, target)]
        picks = picks[: cfg.max_browses_per_search]
        if not picks:
            run.failures[target] = run.failures.get(target, 0) + 1
            items.append(_item("reasoning", f"None of these results is about {run.want(target)}."))
        else:
            titles = ", ".join(view.docs[d][0] for d in picks)
            items.append(_item("reasoning", f"The results include {titles}, which looks promising. Let me open it."))
        for docid in picks:
            run.browse(docid, target)
    answer_known = run.hops - 1 in run.done
    if answer_known:
        missing = sum(1 for i in range(run.hops) if i not in run.done) / run.hops  # clues it could not check
        wrong = u_answer < cfg.p_wrong_answer + cfg.p_wrong_unverified * missing
        return _finish(run, _wrong_answer(run) if wrong else q.answer, "completed")
    if u_guess < cfg.p_guess:
        return _finish(run, _wrong_answer(run), "completed")
    return _finish(run, None, "exceed available llm calls")


def _wrong_answer(run: _Run) -> str:
    kind = run.chain[-1].kind
    options = [e.name for e in run.view.entities if e.kind == kind and e.name != run.q.answer]
    return run.rng.choice(options)


def _finish(run: _Run, answer: str | None, status: str) -> dict[str, Any]:
    if answer is not None:
        chain = " → ".join(e.name for e in run.chain[: run.hops] if run.page_of[e.docid] in run.done)
        confidence = run.rng.randint(55, 95)
        run.items.append(_item("output_text", f"Explanation: I followed the chain {chain or 'of clues'}.\n"
                                              f"Exact Answer: {answer}\nConfidence: {confidence}%"))
    return {"status": status, "result": run.items, "searches": run.searches, "answer": answer,
            "seen": run.seen | run.browsed}
