"""Compatibility layer: run pre-matgl-3.0 M3GNet weights with the message aggregation they were trained on.

matgl 3.0 (its change #761) moved M3GNet's node update from summing edge messages onto the
*destination* atom of each bond to the *source* atom. Weights trained before the change still load
into matgl 4.x with every key matched and no warning, but give compound energies off by a median of
+0.5 eV/atom. :func:`restore_destination_aggregation` puts the old convention back on one loaded model
instance; nothing in matgl itself is modified.
"""

from __future__ import annotations

import hashlib
import types
from typing import TYPE_CHECKING, Literal

import torch
from matgl.layers._graph_convolution import M3GNetGraphConv, scatter_add

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "PRE_761_WEIGHTS",
    "Aggregation",
    "predates_source_aggregation",
    "restore_destination_aggregation",
]

Aggregation = Literal["auto", "destination", "source"]

# SHA-256 of state.pt of the published M3GNet weights trained before matgl 3.0, by upstream name.
PRE_761_WEIGHTS = {
    "a9aa723705bd1a242ec8749332f137811c4a94e17995a564f8f94a9aca68061b": "M3GNet-MP-2021.2.8-PES",
    "9f710eac88ec2c666c8e488883c59768cf11c116f177e9d82896ae56f3fc338d": ("M3GNet-MatPES-PBE-v2025.1-PES"),
    "b9b3234afc655b282c7930ff32cb5a5f98edde4a93475b0d4605b59c161fe483": ("M3GNet-MatPES-r2SCAN-v2025.1-PES"),
}


def predates_source_aggregation(model_dir: Path) -> bool:
    """Whether the weights in ``model_dir`` are a known pre-matgl-3.0 M3GNet."""
    state = model_dir / "state.pt"
    if not state.is_file():
        return False
    return hashlib.sha256(state.read_bytes()).hexdigest() in PRE_761_WEIGHTS


def _destination_node_update(  # noqa: PLR0917 - the signature of the method it replaces
    self: M3GNetGraphConv,
    edge_index: torch.Tensor,
    edge_feat: torch.Tensor,
    node_feat: torch.Tensor,
    rbf: torch.Tensor,
    u_per_edge: torch.Tensor | None,
    num_nodes: int,
) -> torch.Tensor:
    """The node update (Eq. 5) of matgl 4.1, summed onto the destination atom as before #761."""
    src, dst = edge_index[0], edge_index[1]
    parts = [node_feat[src], node_feat[dst], edge_feat]
    if self.include_state:
        if u_per_edge is None:
            raise ValueError("an M3GNet layer with state features got no per-edge state")
        parts.append(u_per_edge)
    message = self.node_update_func(torch.hstack(parts)) * self.node_weight_func(rbf)
    return scatter_add(message, dst, dim_size=num_nodes, dim=0)


def restore_destination_aggregation(model: torch.nn.Module) -> int:
    """Patch every M3GNet graph convolution of ``model``; returns how many layers were patched."""
    patched = 0
    for module in model.modules():
        if isinstance(module, M3GNetGraphConv):
            module.node_update_ = types.MethodType(_destination_node_update, module)
            patched += 1
    return patched
