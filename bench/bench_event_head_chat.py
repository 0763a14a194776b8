"""The chat's localization answer on one night, and how long each question takes (the first reads the night's
signals and runs the fact reader's event head; later ones use the cached reading).

Run: python bench/bench_event_head_chat.py WORKSPACE RECORDING "QUESTION" ["QUESTION" ...]
(output kept in eval/results/event-head-localization/chat_probe.txt)."""
import sys
import time

from sleeplm.agent import answers, night_tools
from sleeplm.agent.context import ToolContext
from sleeplm.agent.state import SessionState
from sleeplm.index.queries import Cohort

c = Cohort(sys.argv[1]); ctx = ToolContext(c, SessionState())
for q in sys.argv[3:]:
    t = time.time(); r = night_tools.localize_events(ctx, q, sys.argv[2])
    print(f"--- {q!r} ({time.time() - t:.1f} s, method {r.get('method')})"); print(answers.localize_events(r)[:1800])
