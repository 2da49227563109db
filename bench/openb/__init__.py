"""The FGD experiment on the Alibaba openb trace as a benchmark suite: ``python -m bench openb``.

``runner`` runs (pod list × seed × policy) online runs and writes ``results.csv`` (one row per run)
and ``curves.csv`` (its allocation-ratio curve, 0..130 % arrived) as they finish; ``report``
builds ``report.md`` and one plot per pod list from those files and the published reference
results of the FGD paper.
"""
