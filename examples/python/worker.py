#!/usr/bin/env python3
"""A Baton worker in Python: speaks the worker protocol of docs/protocol.md to one shard.

python worker.py --endpoint tcp://127.0.0.1:7722 --name host/pool/1 --slots 4 \
    [--server-key-file KEYS/shard-1.key --key-file KEYS/pool-general.secret] [--tags gpu,linux]
"""
import argparse, os, random, shutil, signal, socket, struct, subprocess, sys, time
import zmq
from zmq.utils.monitor import recv_monitor_message

# ---------------------------------------------------------------- wire codec (protocol.md "Framing")
READY, WELCOME, PULL, TASKS, RESULTS, RECEIPT, CANCEL, HEARTBEAT, DISCONNECT, DEMAND, RECALL, RECALLED = range(1, 13)
SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, REJECTED = range(1, 6)
OUTCOMES = ["", "succeeded", "failed", "timed-out", "cancelled", "rejected"]
MIB = 1 << 20


class Malformed(Exception):
    pass


class Writer:
    def __init__(self, msg_id):
        self.buf = bytearray(b"BTN\x01" + bytes([msg_id]))
    def num(self, fmt, v): self.buf += struct.pack(">" + fmt, v); return self
    def string(self, s):
        b = s.encode()[:255]; self.buf += bytes([len(b)]) + b; return self
    def blob(self, b): self.buf += struct.pack(">I", len(b)) + b; return self
    def longstr(self, s): return self.blob(s.encode())
    def strings(self, xs):
        self.num("I", len(xs))
        for x in xs: self.longstr(x)
        return self
    def refs(self, refs):
        self.num("I", len(refs))
        for task, attempt in refs: self.num("Q", task).num("H", attempt)
        return self


class Reader:
    def __init__(self, data): self.d, self.i = data, 0
    def take(self, n):
        if self.i + n > len(self.d): raise Malformed("field runs past the end of the frame")
        self.i += n; return self.d[self.i - n:self.i]
    def num(self, fmt): return struct.unpack(">" + fmt, self.take(struct.calcsize(fmt)))[0]
    def text(self, b):
        try: return b.decode()
        except UnicodeDecodeError: raise Malformed("text is not UTF-8")
    def string(self): return self.text(self.take(self.num("B")))
    def blob(self, limit):
        n = self.num("I")
        if n > limit: raise Malformed(f"length {n} over the limit {limit}")
        return self.take(n)
    def longstr(self): return self.text(self.blob(MIB))
    def count(self, least):
        n = self.num("I")
        if n > 1_000_000 or n * least > len(self.d) - self.i: raise Malformed(f"count {n} too large")
        return n
    def refs(self): return [(self.num("Q"), self.num("H")) for _ in range(self.count(10))]
    def hash(self): return dict((self.string(), self.longstr()) for _ in range(self.count(5)))
    def done(self, value):
        if self.i != len(self.d): raise Malformed("octets left over after the last field")
        return value


def task_spec(r):
    t = dict(task=r.num("Q"), attempt=r.num("H"), run=r.num("Q"), job=r.string(), generation=r.num("I"),
             product=r.string(), flow=r.string(), step=r.num("H"), steps=r.num("H"), step_name=r.string(),
             partition=r.num("I"), partitions=r.num("I"), partition_key=r.longstr(), kind=r.num("B"),
             action=r.longstr(), type=r.string(), params=r.hash(), timeout=r.num("I"), moment=r.num("Q"))
    if t["kind"] not in (1, 2): raise Malformed(f"kind {t['kind']} is not an ActionKind")
    t["inputs"] = [dict(job=r.string(), step=r.num("H"), partition=r.num("I"), partition_key=r.longstr(),
                        data=r.blob(16 * MIB)) for _ in range(r.count(15))]
    return t


def decode(frame):
    """Returns (id, fields) of a message a shard sends a worker; raises Malformed otherwise."""
    if len(frame) < 5 or frame[:3] != b"BTN": raise Malformed("not a Baton frame")
    r, mid = Reader(frame[5:]), frame[4]
    if frame[3] != 1 and mid != DISCONNECT: raise Malformed(f"protocol version {frame[3]}")
    if mid == WELCOME:
        return mid, r.done(dict(shard=r.num("I"), epoch=r.num("I"), heartbeat=r.num("I"),
                                liveness=r.num("B"), result_limit=r.num("I")))
    if mid == TASKS:
        return mid, r.done(dict(set=r.num("Q"), tasks=[task_spec(r) for _ in range(r.count(68))]))
    if mid == RECEIPT: return mid, r.done(dict(tasks=r.refs()))
    if mid == CANCEL: return mid, r.done(dict(grace=r.num("I"), tasks=r.refs()))
    if mid == HEARTBEAT: return mid, r.done({})
    if mid == DISCONNECT: return mid, r.done(dict(status=r.num("H"), reason=r.string()))
    if mid == DEMAND: return mid, r.done(dict(pending=r.num("I"), weight=r.num("I")))
    if mid == RECALLED: return mid, r.done(dict(credit=r.num("I")))
    raise Malformed(f"message 0x{mid:02x} is not one a shard sends a worker")


def encode_result(w, res):
    w.num("Q", res["task"]).num("H", res["attempt"]).num("B", res["outcome"]).num("i", res["exit_code"])
    w.num("Q", res["started"]).num("I", res["duration"])
    w.longstr(res["output"]).longstr(res["log"]).longstr(res["error"]).blob(res["data"])


# ---------------------------------------------------------------- helpers
def now_ms(): return int(time.time() * 1000)
def log(msg): print(time.strftime("%H:%M:%S ") + msg, file=sys.stderr, flush=True)


def read_keys(path):
    """Reads `name = value` lines (public-key, secret-key, ...) from a Baton key file."""
    keys = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.partition("=")
            if sep and not line.lstrip().startswith("#"): keys[k.strip()] = v.strip()
    return keys


def escape(s): return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def tail_text(path, limit=4096):
    """The last `limit` octets of a file as valid UTF-8, still at most `limit` octets."""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - limit)); text = f.read().decode("utf-8", "replace")
    while len(text.encode()) > limit: text = text[1:]
    return text


class Attempt:
    """One running command: a process group of its own, its log and its scratch folder."""
    def __init__(self, spec, log_path, scratch, proc):
        self.spec, self.log_path, self.scratch, self.proc = spec, log_path, scratch, proc
        self.started, self.t0 = now_ms(), time.monotonic()
        self.deadline = self.t0 + spec["timeout"] / 1000 if spec["timeout"] else None
        self.kill_at, self.ending = None, None   # ending: TIMED_OUT or CANCELLED once we signalled it

    def stop(self, why, grace_s):
        if self.ending is None:
            self.ending, self.kill_at = why, time.monotonic() + grace_s
            self.signal(signal.SIGTERM)

    def signal(self, sig):
        try: os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError): pass


# ---------------------------------------------------------------- the worker
class Worker:
    def __init__(self, a):
        self.a, self.ctx = a, zmq.Context()
        self.session = random.getrandbits(63)
        self.host = socket.gethostname()
        self.running = {}        # (task, attempt) -> Attempt
        self.unreceipted = {}    # (task, attempt) -> result, kept until a RECEIPT covers it
        self.outbox = []         # results not yet sent on this registration
        self.sock = self.monitor = None
        self.draining, self.drain_until, self.signals, self.backoff = False, None, 0, 0

    # -- connection
    def connect(self):
        a, s = self.a, self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.IMMEDIATE, 1); s.setsockopt(zmq.LINGER, 0); s.setsockopt(zmq.MAXMSGSIZE, 64 * MIB)
        if a.key_file:
            pair, server = read_keys(a.key_file), read_keys(a.server_key_file)
            s.curve_publickey, s.curve_secretkey = pair["public-key"].encode(), pair["secret-key"].encode()
            s.curve_serverkey = server["public-key"].encode()
            self.key_desc = f"{a.key_file} (public key {pair['public-key'][:12]}…, server key {a.server_key_file})"
        else:
            self.key_desc = "no key (plain TCP, no CURVE)"
        self.monitor = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_SUCCEEDED
                                            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        s.connect(a.endpoint)
        self.sock, self.welcomed, self.ready_at, self.credit = s, False, None, 0
        self.hb, self.liveness, self.result_limit = a.heartbeat / 1000, 3, MIB
        self.last_sent = self.last_recv = self.unwelcomed_at = time.monotonic()
        log(f"connecting to {a.endpoint} as {a.name!r} with {self.key_desc}")

    def reconnect(self, why):
        log(f"{why}: reconnecting")
        self.sock.disable_monitor(); self.monitor.close(); self.sock.close()
        self.backoff = min(8.0, self.backoff * 2) if self.backoff else self.hb
        time.sleep(max(self.backoff, self.liveness * self.hb))
        self.connect()

    def send(self, frame):
        try:
            self.sock.send(bytes(frame), zmq.NOBLOCK); self.last_sent = time.monotonic(); return True
        except zmq.Again:
            return False   # no connection right now (ZMQ_IMMEDIATE): READY/results are sent again later

    def send_ready(self):
        held = list(self.running) + list(self.unreceipted)
        self.offered = 0 if self.draining else self.a.slots - len(self.running)
        w = Writer(READY).string(self.a.name).num("Q", self.session).num("I", self.offered)
        w.num("I", self.a.heartbeat).num("B", 1).strings(self.a.tags).strings([]).refs(held)
        w.num("I", 0).num("B", 0)   # no handler sets; no command batches
        if self.send(w.buf):
            self.ready_at, waited = time.monotonic(), time.monotonic() - self.unwelcomed_at
            log(f"READY slots={self.offered} held={len(held)}" + (f" (no WELCOME after {waited:.0f}s: is "
                f"{self.key_desc} a key of a pool that serves this shard?)" if waited > 5 else ""))

    # -- messages from the shard
    def handle(self, mid, m):
        if not self.welcomed and mid not in (WELCOME, DISCONNECT):
            return log(f"dropped message 0x{mid:02x} before WELCOME")
        if mid == WELCOME:
            self.welcomed, self.credit, self.backoff = True, self.offered, 0
            self.hb, self.liveness, self.result_limit = m["heartbeat"] / 1000, m["liveness"], m["result_limit"]
            self.outbox = list(self.unreceipted)   # resend every unreceipted result after WELCOME
            log(f"WELCOME shard={m['shard']} epoch={m['epoch']} heartbeat={m['heartbeat']}ms "
                f"liveness={m['liveness']} result-limit={m['result_limit']}")
        elif mid == TASKS:
            self.credit -= 1 if m["set"] else len(m["tasks"])
            for spec in m["tasks"]: self.start(spec, m["set"])
        elif mid == RECEIPT:
            for ref in m["tasks"]: self.unreceipted.pop(ref, None)
        elif mid == CANCEL:
            for ref in m["tasks"]:
                if ref in self.running:
                    log(f"CANCEL task {ref[0]} attempt {ref[1]} grace={m['grace']}ms")
                    self.running[ref].stop(CANCELLED, m["grace"] / 1000)
        elif mid == DISCONNECT:
            log(f"DISCONNECT {m['status']}: {m['reason']}")
            if m["status"] == 401:
                self.welcomed, self.unwelcomed_at = False, time.monotonic(); self.send_ready()
            elif m["status"] == 503:
                self.reconnect("the shard is unavailable")
            else:
                sys.exit(f"worker: the shard at {self.a.endpoint} ended the conversation: "
                         f"{m['status']} {m['reason']} (key: {self.key_desc})")
        elif mid == DEMAND and m["pending"]:
            log(f"DEMAND pending={m['pending']} weight={m['weight']}")
        elif mid == RECALLED:
            self.credit -= m["credit"]

    def check_monitor(self):
        while self.monitor.poll(0):
            ev = recv_monitor_message(self.monitor)["event"]
            if ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                log("handshake succeeded")
            else:
                name = {zmq.EVENT_HANDSHAKE_FAILED_AUTH: "HANDSHAKE_FAILED_AUTH",
                        zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "HANDSHAKE_FAILED_PROTOCOL"}.get(ev, "HANDSHAKE_FAILED_NO_DETAIL")
                hint = ("the key is not the pool's, the pool does not serve this shard, or the server key is wrong"
                        if self.a.key_file else "the shard requires CURVE: give --key-file and --server-key-file")
                sys.exit(f"worker: the shard at {self.a.endpoint} refused the handshake ({name}) of this worker, "
                         f"which used {self.key_desc}: "
                         f"{hint}. Stopping; no task was received.")

    # -- attempts
    def start(self, spec, set_id):
        ref = (spec["task"], spec["attempt"])
        why = ("it is a handler task; this worker runs commands only" if spec["kind"] != 1 else
               "a claimed set; this worker offered none" if set_id else
               "the worker is stopping" if self.draining else
               "no free slot" if len(self.running) >= self.a.slots else None)
        if why is None:
            try: return self.launch(spec, ref)
            except OSError as e: why = f"cannot start the command: {e}"
        log(f"task {ref[0]} attempt {ref[1]} {spec['job']} rejected: {why}")
        self.finish(spec, REJECTED, 0, now_ms(), 0, "", "", why, b"")

    def launch(self, spec, ref):
        many = spec["steps"] > 1 or spec["partitions"] > 1
        part = f".{spec['step']}-{spec['partition']}" if many else ""
        base = os.path.join(self.a.data, "logs", str(spec["run"]), f"{spec['job']}{part}.{spec['attempt']}")
        scratch = os.path.abspath(base + ".d"); os.makedirs(scratch, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("BATON_PARAM_") or k.startswith("BATON_BATCH") or k == "BATON_INPUTS")}
        env.update(BATON_RUN=str(spec["run"]), BATON_PRODUCT=spec["product"], BATON_FLOW=spec["flow"],
                   BATON_JOB=spec["job"], BATON_ATTEMPT=str(spec["attempt"]), BATON_TASK=str(spec["task"]),
                   BATON_WORKER=self.a.name, BATON_ENTRY_MOMENT=str(spec["moment"]),
                   BATON_STEP=str(spec["step"]), BATON_STEPS=str(spec["steps"]), BATON_STEP_NAME=spec["step_name"],
                   BATON_PARTITION=str(spec["partition"]), BATON_PARTITIONS=str(spec["partitions"]),
                   BATON_PARTITION_KEY=spec["partition_key"], BATON_RESULT=os.path.join(scratch, "result"))
        env.update({f"BATON_PARAM_{k}": v for k, v in spec["params"].items()})
        if spec["inputs"]:
            folder = env["BATON_INPUTS"] = os.path.join(scratch, "inputs"); os.makedirs(folder)
            with open(os.path.join(folder, "index"), "w") as index:
                for i in spec["inputs"]:
                    name = f"{i['job']}.{i['step']}.{i['partition']}"
                    with open(os.path.join(folder, name), "wb") as f: f.write(i["data"])
                    index.write(f"{i['job']}\t{i['step']}\t{i['partition']}\t{escape(i['partition_key'])}\t{name}\n")
        with open(base + ".log", "wb") as out:
            proc = subprocess.Popen(["/bin/sh", "-c", spec["action"]], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.running[ref] = Attempt(spec, os.path.abspath(base + ".log"), scratch, proc)
        log(f"task {ref[0]} attempt {ref[1]} {spec['product']}/{spec['flow']} run {spec['run']} "
            f"job {spec['job']} step {spec['step']} partition {spec['partition']}: started pid {proc.pid}")

    def reap(self):
        now = time.monotonic()
        for ref, at in list(self.running.items()):
            if at.deadline and now >= at.deadline: at.stop(TIMED_OUT, 5.0)
            if at.kill_at and now >= at.kill_at: at.signal(signal.SIGKILL)
            rc = at.proc.poll()
            if rc is None: continue
            del self.running[ref]
            output = tail_text(at.log_path)
            last = next((l for l in reversed(output.splitlines()) if l.strip()), "")
            status = f"exit status {rc}" if rc >= 0 else f"killed by signal {-rc}"
            outcome, error, data = FAILED, status + (f": {last}" if last else ""), b""
            if at.ending == TIMED_OUT:
                outcome, error = TIMED_OUT, f"timed out after {at.spec['timeout']} ms ({status})"
            elif at.ending == CANCELLED:
                outcome, error = CANCELLED, f"cancelled ({status})"
            elif rc == 0:
                outcome, error = SUCCEEDED, ""
                path = os.path.join(at.scratch, "result")
                size = os.path.getsize(path) if os.path.exists(path) else 0
                if size > self.result_limit:
                    outcome, error = FAILED, (f"its result file is {size} octets, over the shard's limit "
                                              f"of {self.result_limit}")
                elif size:
                    with open(path, "rb") as f: data = f.read()
            if at.ending: at.signal(signal.SIGKILL)   # whatever is left of the group
            shutil.rmtree(at.scratch, ignore_errors=True)
            self.finish(at.spec, outcome, rc, at.started, int((now - at.t0) * 1000), output,
                        f"{self.host}:{at.log_path}", error, data)

    def finish(self, spec, outcome, rc, started, duration, output, log_ref, error, data):
        ref = (spec["task"], spec["attempt"])
        self.unreceipted[ref] = dict(task=ref[0], attempt=ref[1], outcome=outcome, exit_code=rc, started=started,
                                     duration=duration, output=output, log=log_ref, error=error, data=data)
        self.outbox.append(ref)
        if outcome != REJECTED:
            log(f"task {ref[0]} attempt {ref[1]} {spec['job']}: {OUTCOMES[outcome]} exit {rc} {error}")

    def flush(self):
        """Sends RESULTS for finished attempts, then PULL with the slots freed (or HEARTBEAT when idle)."""
        if not self.welcomed: return
        refs = [r for r in self.outbox if r in self.unreceipted]
        while refs:   # batches well under the 64 MiB frame limit (a result's data may be 1 MiB or more)
            batch, size = [], 0
            while refs and (not batch or size + len(self.unreceipted[refs[0]]["data"]) < 32 * MIB):
                batch.append(refs.pop(0)); size += len(self.unreceipted[batch[-1]]["data"]) + 8192
            w = Writer(RESULTS).num("I", len(batch))
            for r in batch: encode_result(w, self.unreceipted[r])
            if not self.send(w.buf): break
            self.outbox = refs[:]
        free = self.a.slots - len(self.running) - self.credit
        if free > 0 and not self.draining and self.send(Writer(PULL).num("I", free).buf):
            self.credit += free
        if time.monotonic() - self.last_sent >= self.hb: self.send(Writer(HEARTBEAT).buf)

    # -- the loop
    def on_signal(self, *_):
        self.signals += 1

    def stop(self):
        log(f"stopping: no new tasks; letting {len(self.running)} running attempts finish for {self.a.drain}s")
        self.draining, self.drain_until = True, time.monotonic() + self.a.drain
        if self.welcomed and self.credit > 0: self.send(Writer(RECALL).num("I", self.credit).buf)

    def run(self):
        signal.signal(signal.SIGTERM, self.on_signal); signal.signal(signal.SIGINT, self.on_signal)
        self.connect()
        while self.signals < 2:
            if self.signals and not self.draining: self.stop()
            if self.sock.poll(min(100, int(self.hb * 1000)), zmq.POLLIN):
                while self.sock.poll(0, zmq.POLLIN):
                    frames = self.sock.recv_multipart()
                    self.last_recv = time.monotonic()
                    try:
                        if len(frames) != 1: raise Malformed(f"{len(frames)} frames")
                        self.handle(*decode(frames[0]))
                    except Malformed as e:
                        log(f"dropped a malformed message: {e}")
            self.check_monitor()
            self.reap(); self.flush()
            now = time.monotonic()
            if not self.welcomed and (self.ready_at is None or now - self.ready_at >= 3):
                self.send_ready()
            elif self.welcomed and now - self.last_recv >= self.liveness * self.hb:
                self.reconnect(f"heard nothing from the shard for {self.liveness} intervals")
            if self.draining:
                if now >= self.drain_until:
                    for at in self.running.values(): at.stop(CANCELLED, 5.0)
                if not self.running and (not self.unreceipted or now >= self.drain_until + 10):
                    break
        self.send(Writer(DISCONNECT).num("H", 503).string("worker stopping").buf)
        log(f"stopped; {len(self.unreceipted)} results without RECEIPT, {len(self.running)} attempts left running")
        self.sock.disable_monitor(); self.monitor.close(); self.sock.close(); self.ctx.term()


def main():
    p = argparse.ArgumentParser(description="A Baton worker for one shard (docs/protocol.md).")
    p.add_argument("--endpoint", required=True, help="the shard's work endpoint, tcp://HOST:PORT")
    p.add_argument("--name", required=True, help="the worker's logical ID, stable across restarts (host/pool/n)")
    p.add_argument("--slots", type=int, default=4, help="tasks at once")
    p.add_argument("--tags", nargs="*", default=[], help="capability tags (space- or comma-separated)")
    p.add_argument("--key-file", help="the pool's secret key file, KEYS/pool-NAME.secret")
    p.add_argument("--server-key-file", help="the shard's public key file, KEYS/shard-N.key")
    p.add_argument("--heartbeat", type=int, default=1000, help="the heartbeat interval to ask for, ms")
    p.add_argument("--data", default="pyworker-data", help="folder for attempts' logs (DATA/logs)")
    p.add_argument("--drain", type=float, default=30, help="seconds a stopping worker lets attempts finish")
    a = p.parse_args()
    a.tags = sorted({t for arg in a.tags for t in arg.split(",") if t})
    if bool(a.key_file) != bool(a.server_key_file):
        p.error("--key-file and --server-key-file go together")
    Worker(a).run()


if __name__ == "__main__":
    main()
