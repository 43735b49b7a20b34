"""The M3GNet prescreen: relax candidates and rate them against a convex hull.

Takes structures from any generator, a matgl potential (``potential``, run as trained by
``m3gnet_compat`` and checked by the accuracy ``gate``) and a reference hull from ``xtalgen.hull``;
gives per structure the pre-filter's verdict (``prefilter``), the relaxation (``relax``) and, through
the hull package's energies and flags, E_hull, shard by shard with a journal (``shard``). ``stage``
holds the file-level entry points. Imports the hull; no lm, dft or evaluate.
"""
