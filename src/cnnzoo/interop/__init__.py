"""Other libraries' models and weights."""
from .peers import WeightMismatchError, build_peer, load_peer_state_dict, map_state_dict

__all__ = ["WeightMismatchError", "build_peer", "load_peer_state_dict", "map_state_dict"]
