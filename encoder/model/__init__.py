"""SleepLM model (ReCoCa): configs, network, checkpoint loading, generation and the public API.

>>> from sleeplm.encoder.model import load_model
>>> m = load_model("/path/to/sleeplm_base.pt", config="sleeplm-base")   # doctest: +SKIP
>>> m.encode_signal(x)            # [N, 512], L2-normalised              # doctest: +SKIP
>>> m.generate(x, "brain")        # list of captions                      # doctest: +SKIP
"""

from sleeplm.encoder.model.api import TRACKS, SleepLM, load_model, track_index
from sleeplm.encoder.model.checkpoint import CheckpointError, LoadReport, load_checkpoint, read_state_dict, save_checkpoint
from sleeplm.encoder.model.config import BiosignalsConfig, MultimodalConfig, ReCoCaConfig, TextConfig
from sleeplm.encoder.model.factory import create_model, get_config, list_configs, load_recoca
from sleeplm.encoder.model.generation import greedy_generate, greedy_generate_reference
from sleeplm.encoder.model.recoca import ReCoCa

__all__ = [
    "TRACKS",
    "BiosignalsConfig",
    "CheckpointError",
    "LoadReport",
    "MultimodalConfig",
    "ReCoCa",
    "ReCoCaConfig",
    "SleepLM",
    "TextConfig",
    "create_model",
    "get_config",
    "greedy_generate",
    "greedy_generate_reference",
    "list_configs",
    "load_checkpoint",
    "load_model",
    "load_recoca",
    "read_state_dict",
    "save_checkpoint",
    "track_index",
]
