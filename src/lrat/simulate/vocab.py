"""The language of the generated world.

Documents and questions describe the same facts in different words: a document says "red cliffs", a question
says "crimson rock faces". The pairs are shared by the whole world, so a retriever that learns them from agent
trajectories on training questions gets better at held-out questions too (the gap LRAT is meant to close).
"""

from __future__ import annotations

from dataclasses import dataclass

SYLLABLES_A = ("kel", "mar", "tar", "vel", "bren", "ost", "ar", "lun", "hal", "dor", "fen", "gal", "iss", "jor",
               "kas", "lor", "mor", "nes", "orv", "pel", "quar", "ros", "sel", "tor", "ul", "ves", "wen", "yr",
               "zan", "bal", "cal", "dun", "eld", "fal", "gar", "hest", "ind", "kor", "lind", "mael")
SYLLABLES_B = ("da", "row", "moor", "ing", "ven", "holm", "wick", "a", "en", "is", "ara", "eth", "ith", "or",
               "an", "el", "ost", "und", "ley", "mere", "by", "ton", "rin", "sa", "ke", "ra", "lo", "vi")
FIRST_NAMES = ("Ilse", "Oskar", "Greta", "Anton", "Maren", "Tobias", "Liv", "Emil", "Sigrid", "Johan", "Ada",
               "Henrik", "Vera", "Nils", "Clara", "Felix", "Ingrid", "Pavel", "Rosa", "Stefan", "Thea", "Viktor",
               "Alma", "Bruno", "Dagny", "Edvin", "Frida", "Gustav", "Helga", "Ivar", "Jana", "Karl", "Lotte",
               "Mikael", "Nora", "Otto", "Petra", "Rune", "Selma", "Ulrik")
BIRDS = ("Gull", "Tern", "Petrel", "Curlew", "Heron", "Puffin", "Skua", "Plover", "Gannet", "Eider")
COLORS = ("blue", "white", "golden", "crimson", "pale", "silver", "dark", "spotted", "violet", "green")
PLANTS = ("saxifrage", "gentian", "sedge", "campion", "orchid", "thrift", "moss", "fern", "lily", "heather")
WORK_ADJ = ("Silent", "Northern", "Drowned", "Last", "Hidden", "Winter", "Glass", "Salt", "Long", "Broken")
WORK_NOUN = ("Harbour", "Lantern", "Meadow", "Voyage", "Orchard", "Tide", "Archive", "Shore", "Garden", "Bell")
ORG_KINDS = ("Botanical Society", "Maritime Museum", "Observatory", "Shipyard", "Survey Office", "Library",
             "Trading Company", "Academy", "Lighthouse Trust", "Printing House")


@dataclass(frozen=True)
class Phrase:
    """One fact as a document states it and as questions paraphrase it."""

    doc: str
    question: tuple[str, ...]


@dataclass(frozen=True)
class Kind:
    name: str
    nouns: tuple[str, ...]  # how a question names the type ("island", "isle")
    traits: tuple[Phrase, ...]  # clue material: each entity gets two
    year_doc: str  # a year fact, e.g. "{n} was founded in {y}."
    year_question: tuple[str, ...]


def _p(doc: str, *question: str) -> Phrase:
    return Phrase(doc, question)


PROFESSIONS = (
    _p("botanist", "plant scientist", "student of wild plants"),
    _p("cartographer", "mapmaker", "drawer of charts"),
    _p("painter", "artist who worked in oils", "landscape artist"),
    _p("composer", "writer of music", "music maker"),
    _p("engineer", "designer of machines", "builder of engines"),
    _p("historian", "chronicler of the past", "scholar of old records"),
    _p("physician", "doctor", "medical practitioner"),
    _p("architect", "designer of buildings", "building planner"),
    _p("astronomer", "observer of the night sky", "stargazer"),
    _p("geologist", "student of rocks", "earth scientist"),
)

KINDS: dict[str, Kind] = {
    "person": Kind(
        "person", ("person",),
        (
            _p("kept meticulous field notebooks", "recorded everything carefully in notebooks"),
            _p("walked to work along the coast every day", "commuted on foot beside the sea"),
            _p("lost an eye in a childhood accident", "was half-blind from an early age"),
            _p("spoke five languages", "was fluent in many tongues"),
            _p("refused every public honour", "turned down all awards"),
            _p("kept bees in a walled garden", "was an amateur beekeeper"),
            _p("wrote letters to the king every winter", "corresponded with the monarch each year"),
            _p("never learned to swim", "could not swim"),
            _p("played the cello in a village band", "was a cellist in a local ensemble"),
            _p("collected old clocks", "owned a large collection of timepieces"),
            _p("was a champion rower in youth", "won rowing races as a young person"),
            _p("spent three years in exile", "lived abroad in banishment for a time"),
        ),
        "{n} was born in {y}.", ("was born in {y}", "came into the world in {y}"),
    ),
    "island": Kind(
        "island", ("island", "isle"),
        (
            _p("is known for its red cliffs", "is famous for crimson rock faces"),
            _p("has no trees", "is completely treeless"),
            _p("is home to a large puffin colony", "hosts thousands of nesting seabirds"),
            _p("is linked to the mainland by a causeway at low tide", "can be reached on foot when the tide is out"),
            _p("has a ruined chapel on its summit", "has the remains of a church on its highest point"),
            _p("is covered in heather moorland", "is carpeted with purple heath"),
            _p("has a single freshwater spring", "has only one source of drinking water"),
            _p("was abandoned during a famine", "lost its people to a great hunger"),
            _p("has black sand beaches", "has dark volcanic shores"),
            _p("is ringed by dangerous reefs", "is surrounded by treacherous rocks under the water"),
        ),
        "A lighthouse was built on {n} in {y}.", ("has a lighthouse dating from {y}", "got its light tower in {y}"),
    ),
    "town": Kind(
        "town", ("town", "settlement"),
        (
            _p("holds a market every Thursday", "has a weekly Thursday fair"),
            _p("sits at the mouth of a river", "lies where a river meets the sea"),
            _p("is known for its painted wooden houses", "is famous for colourful timber homes"),
            _p("has a stone bridge with seven arches", "is crossed by an old seven-arched bridge"),
            _p("was once a whaling port", "used to be a base for hunting whales"),
            _p("has a tidal mill", "grinds grain with the power of the tides"),
            _p("is surrounded by apple orchards", "is ringed by fruit groves"),
            _p("has a clock tower in its square", "has a tall timepiece over its main plaza"),
            _p("burned down in a great fire and was rebuilt", "was destroyed by flames and reconstructed"),
            _p("is the site of a yearly boat race", "hosts an annual regatta"),
        ),
        "{n} received its town charter in {y}.", ("was chartered in {y}", "became a town in {y}"),
    ),
    "vessel": Kind(
        "vessel", ("ferry", "boat"),
        (
            _p("has a green hull", "is painted green"),
            _p("can carry forty cars", "has room for forty vehicles"),
            _p("runs only in summer", "sails during the warm months alone"),
            _p("was once used as a hospital ship", "served as a floating infirmary"),
            _p("has a wooden deck", "has timber decking"),
            _p("ran aground in a storm and was repaired", "was stranded by a gale and later fixed"),
            _p("carries the island mail", "delivers the post"),
            _p("is powered by a steam engine", "is driven by steam"),
            _p("has a bell salvaged from a wreck", "rings a bell recovered from a sunken ship"),
            _p("is the oldest ferry still sailing in the region", "is the most senior working boat around"),
        ),
        "{n} was launched in {y}.", ("was launched in {y}", "first sailed in {y}"),
    ),
    "organization": Kind(
        "organization", ("institution", "organisation"),
        (
            _p("keeps a collection of three thousand maps", "holds thousands of charts"),
            _p("publishes a yearly almanac", "issues an annual handbook"),
            _p("is housed in a former customs house", "occupies an old tax office building"),
            _p("awards a medal for field research", "gives a prize for work outdoors"),
            _p("has a rooftop telescope", "has a star-viewing instrument on its roof"),
            _p("admitted women members from the start", "was open to women from its founding"),
            _p("lost its archive in a flood", "saw its records ruined by high water"),
            _p("runs a night school", "offers evening classes"),
            _p("owns a small fleet of survey boats", "operates several research vessels"),
            _p("is governed by an elected council of twelve", "is run by a board of twelve chosen members"),
        ),
        "{n} was founded in {y}.", ("was founded in {y}", "was established in {y}"),
    ),
    "work": Kind(
        "work", ("work", "book"),
        (
            _p("was written in exile", "was composed while its author was banished"),
            _p("was banned for a decade", "was censored for ten years"),
            _p("has never been out of print", "has been continuously published"),
            _p("describes a winter voyage", "tells of a journey in the cold season"),
            _p("was illustrated with woodcuts", "carries carved-block prints"),
            _p("was first published anonymously", "appeared without its author's name"),
            _p("is set in a lighthouse", "takes place in a coastal light tower"),
            _p("was translated into twelve languages", "exists in a dozen translations"),
            _p("won a prize for prose", "received an award for its writing"),
            _p("was adapted for the stage", "was turned into a play"),
        ),
        "{n} was published in {y}.", ("was published in {y}", "came out in {y}"),
    ),
    "species": Kind(
        "species", ("plant", "flower"),
        (
            _p("has blue petals", "is blue-flowered"),
            _p("grows only above a thousand metres", "is found only high in the mountains"),
            _p("flowers in early spring", "blooms at the end of winter"),
            _p("is poisonous to sheep", "is toxic to grazing animals"),
            _p("grows in the cracks of sea cliffs", "lives in fissures of coastal rock"),
            _p("was used to dye wool", "gave colour to yarn"),
            _p("is pollinated by moths", "is visited at night by insects"),
            _p("has leaves covered in silver hairs", "has downy grey foliage"),
            _p("is protected by law", "is legally safeguarded"),
            _p("smells of honey", "has a sweet scent"),
        ),
        "{n} was first described in {y}.", ("was first described in {y}", "was named by science in {y}"),
    ),
}


@dataclass(frozen=True)
class Relation:
    name: str
    subject: str
    object: str
    doc: tuple[str, ...]  # sentences in the subject's page: {s} subject name, {o} object name
    question: tuple[str, ...]  # noun phrases for the object: {o} object noun phrase, {s} subject noun phrase
    keyword: tuple[str, ...]  # what an agent adds to a name when it searches for this hop


RELATIONS: tuple[Relation, ...] = (
    Relation("born_in", "person", "town", ("{s} grew up in {o}.", "{s} was a native of {o}."),
             ("{o} where {s} was born", "{o} that was the birthplace of {s}"), ("birthplace", "born")),
    Relation("worked_at", "person", "organization", ("{s} worked for many years at the {o}.",
                                                     "{s} held a post at the {o}."),
             ("{o} that employed {s}", "{o} where {s} spent a career"), ("employer", "worked at")),
    Relation("wrote", "person", "work", ("{s} is best remembered as the author of {o}.", "{s} wrote {o}."),
             ("{o} written by {s}", "{o} whose author was {s}"), ("book", "author of")),
    Relation("described", "person", "species", ("{s} was the first to describe the {o}.",
                                                "{s} gave the first scientific account of the {o}."),
             ("{o} first described by {s}", "{o} that {s} first documented"), ("species described", "plant")),
    Relation("trained_under", "person", "person", ("{s} trained under {o}.", "{s} was an apprentice of {o}."),
             ("{o} who taught {s}", "{o} who was the teacher of {s}"), ("teacher", "mentor")),
    Relation("lies_on", "town", "island", ("{s} lies on {o}.", "{s} is the main settlement of {o}."),
             ("{o} that is home to {s}", "{o} on which {s} stands"), ("island", "located on")),
    Relation("served_by", "island", "vessel", ("{s} is served by the ferry {o}.",
                                               "The ferry {o} calls at {s} twice a day."),
             ("{o} that serves {s}", "{o} connecting {s} to the mainland"), ("ferry", "boat service")),
    Relation("built_by", "vessel", "organization",
             ("{s} was built by the {o}.", "{s} came from the yards of the {o}."),
             ("{o} that built {s}", "{o} that constructed {s}"), ("builder", "built by")),
    Relation("founded_by", "organization", "person", ("The {s} was founded by {o}.", "{o} established the {s}."),
             ("{o} who founded {s}", "{o} who set up {s}"), ("founder", "founded by")),
    Relation("based_in", "organization", "town", ("The {s} has its headquarters in {o}.", "The {s} is based in {o}."),
             ("{o} where {s} has its seat", "{o} that hosts {s}"), ("headquarters", "based in")),
    Relation("set_on", "work", "island", ("{s} is set on {o}.", "The story of {s} takes place on {o}."),
             ("{o} where {s} is set", "{o} that is the setting of {s}"), ("setting", "set on")),
    Relation("found_on", "species", "island", ("The {s} was first found on {o}.", "The {s} grows wild on {o}."),
             ("{o} where {s} was first found", "{o} on which {s} was discovered"), ("found on", "island")),
)

BACKGROUND_TOPICS = (
    ("Ferry timetables of the archipelago", "The summer timetable lists sailings between {a}, {b} and {c}. "
     "Crossings are cancelled in strong winds, and travellers are advised to check the harbour board."),
    ("Regional museums", "Visitors to the region often combine trips to {a} and {b}. Guides also recommend {c} "
     "for its exhibitions, although opening hours vary by season."),
    ("Notable people of the coast", "Local histories mention {a}, {b} and {c} among the figures of the coast, "
     "though most accounts give only their names and a line or two about their lives."),
    ("Walking routes", "A long-distance path links {a} with {b}. Walkers report that the stretch near {c} is "
     "steep and exposed, and that the weather changes quickly."),
    ("Place names", "Several names in the region share old roots: {a}, {b} and {c} are often confused by "
     "visitors, and even by mapmakers of the last century."),
    ("Reading lists", "A reading list for the islands includes works on {a} and {b}, with a short note on {c}. "
     "The list was compiled by volunteers and is not complete."),
)

FILLER = (
    "I should be careful not to confuse similar names.",
    "Several entities in this region share parts of their names, so I need to check the details.",
    "Let me keep track of what I have confirmed so far.",
    "The dates matter here, so I will compare them with the question.",
    "I will note this and move on to the next part of the question.",
    "It is worth double-checking this against another source later.",
    "The question has several constraints and each one narrows the candidates.",
    "I need to make sure every clue in the question is satisfied.",
    "Some of the search snippets are cut off, so the full page is more reliable.",
    "If this turns out wrong I can come back to the other candidates.",
    "The wording of the question suggests a chain of connected facts.",
    "So far the evidence is consistent with my plan.",
)

# A signature detail per entity ("restored a copper weathervane"): distinctive nouns a question can point at, with
# the verb paraphrased ("repaired a copper weathervane").
SIGNATURE_VERBS = (
    _p("restored", "repaired", "brought back to use"),
    _p("is remembered for a", "is known for a"),
    _p("once sheltered", "gave refuge to"),
    _p("was given", "received as a gift"),
    _p("lost", "misplaced"),
    _p("commissioned", "ordered the making of"),
    _p("displayed", "put on show"),
    _p("recovered", "found again"),
)
SIGNATURE_ADJ = ("copper", "oak", "brass", "painted", "cracked", "ivory", "enamelled", "iron", "silk", "marble",
                 "glass", "tin", "amber", "woollen", "gilded", "stone", "clay", "bronze", "leather", "pewter")
SIGNATURE_NOUN = ("weathervane", "figurehead", "lantern", "organ", "compass", "telescope", "sundial", "tapestry",
                  "anchor", "chronometer", "bell", "harp", "globe", "mirror", "music box", "chess set", "kite",
                  "spinning wheel", "sextant", "fiddle", "barometer", "rowing boat", "windmill model", "atlas",
                  "pipe organ", "hourglass", "quilt", "sea chest", "carousel horse", "ship in a bottle",
                  "herbarium", "printing press", "loom", "microscope", "clock", "banner", "font", "altar piece",
                  "figurine", "map case")
