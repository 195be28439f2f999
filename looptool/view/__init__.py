"""The run browser (``looptool view``): a local web app over run folders.

Data readers (:mod:`~looptool.view.runfolder`, :mod:`~looptool.view.samples`,
:mod:`~looptool.view.tracequery`, :mod:`~looptool.view.rejects`, :mod:`~looptool.view.cells`)
read the files a run writes; ``page_run``, ``page_samples`` and ``page_traces`` (with the
shared ``page_parts``) render them with the escaping builder of :mod:`~looptool.view.html`; :mod:`~looptool.view.app` routes URLs to pages and
:mod:`~looptool.view.server` serves them on 127.0.0.1.
"""
