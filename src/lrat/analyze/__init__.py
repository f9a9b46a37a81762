"""Agent behaviour analysis (``lrat analyze``): the paper's trajectory statistics for any normalized trajectories.

Measures searches/browses per run, search/browse transitions, position bias of browses by displayed rank and
post-browse reasoning length (evidence vs non-evidence), and sets each beside the paper's value
(``lrat-method.md`` §8), so a simulator or a new agent can be checked against the behaviour LRAT relies on.
"""

from lrat.analyze.run import analyze

__all__ = ["analyze"]
