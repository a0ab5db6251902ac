"""What a model costs: parameters, multiply-accumulates, per-layer shapes and memory."""
from ..factory import meta_model
from .counting import count_macs, count_params
from .profile import Analysis, Row, analyze
from .rules import Conventions

__all__ = ["Analysis", "Conventions", "Row", "analyze", "count_macs", "count_params", "meta_model"]
