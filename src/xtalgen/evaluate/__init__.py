"""Evaluation: the paper's and CDVAE's metrics of any generator's samples.

Takes samples, the training and test structures, and optionally the prescreen's and DFT's results;
gives validity (``validity``), fingerprints (``fingerprints``), the metrics (``metrics``), the
paper's published figures beside them (``paper``) and one metrics JSON (``stage``). May use the
prescreen's pre-filter; imports no lm or dft.
"""
