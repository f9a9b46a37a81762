"""A generated research world: made-up entities whose pages link them (the hops), multi-hop questions that
describe the entities the way users do, and the evidence each question needs.

Everything is drawn from one ``random.Random(seed)`` in a fixed order, so a seed gives a byte-identical world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from lrat.simulate.vocab import (
    BACKGROUND_TOPICS,
    BIRDS,
    COLORS,
    FIRST_NAMES,
    KINDS,
    ORG_KINDS,
    PLANTS,
    PROFESSIONS,
    RELATIONS,
    SIGNATURE_ADJ,
    SIGNATURE_NOUN,
    SIGNATURE_VERBS,
    SYLLABLES_A,
    SYLLABLES_B,
    WORK_ADJ,
    WORK_NOUN,
    Relation,
)

KIND_SHARE = {"person": 0.30, "island": 0.10, "town": 0.15, "vessel": 0.10, "organization": 0.12, "work": 0.12,
              "species": 0.11}
INTRO = {
    "person": ("{n} was a {p} from the northern coast.", "{n} was a {p} whose work is still cited in the region."),
    "island": ("{n} is a small island in the outer archipelago.", "{n} is an island off the northern coast."),
    "town": ("{n} is a town on the northern coast.", "{n} is a small coastal town."),
    "vessel": ("{n} is a passenger ferry.", "{n} is a motor vessel used on the island routes."),
    "organization": ("The {n} is an institution of the northern coast.", "The {n} is a learned body."),
    "work": ("{n} is a book by a writer of the coast.", "{n} is a well-known regional book."),
    "species": ("The {n} is a flowering plant.", "The {n} is a rare wild plant of the region."),
}
CONTEXT = (
    "Older maps spell the name in several different ways.",
    "The surrounding coast is known for sudden storms and long summer evenings.",
    "In the nineteenth century the area was reached only by sailing boats from the mainland.",
    "A local society has collected photographs and oral histories about it.",
    "Records from the period are incomplete, and some details are disputed.",
    "Local guides often mention it, although few visitors know the full story.",
    "A short account appears in the regional almanac.",
    "It is sometimes confused with similarly named places and people of the coast.",
    "Much of what is known comes from letters and parish records.",
    "It features in several travel diaries of the last century.",
)
QUESTION_FORMS = ("What is the name of {np}?", "Identify {np}.", "Can you find {np}?")


@dataclass
class Entity:
    id: int
    kind: str
    name: str
    year: int
    traits: list[int]  # indices into KINDS[kind].traits
    profession: int | None = None
    signature: tuple[int, str] = (0, "")  # (verb index, "adjective noun")
    relations: dict[str, int] = field(default_factory=dict)  # relation name -> object entity id
    docid: str = ""


@dataclass
class Question:
    qid: str
    text: str
    answer: str
    chain: list[int]  # entity ids A0..AH
    relations: list[str]  # relation names r1..rH
    clues: list[str]  # question-side clue per chain entity
    nouns: list[str]  # question-side type noun per chain entity
    evidence: list[str]  # docids of A0..A(H-1): the pages that state the hops
    golds: list[str]  # docids that state the answer
    named: list[bool]  # which chain entities the question names
    split: str = ""


@dataclass
class World:
    entities: list[Entity]
    docs: list[dict[str, Any]]  # {docid, title, text}
    questions: list[Question]

    def entity_by_docid(self) -> dict[str, Entity]:
        return {e.docid: e for e in self.entities}


def _root(rng: random.Random, long: bool = False) -> str:
    root = rng.choice(SYLLABLES_A) + rng.choice(SYLLABLES_B)
    return (root + rng.choice(SYLLABLES_B) if long else root).capitalize()


def _name(kind: str, rng: random.Random, surnames: list[str], tries: int = 0) -> str:
    """Two-syllable names collide once a kind has thousands of entities; three syllables then keep them unique."""
    root = _root(rng, long=tries > 5)
    if kind == "person":
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(surnames) if tries < 20 else _root(rng, True)}"
    if kind == "island":
        return rng.choice((f"{root} Island", f"Isle of {root}", f"{root} Holm"))
    if kind == "town":
        return rng.choice((f"Port {root}", f"{root}by", f"{root}ford", f"{root} Harbour"))
    if kind == "vessel":
        return f"MV {root} {rng.choice(BIRDS)}"
    if kind == "organization":
        return f"{root} {rng.choice(ORG_KINDS)}"
    if kind == "work":
        return f"The {rng.choice(WORK_ADJ)} {rng.choice(WORK_NOUN)} of {root}"
    return f"{root} {rng.choice(COLORS)} {rng.choice(PLANTS)}"


def _entities(n: int, rng: random.Random) -> list[Entity]:
    surnames = sorted({_root(rng) for _ in range(max(8, n // 10))})
    entities: list[Entity] = []
    seen: set[str] = set()
    for kind, share in KIND_SHARE.items():
        for _ in range(max(4, round(n * share))):
            name, tries = _name(kind, rng, surnames), 0
            while name in seen:
                tries += 1
                name = _name(kind, rng, surnames, tries)
            seen.add(name)
            traits = rng.sample(range(len(KINDS[kind].traits)), 3)
            profession = rng.randrange(len(PROFESSIONS)) if kind == "person" else None
            signature = (rng.randrange(len(SIGNATURE_VERBS)),
                         f"{rng.choice(SIGNATURE_ADJ)} {rng.choice(SIGNATURE_NOUN)}")
            entities.append(Entity(len(entities), kind, name, rng.randint(1780, 1960), traits, profession, signature))
    by_kind: dict[str, list[Entity]] = {}
    for e in entities:
        by_kind.setdefault(e.kind, []).append(e)
    for e in entities:
        options = [r for r in RELATIONS if r.subject == e.kind]
        for rel in rng.sample(options, min(len(options), rng.randint(2, 3))):
            target = rng.choice(by_kind[rel.object])
            if target.id != e.id:
                e.relations[rel.name] = target.id
    return entities


def _page(e: Entity, entities: list[Entity], rng: random.Random) -> str:
    kind = KINDS[e.kind]
    prof = PROFESSIONS[e.profession].doc if e.profession is not None else ""
    sentences = [rng.choice(INTRO[e.kind]).format(n=e.name, p=prof), kind.year_doc.format(n=e.name, y=e.year)]
    sentences += [f"{e.name} {kind.traits[t].doc}." for t in e.traits]
    sentences.append(f"{e.name} {SIGNATURE_VERBS[e.signature[0]].doc} {_article(e.signature[1])}.")
    rels = {r.name: r for r in RELATIONS}
    for name, target in e.relations.items():
        sentences.append(rng.choice(rels[name].doc).format(s=e.name, o=entities[target].name))
    for extra in rng.sample(CONTEXT, 2):
        sentences.insert(rng.randint(2, len(sentences)), extra)
    text = " ".join(s[0].upper() + s[1:] for s in sentences)
    return f"{e.name}\n{text}"


def _background(rng: random.Random, entities: list[Entity]) -> tuple[str, str]:
    topic, template = rng.choice(BACKGROUND_TOPICS)
    a, b, c = (x.name for x in rng.sample(entities, 3))
    title = f"{topic} ({rng.randint(1, 40)})"
    extra = rng.sample(CONTEXT, 3)
    return title, f"{title}\n{template.format(a=a, b=b, c=c)} {' '.join(extra)}"


def _noun(e: Entity, rng: random.Random) -> str:
    if e.profession is not None:
        return rng.choice(PROFESSIONS[e.profession].question)
    return rng.choice(KINDS[e.kind].nouns)


def _article(noun_phrase: str) -> str:
    return ("an " if noun_phrase[0] in "aeiou" else "a ") + noun_phrase


def _clue(e: Entity, rng: random.Random, n: int) -> str:
    """The signature detail first (what makes the page findable), then traits or the year (what pins it down)."""
    kind = KINDS[e.kind]
    verb = rng.choice(SIGNATURE_VERBS[e.signature[0]].question)
    parts = [f"{verb} {_article(e.signature[1])}".replace("a a ", "a ").replace("a an ", "an ")]
    options = [rng.choice(kind.traits[t].question) for t in e.traits[:2]]
    options.append(rng.choice(kind.year_question).format(y=e.year))
    return " and ".join(parts + rng.sample(options, n - 1))


def _question(qid: str, chain: list[Entity], rels: list[Relation], rng: random.Random, name_rate: float) -> Question:
    """Names some entities of the chain (as multi-hop questions do) and describes the rest by paraphrased clues."""
    nouns = [_noun(e, rng) for e in chain]
    clues = [_clue(e, rng, 1) for e in chain]
    named = [i < len(chain) - 1 and rng.random() < name_rate for i in range(len(chain))]
    np = f"a certain {nouns[0]}"
    for i, rel in enumerate(rels, start=1):
        np = rng.choice(rel.question).format(o=f"the {nouns[i]}", s=np)
    parts = [rng.choice(QUESTION_FORMS).format(np=np)]
    for i, (noun, clue) in enumerate(zip(nouns, clues, strict=True)):
        ordinal = "" if nouns.index(noun) == i else "second "
        parts.append(f"The {ordinal}{noun} is {chain[i].name}." if named[i] else f"The {ordinal}{noun} {clue}.")
    evidence = [e.docid for e in chain[:-1]]  # the pages that state each hop; the answer's own page is a gold
    return Question(qid, " ".join(parts), chain[-1].name, [e.id for e in chain], [r.name for r in rels], clues,
                    nouns, evidence, [chain[-2].docid, chain[-1].docid], named)


def _chains(entities: list[Entity], n: int, hops: tuple[int, int], name_rate: float,
            rng: random.Random) -> list[Question]:
    rels = {r.name: r for r in RELATIONS}
    questions: list[Question] = []
    used: set[tuple[int, ...]] = set()
    attempts = 0
    while len(questions) < n and attempts < n * 200:
        attempts += 1
        length = rng.randint(*hops)
        chain = [rng.choice(entities)]
        chosen: list[Relation] = []
        while len(chosen) < length:
            options = sorted(r for r in chain[-1].relations if entities[chain[-1].relations[r]] not in chain)
            if not options:
                break
            name = rng.choice(options)
            chosen.append(rels[name])
            chain.append(entities[chain[-1].relations[name]])
        key = tuple(e.id for e in chain)
        if len(chosen) < length or key in used:
            continue
        used.add(key)
        questions.append(_question(str(len(questions) + 1), chain, chosen, rng, name_rate))
    if len(questions) < n:
        raise ValueError(f"could only build {len(questions)} of {n} questions; raise world.n_docs")
    return questions


def generate_world(
    seed: int, n_docs: int = 4000, n_questions: int = 1200, hops: tuple[int, int] = (2, 4),
    background_share: float = 0.15, split: tuple[float, float, float] = (0.7, 0.1, 0.2), name_rate: float = 0.9,
) -> World:
    """Why one function: the draw order *is* the seed contract (same seed, same bytes)."""
    rng = random.Random(seed)
    entities = _entities(round(n_docs * (1 - background_share)), rng)
    pages: list[tuple[str, str, Entity | None]] = [(e.name, _page(e, entities, rng), e) for e in entities]
    pages += [(*_background(rng, entities), None) for _ in range(n_docs - len(entities))]
    order = list(range(len(pages)))
    rng.shuffle(order)  # docids must not reveal the kind of page
    docs = []
    for rank, i in enumerate(order):
        title, text, entity = pages[i]
        docid = str(10001 + rank)
        if entity is not None:
            entity.docid = docid
        docs.append({"docid": docid, "title": title, "text": text})
    docs.sort(key=lambda d: int(d["docid"]))
    questions = _chains(entities, n_questions, hops, name_rate, rng)
    ids = list(range(len(questions)))
    rng.shuffle(ids)
    n_train = round(split[0] * len(ids))
    n_dev = round(split[1] * len(ids))
    for pos, i in enumerate(ids):
        questions[i].split = "train" if pos < n_train else "dev" if pos < n_train + n_dev else "test"
    return World(entities, docs, questions)
