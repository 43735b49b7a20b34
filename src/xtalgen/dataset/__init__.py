"""The data stage: an MP-20-style dataset to structures tables and prompt records.

Takes a split from a local folder or a URL fetched once into a verified cache (``sources``), reads
its rows into checked structures (``mp20``); gives per split a structures table, prompt records,
rejects and a summary (``prepare``). Imports only ``xtalgen.text`` among the stages.
"""
