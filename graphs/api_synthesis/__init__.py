"""API synthesis from two trees (context tree x constraint tree), as a LangGraph graph.

* :mod:`.trees` loads and validates the two YAML trees;
* :mod:`.sampling` draws one leaf path from each (seeded) and merges them into a request;
* :mod:`.rules` and :mod:`.library` rule-validate a generated API (and find duplicates);
* :mod:`.graph` wires sample -> merge -> generate -> validate -> accept/retry/drop;
* :mod:`.run` runs N requests concurrently into a run folder (``run_api_synthesis``).

Importing this package registers the ``api_synth`` config section.
"""

from looptool.graphs.api_synthesis import settings as _settings  # noqa: F401  (registers api_synth)
