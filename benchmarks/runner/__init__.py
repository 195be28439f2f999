"""The evaluation runner: chat client, resumable per-cell storage, eval/sweep/rescore, reports."""
