"""Evaluation: the paper's and CDVAE's metrics of any generator's samples.

Takes samples, the training and test structures, and optionally the prescreen's and DFT's results;
gives validity (``validity``), fingerprints (``fingerprints``), the metrics (``metrics``), the
paper's published figures beside them (``paper``) and one metrics JSON (``stage``). Uses the hull
package's rates; imports no lm, prescreen or dft.
"""
