"""`lrat split`: the held-out questions of a benchmark that ships no split."""
