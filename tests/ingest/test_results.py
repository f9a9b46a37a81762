"""Rendered search outputs that carry no docids: titles and links resolved through the corpus (§5, §11.17)."""

from __future__ import annotations

from lrat.ingest.corpus import CorpusIndex, title_and_body
from lrat.ingest.results import parse_search_output


def index() -> CorpusIndex:
    corpus = CorpusIndex()
    corpus.add("1", "Smile :)\nSmile :) is a pop song.", url="https://wiki.example.org/Smile")
    corpus.add("2", "Kelda Island\nA small island (north).", url="https://wiki.example.org/Kelda")
    corpus.add("3", "---\nurl: https://wiki.example.org/Gull\ntitle: Tarrow Gull\n---\nA ferry.")
    return corpus


def test_front_matter_title_need_not_be_the_first_line():
    assert title_and_body("---\nurl: x\ntitle: \"Mercury\"\n---\nbody") == ("Mercury", "url: x\n---\nbody")
    assert title_and_body("---\ntitle: A (b)\n---\nbody") == ("A (b)", "---\nbody")
    assert title_and_body("Plain\nbody") == ("Plain", "body")
    results, error = parse_search_output("Doc 1(Title: Tarrow Gull) A ferry.", index())
    assert error is None and [r["docid"] for r in results] == ["3"]


def test_a_title_is_taken_from_its_own_line_only():
    # a ")" later in the body must not make "Kelda Island) A small island (north" a candidate title
    text = "Doc 1(Title: Kelda Island) A small island (north).\nSmile :) the song\nDoc 2(Title: Smile :)) x"
    results, _ = parse_search_output(text, index())
    assert [(r["docid"], r["title"]) for r in results] == [("2", "Kelda Island"), ("1", "Smile :)")]


def test_asearcher_doc_links_ignore_other_links_inside_the_documents():
    text = (
        "<information>\n[Doc 1](https://wiki.example.org/Kelda):\nKelda Island is small.\n"
        "[see also](https://wiki.example.org/Smile)\n\n"
        "[Doc 2](https://wiki.example.org/Smile/):\nSmile :) is a song.\n</information>"
    )
    results, error = parse_search_output(text, index())
    assert error is None
    assert [(r["docid"], r["rank"], r["title"]) for r in results] == [("2", 1, None), ("1", 2, None)]


def test_web_links_without_doc_labels_all_count():
    text = "1. [Kelda Island](https://wiki.example.org/Kelda)\nsnippet\n2. [Other](https://elsewhere.example/x)\n"
    results, _ = parse_search_output(text, index())
    assert [(r["docid"], r["title"]) for r in results] == [("2", "Kelda Island"), (None, "Other")]
