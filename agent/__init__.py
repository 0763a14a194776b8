"""sleeplm.agent: chat with a cohort — tools over a workspace, a tool-calling loop, a no-LLM router.

Main entry points: :class:`ChatSession` (the Gradio page), :func:`ask` and :func:`turn_to_dict`
(``sleeplm ask``), :func:`make_tools`, :class:`SleepRouter`, :func:`load_llm`.
"""

from .backends import BackendError, load_llm, model_label
from .loop import ChatSession, ask, run_turn
from .router import SleepRouter
from .state import AgentTurn, SessionState, ToolConfig, ToolStep, turn_to_dict
from .tools import make_tools

__all__ = ["AgentTurn", "BackendError", "ChatSession", "SessionState", "SleepRouter", "ToolConfig", "ToolStep",
           "ask", "load_llm", "make_tools", "model_label", "run_turn", "turn_to_dict"]
