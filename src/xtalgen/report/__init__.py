"""The audit report: every page, table, headline and figure, drawn from the files the stages write.

Takes the stages' tables and JSON (metrics, prescreen results and summary, the DFT manifest and
results, training logs, Snakemake's benchmark files, the run manifest); gives the report's HTML pages
and landing-page headline (``pages``, ``html``), its figures (``figures``), the job costs and sampling
throughput (``costs``) and the candidates' CIFs (``candidates``). Uses the hull package's thresholds;
imports no other stage, so a change to a stage's internals cannot change how a number is shown.
"""
