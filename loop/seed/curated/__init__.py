"""Package data: the curated seed templates (``*.yaml``) and the shipped tool library
(``travel_tools.json``, OpenAI function format). Loaded by :mod:`looptool.loop.seed.catalog`."""
