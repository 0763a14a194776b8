"""Chat page under load: concurrent sessions asking mixed questions through the server's API.

Starts ``sleeplm.app.web.serve`` for a workspace on a free loopback port (or uses ``--url``, which
must be a loopback address), then

1. single turn: one session asks ``--single`` questions one after another (p50 latency);
2. load: ``--sessions`` sessions at once, each with its own gradio_client (its own server-side
   session state), ask ``--turns`` questions each from a mixed list; p50/p95/max latency,
   errors, throughput.

With ``--workspace``, the server's own CPU time (its process and its read workers, from /proc) is
recorded for each phase: CPU-seconds per turn, a number the machine's other load does not change much.

The workspace is copied for each server (without the generated captions an earlier run stored in it), so
every server starts equally cold and the workspace is left as it was; ``--in-place`` serves it directly.

Bounded: at most sessions x turns + single requests, and a wall-clock ``--budget`` after which no new
request starts. Loopback only.

``--compare`` runs it twice in one run on the same workspace: first a server running the code of an
earlier commit (``--before REV``, default :data:`BEFORE_REV`, the tree before the chat-turn speed work:
extracted with ``git archive`` into a temporary folder and put first on the server's ``PYTHONPATH``),
then the working tree's. The machine's load average is recorded beside each.

    python bench/bench_chat_load.py --workspace WS [--sessions 20 --turns 3 --compare [--before REV] --llm NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from sleeplm.index.caption_store import STORE_NAME

QUESTIONS = [
    "How many nights are in the cohort?",
    "Compare AHI between phenotypes.",
    "Show the hypnogram of sim-0001 with its events.",
    "Which nights have the lowest sleep efficiency?",
    "Find epochs with obstructive apnea in REM sleep.",
    "What is the stage distribution by sex?",
    "Which nights are most similar to sim-0002?",
    "Show the signals of epoch 40 of sim-0003.",
    "Caption epoch 120 of sim-0002.",
    "What happens in epoch 150 of sim-0001?",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: The commit before the chat-turn speed work (figure, tool-schema and query-vector caches; one torch thread).
BEFORE_REV = "cf653ce"
REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "app", "encoder", "eval", "index")


@dataclass
class Result:
    label: str
    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies_s)

        def q(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, round(p * (len(lat) - 1)))], 3) if lat else None

        return {"label": self.label, "requests": len(lat) + len(self.errors), "ok": len(lat),
                "errors": len(self.errors), "p50_s": q(0.5), "p95_s": q(0.95), "max_s": q(1.0),
                "mean_s": round(statistics.fmean(lat), 3) if lat else None, "wall_s": round(self.wall_s, 2),
                "turns_per_s": round(len(lat) / self.wall_s, 3) if self.wall_s else None,
                "first_errors": self.errors[:3]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def old_tree(rev: str, folder: Path) -> Path:
    """The packages of commit ``rev`` under ``folder``, importable as ``sleeplm.*`` from the returned path."""
    tree, site = folder / "tree", folder / "site" / "sleeplm"
    tree.mkdir(parents=True)
    site.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev, *PACKAGES],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for pkg in PACKAGES:
        (site / pkg).symlink_to(tree / pkg, target_is_directory=True)
    return site.parent


def start_server(workspace: Path, port: int, llm: str | None, log: Path,
                 pythonpath: Path | None = None, concurrency: int | None = None) -> subprocess.Popen:
    extra = f", concurrency={int(concurrency)}" if concurrency else ""  # else the page's default
    code = (f"from pathlib import Path; from sleeplm.app import web; "
            f"web.serve(Path({str(workspace)!r}), host='127.0.0.1', port={port}, llm={llm!r}{extra})")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    if pythonpath is not None:  # an earlier commit's packages shadow the editable install
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.Popen([sys.executable, "-c", code], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid`` and its live descendants (Linux /proc;
    None elsewhere): what the server spent, whatever else loads the machine."""
    tick = os.sysconf("SC_CLK_TCK")

    def own_and_children(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            kids = [int(c) for t in Path(f"/proc/{p}/task").iterdir()
                    for c in (t / "children").read_text().split()]
        except OSError:
            return 0.0
        # utime, stime, cutime, cstime (fields 14-17 of stat; here after the name, from index 11)
        return sum(int(v) for v in fields[11:15]) / tick + sum(own_and_children(k) for k in kids)

    return own_and_children(pid) if Path(f"/proc/{pid}/stat").is_file() else None


def wait_ready(url: str, proc: subprocess.Popen | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with urlopen(url + "config", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout_s} s")


def check_answer(history: list[dict] | None) -> None:
    """Raise unless the chat ends with the agent's answer (not its failure message)."""
    if not history or history[-1]["role"] != "assistant":
        raise RuntimeError("no answer in the chat")
    texts = [c.get("text") or "" for m in history for c in (m.get("content") or []) if isinstance(c, dict)]
    failed = [t for t in texts if t.startswith("⚠️ the agent failed")]
    if failed:
        raise RuntimeError(failed[0][:200])


class GradioClientSession:
    """A session through ``gradio_client`` (what a Python user of the API runs; its job polling and
    threads cost CPU in this process, so on a 2-core machine it measures itself as well as the server)."""

    def __init__(self, url: str):
        from gradio_client import Client

        self.client = Client(url, verbose=False, download_files=False)

    def ask(self, question: str) -> float:
        t0 = time.perf_counter()
        history, *_ = self.client.predict(question, [], api_name="/ask")
        dt = time.perf_counter() - t0
        check_answer(history)
        return dt


class HttpSession:
    """A session through Gradio's HTTP API, as a browser tab holds one: a session hash of its own (so the
    server keeps this session's state between turns), ``POST /gradio_api/call/ask`` then the event's
    server-sent stream until ``complete``. Blocking reads on a socket: next to no client CPU, so the
    latency is the server's."""

    def __init__(self, url: str):
        self.url = url
        self.session_hash = uuid.uuid4().hex[:11]

    def ask(self, question: str) -> float:
        t0 = time.perf_counter()
        body = json.dumps({"data": [question, []], "session_hash": self.session_hash}).encode()
        req = Request(self.url + "gradio_api/call/ask", data=body, headers={"Content-Type": "application/json"})
        with urlopen(req, timeout=600) as r:
            event_id = json.load(r)["event_id"]
        event, data = None, None
        with urlopen(self.url + f"gradio_api/call/ask/{event_id}", timeout=600) as stream:
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    data = json.loads(line[5:])
                    break
        dt = time.perf_counter() - t0
        if event != "complete":
            raise RuntimeError(f"server sent {event!r}: {str(data)[:200]}")
        check_answer(data[0])
        return dt


CLIENTS = {"http": HttpSession, "gradio": GradioClientSession}


def run_session(url: str, questions: list[str], deadline: float, result: Result, lock: threading.Lock,
                client_kind: str = "http") -> None:
    try:
        client = CLIENTS[client_kind](url)
    except Exception as exc:  # noqa: BLE001 - counted as an error, the run goes on
        with lock:
            result.errors.append(f"connect: {type(exc).__name__}: {exc}")
        return
    for q in questions:
        if time.monotonic() > deadline:
            break
        try:
            dt = client.ask(q)
            with lock:
                result.latencies_s.append(dt)
        except Exception as exc:  # noqa: BLE001
            with lock:
                result.errors.append(f"{q!r}: {type(exc).__name__}: {exc}")


def run(url: str, label: str, sessions: int, turns: int, budget_s: float, offset: int = 0,
        client_kind: str = "http") -> Result:
    result, lock = Result(label), threading.Lock()
    deadline = time.monotonic() + budget_s
    threads = []
    t0 = time.perf_counter()
    for s in range(sessions):
        qs = [QUESTIONS[(offset + s * turns + i) % len(QUESTIONS)] for i in range(turns)]
        threads.append(threading.Thread(target=run_session, args=(url, qs, deadline, result, lock, client_kind),
                                        daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 120)
    result.wall_s = time.perf_counter() - t0
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", type=Path, help="workspace to serve (started here on a free loopback port)")
    ap.add_argument("--url", help="an already running page on loopback, e.g. http://127.0.0.1:7860/")
    ap.add_argument("--llm", default=None, help="the agent's model (default: the agent's own default)")
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--turns", type=int, default=3, help="questions per session under load")
    ap.add_argument("--rounds", type=int, default=1,
                    help="load phases one after another on the same server (later ones find warm caches)")
    ap.add_argument("--single", type=int, default=5, help="sequential questions for the single-turn latency")
    ap.add_argument("--budget", type=float, default=300.0, help="seconds after which no new request starts")
    ap.add_argument("--compare", action="store_true",
                    help="measure a server running --before's code first, then this tree's (needs --workspace)")
    ap.add_argument("--before", default=BEFORE_REV, help=f"the earlier commit for --compare (default {BEFORE_REV})")
    ap.add_argument("--in-place", action="store_true",
                    help="serve --workspace itself (default: a copy without its stored generated captions, so every "
                         "server starts equally cold and the workspace is not written to)")
    ap.add_argument("--concurrency", type=int, default=None,
                    help="chat turns the started server runs at once (default: the page's own default)")
    ap.add_argument("--client", choices=sorted(CLIENTS), default="http",
                    help="http: Gradio's HTTP API with blocking reads, as a browser tab (default); gradio: gradio_client "
                         "(its polling threads load this process, which shares the CPU with the server)")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args()
    if bool(args.workspace) == bool(args.url):
        ap.error("give exactly one of --workspace or --url")

    if args.url:
        url = args.url.rstrip("/") + "/"
        if urlparse(url).hostname not in LOOPBACK_HOSTS:
            ap.error("--url must be a loopback address (127.0.0.1, localhost, ::1)")
        runs = [measure(url, None, args, "given server")]
    else:
        revs = [args.before, None] if args.compare else [None]
        runs = [serve_and_measure(args.workspace, args, rev) for rev in revs]
    out = {"cpu_count": os.cpu_count(), "runs": runs}
    for run_ in runs:
        print(f"-- {run_['server']} (load average {run_['load_avg_before']} before, {run_['load_avg_after']} after)")
        for r in (run_[k] for k in run_["phases"]):
            cpu = f", server CPU {r['server_cpu_s']} s = {r['server_cpu_s_per_turn']} s/turn" if "server_cpu_s" in r else ""
            print(f"{r['label']:<32} requests {r['requests']:>3}  errors {r['errors']}  p50 {r['p50_s']} s  "
                  f"p95 {r['p95_s']} s  max {r['max_s']} s  ({r['turns_per_s']} turns/s over {r['wall_s']} s{cpu})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    if any(r[k]["errors"] for r in runs for k in r["phases"]):
        sys.exit(1)


def measure(url: str, proc: subprocess.Popen | None, args: argparse.Namespace, label: str) -> dict[str, object]:
    t0 = time.perf_counter()
    wait_ready(url, proc, 600)
    print(f"{label}: ready at {url} in {time.perf_counter() - t0:.1f} s", flush=True)
    load_before = [round(v, 2) for v in os.getloadavg()]
    cpu0 = process_cpu_s(proc.pid) if proc is not None else None
    single = run(url, "single session, sequential", 1, args.single, args.budget / 3, client_kind=args.client)
    out: dict[str, object] = {"server": label, "url": url, "client": args.client, "concurrency": args.concurrency,
                              "load_avg_before": load_before}
    phases = [("single", single, cpu0, process_cpu_s(proc.pid) if proc is not None else None)]
    for i in range(args.rounds):
        name = "load" if i == 0 else f"load round {i + 1}"
        a = process_cpu_s(proc.pid) if proc is not None else None
        res = run(url, f"{args.sessions} concurrent sessions" + (f", round {i + 1}" if i else ""),
                  args.sessions, args.turns, args.budget, offset=3, client_kind=args.client)
        phases.append((name, res, a, process_cpu_s(proc.pid) if proc is not None else None))
    out["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    for key, res, a, b in phases:
        out[key] = res.summary()
        if a is not None and b is not None:
            out[key]["server_cpu_s"] = round(b - a, 2)
            out[key]["server_cpu_s_per_turn"] = round((b - a) / max(1, len(res.latencies_s)), 3)
    out["phases"] = [key for key, *_ in phases]
    return out


def serve_and_measure(workspace: Path, args: argparse.Namespace, rev: str | None) -> dict[str, object]:
    """Start a server (commit ``rev``'s code, or this tree's when None), measure it, stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_chat_load-{port}.log"
    with tempfile.TemporaryDirectory(prefix="bench-chat-before-") as tmp:
        pythonpath = old_tree(rev, Path(tmp)) if rev else None
        if not args.in_place:  # each server starts from the same files: no captions a previous run stored
            copy = Path(tmp) / "workspace"
            shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns(STORE_NAME))
            workspace = copy
        proc = start_server(workspace, port, args.llm, log, pythonpath, args.concurrency)
        print(f"server log: {log}", flush=True)
        try:
            return measure(url, proc, args, f"commit {rev} (before)" if rev else "this tree")
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
