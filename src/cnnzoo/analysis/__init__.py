"""What a model costs: parameters, multiply-accumulates, per-layer shapes."""
from .counting import count_macs, count_params, meta_model
from .layers import LayerRow, layer_table

__all__ = ["LayerRow", "count_macs", "count_params", "layer_table", "meta_model"]
