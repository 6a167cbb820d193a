"""WeChat server-URL benchmark: `intake run` as a user starts it, one official account in safe
(AES) mode, and signed, encrypted text pushes as WeChat's server sends them.

The load is open loop: message i is due at start + i/rate whatever the server does, and is
sent on one of a bounded pool of keep-alive connections; its latency counts from when it was
due, so a server that falls behind shows it (no coordinated omission). Bounded in count and
time, it stops by itself and talks to 127.0.0.1 only. Each reply is decrypted afterwards and
classified: a ticket number, a guided-conversation question, `success` (no reply in time).
The notifier's messages (closures, surveys) go to the tests' fake WeChat API in a process of
its own. CPU per message is printed for each process and server. Target: p99 under
100 ms at 500 messages/s.

    python bench/wechat_bench.py [--rate 500 [--rate 100 ...]] [--seconds 15]
        [--connections 256] [--backend servers|embedded|both] [--dialog-share 0.1]

"embedded" is `intake run` with its defaults (SQLite and an embedded Redis in the data
folder), "servers" the same command against this machine's PostgreSQL and Redis. The replies
that are guided-conversation questions do not wait for the pipeline: their latency is the
edge's own cost (signature, AES, XML, Redis), the rest is the wait for the pipeline's outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import redis.asyncio as aioredis
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import cpu
from bench.intake_bench import (
    PG_ADMIN,
    REDIS_URL,
    base_env,
    count_tickets,
    database_url,
    free_port,
    pg_transport,
    stop,
)
from bench.intake_bench import wait_ready as wait_http

# the account the fake WeChat API (tests/wechat/wechat_fake_api.py) issues tokens for
APP_ID, APP_SECRET = "wx_city_0001", "city-secret"
TOKEN, ORIGINAL_ID = "benchtoken", "gh_bench"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TARGET_RATE, TARGET_P99_MS = 500.0, 100.0
WINDOW_S = 5.0  # WeChat gives up on a push after five seconds
COMPLETE = [  # new requests with nothing missing: each becomes a ticket at once
    "幸福路12号楼下烧烤店油烟扰民，晚上十点后还在营业",
    "请问社保卡丢了怎么补办，需要带什么材料",
    "东湖区桂花街道香樟苑小区停水两天了，物业说不清楚什么时候恢复",
    "人民路88号工地夜间施工噪音太大，电话13812345678",
]
NEEDS_PLACE = "门口的路灯坏了好几天了，晚上很黑"  # the guided conversation asks where


@dataclass
class Push:
    """One prebuilt HTTP request (signing and AES are done before the clock starts)."""

    data: bytes
    nonce: str
    dialog: bool


@dataclass
class Run:
    seconds: float
    due_latency: list[float] = field(default_factory=list)  # from when it was due
    service_latency: list[float] = field(default_factory=list)  # from when it was sent
    statuses: Counter[int] = field(default_factory=Counter)
    replies: list[tuple[Push, bytes]] = field(default_factory=list)
    sent: int = 0
    expired: int = 0  # waited over WeChat's window for a free connection: never sent
    dispatch_seconds: float = 0.0  # from the first message due to the last one queued


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def signed(params: dict[str, str], body: str, port: int) -> bytes:
    payload = body.encode()
    head = (
        f"POST /channels/wechat?{urlencode(params)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: text/xml\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def build_pushes(count: int, *, port: int, dialog_share: float) -> list[Push]:
    """`count` encrypted text pushes, as WeChat's server would sign and encrypt them."""
    crypto, now, pushes = WeChatCrypto(TOKEN, AES_KEY, APP_ID), str(int(time.time())), []
    run_id = random.randint(10**9, 10**10 - 1)
    for i in range(count):
        dialog = random.random() < dialog_share
        openid = f"o_dlg_{run_id}_{i}" if dialog else f"o_bench_{run_id}_{i % 2000}"
        text = NEEDS_PLACE if dialog else COMPLETE[i % len(COMPLETE)]
        xml = (
            f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
            f"<MsgId>{run_id}{i:07d}</MsgId></xml>"
        )
        nonce = f"{run_id}{i:07d}"  # unique per push: a reused nonce is refused as a replay
        envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, now))["xml"]
        signer = WeChatSigner()
        signer.add_data(TOKEN, now, nonce)
        params = {
            "signature": signer.signature,
            "timestamp": now,
            "nonce": nonce,
            "openid": openid,
            "encrypt_type": "aes",
            "msg_signature": envelope["MsgSignature"],
        }
        body = (
            f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
        )
        pushes.append(Push(signed(params, body, port), nonce, dialog))
    return pushes


async def connection(port: int, queue: asyncio.Queue[tuple[float, Push] | None], run: Run) -> None:
    """One keep-alive connection taking due messages; a broken one is counted and reopened."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (item := await queue.get()) is not None:
            due, push = item
            sent = time.perf_counter()
            if sent - due > WINDOW_S:
                run.expired += 1
                continue
            try:
                status, body = await exchange(reader, writer, push.data)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                # the server closed an idle keep-alive connection (uvicorn: after 5 s): WeChat's
                # server sends again on a new one, and so does this once
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    status, body = await exchange(reader, writer, push.data)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    status, body = 599, b""
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
            done = time.perf_counter()
            run.due_latency.append(done - due)
            run.service_latency.append(done - sent)
            run.statuses[status] += 1
            run.replies.append((push, body if status == 200 else b"HTTP %d" % status))
    finally:
        writer.close()


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> tuple[int, bytes]:
    writer.write(data)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return int(status_line.split()[1]), await reader.readexactly(length)


async def paced(port: int, pushes: list[Push], *, rate: float, connections: int) -> Run:
    """Offer `rate` messages/s (open loop) over `connections` keep-alive connections."""
    queue: asyncio.Queue[tuple[float, Push] | None] = asyncio.Queue()
    run = Run(seconds=len(pushes) / rate)
    workers = [asyncio.create_task(connection(port, queue, run)) for _ in range(connections)]
    start = time.perf_counter()
    for i, push in enumerate(pushes):
        due = start + i / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, push))
        run.sent += 1
    run.dispatch_seconds = time.perf_counter() - start
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*workers), timeout=2 * WINDOW_S + 30)
    run.seconds = time.perf_counter() - start
    return run


def classify(run: Run) -> dict[str, list[float]]:
    """Each reply decrypted as WeChat would, by kind, with its service latency."""
    crypto, kinds = WeChatCrypto(TOKEN, AES_KEY, APP_ID), defaultdict(list)
    for (push, body), latency in zip(run.replies, run.service_latency, strict=True):
        kinds[kind_of(crypto, push, body)].append(latency)
    return dict(kinds)


def kind_of(crypto: WeChatCrypto, push: Push, body: bytes) -> str:
    if body == b"success":
        return "success (no reply in time)"
    if body.startswith(b"HTTP "):
        return f"error ({body.decode()})"
    try:
        env = xmltodict.parse(body)["xml"]
        plain = crypto.decrypt_message(body, env["MsgSignature"], env["TimeStamp"], push.nonce)
        content = str(xmltodict.parse(plain)["xml"]["Content"])
    except Exception:  # anything WeChat could not show counts as broken
        return "broken"
    if "工单编号" in content:
        return "ticket number"
    return "question (guided)" if "具体位置" in content else "other text"


def quiet(env: dict[str, str]) -> dict[str, str]:
    """Errors only (an overloaded server would log one warning per late reply), unless
    BENCH_LOG_LEVEL asks for more (INFO: every delivery the notifier made)."""
    return {**env, "INTAKE_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "ERROR")}


def wechat_env(env: dict[str, str], api_base: str) -> dict[str, str]:
    return {
        **env,
        "INTAKE_WECHAT__APP_ID": APP_ID,
        "INTAKE_WECHAT__APP_SECRET": APP_SECRET,
        "INTAKE_WECHAT__TOKEN": TOKEN,
        "INTAKE_WECHAT__AES_KEY": AES_KEY,
        "INTAKE_WECHAT__ORIGINAL_ID": ORIGINAL_ID,
        "INTAKE_WECHAT__MODE": "safe",
        "INTAKE_WECHAT__API_BASE": api_base,  # the fake API on 127.0.0.1
        "INTAKE_WECHAT__FETCH_MEDIA": "false",
    }


async def bench(name: str, env: dict[str, str], args: argparse.Namespace, rate: float) -> Run:
    """One fresh `intake run`, loaded at `rate` for `args.seconds`."""
    port = free_port()
    cmd = [sys.executable, "-m", "service.cli", "run", "--port", str(port)]
    if "INTAKE_DATABASE_URL" in env:  # SQLite has one writer: a second pipeline gains nothing
        cmd += ["--pipeline-processes", str(args.pipeline_processes)]
    cmd += ["--pipeline-placement", args.placement]
    log_path = Path(env["INTAKE_DATA_DIR"]).with_suffix(".log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    api = start_fake_api(api_port)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, env=wechat_env(env, f"http://127.0.0.1:{api_port}"), stdout=log, stderr=log
        )
    try:
        await wait_http(f"http://127.0.0.1:{api_port}/cgi-bin/token", api)
        await wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        await warm_up(port)
        roots = {"intake run": proc.pid, "load": os.getpid(), "fake WeChat API": api.pid}
        await cpu.wait_quiet({"intake run": proc.pid})
        count = int(rate * args.seconds)
        pushes = build_pushes(count, port=port, dialog_share=args.dialog_share)
        before = cpu.snapshot(roots)
        run = await paced(port, pushes, rate=rate, connections=args.connections)
        kinds = classify(run)
        report(name, run, kinds, await tickets_written(env, len(kinds.get("ticket number", []))))
        print(f"{name}: " + cpu.report(before, cpu.snapshot(roots), len(run.replies), "message"))
        return run
    finally:
        stop(proc)
        stop(api)
        print(f"{name}: {server_errors(log_path)}")


def start_fake_api(port: int) -> subprocess.Popen[bytes]:
    """The notifier's customer-service and template messages go to the tests' fake WeChat
    API (WeChat's JSON answers and error codes), in a process of its own: a closed port would
    make every notification fail and be retried, CPU a real deployment does not spend."""
    code = (
        "import uvicorn\n"
        "from tests.wechat.wechat_fake_api import app\n"
        f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', access_log=False)"
    )
    root = Path(__file__).resolve().parent.parent
    return subprocess.Popen([sys.executable, "-c", code], cwd=root)


def server_errors(path: Path) -> str:
    """The server's own complaints (kept out of the report's way, summarised here)."""
    lines = path.read_text(errors="replace").splitlines()
    errors = [line for line in lines if " ERROR " in line or line.startswith("Traceback")]
    causes = Counter(line for line in lines if line and not line.startswith((" ", "Traceback")))
    worst = [f"{n}× {text[:120]}" for text, n in causes.most_common(3) if " ERROR " not in text]
    found = f"server log: {len(errors)} error lines"
    return f"{found}; most frequent: {worst}" if errors else found


async def warm_up(port: int) -> None:
    """One of each message, one at a time, unmeasured: loads jieba's dictionary (the first
    knowledge-base lookup), fills connection pools and caches, as a server that has run a
    while has them."""
    for push in build_pushes(2 * len(COMPLETE), port=port, dialog_share=0.0):
        await paced(port, [push], rate=1.0, connections=1)
    await paced(port, build_pushes(1, port=port, dialog_share=1.0), rate=1.0, connections=1)


async def tickets_written(env: dict[str, str], numbered: int) -> str:
    """Cross-check: every reply with a ticket number is a ticket in the database (in time)."""
    started = time.perf_counter()
    while (tickets := await count_tickets(env)) < numbered:
        if time.perf_counter() - started > 60:
            break
        await asyncio.sleep(0.1)
    return f"{tickets} tickets for {numbered} numbers given ({time.perf_counter() - started:.1f} s)"


def report(name: str, run: Run, kinds: dict[str, list[float]], tickets: str) -> None:
    achieved = len(run.due_latency) / run.seconds
    p50, p99 = pct(run.due_latency, 0.5), pct(run.due_latency, 0.99)
    print(
        f"{name}: offered {run.sent / run.dispatch_seconds:,.0f} msg/s, "
        f"answered {achieved:,.0f} msg/s "
        f"({len(run.due_latency)} in {run.seconds:.1f} s), statuses {dict(run.statuses)}, "
        f"{run.expired} never sent (no free connection within {WINDOW_S:.0f} s)"
    )
    print(
        f"{name}: reply latency from due time p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"(service time p50 {pct(run.service_latency, 0.5):.1f} ms, "
        f"p99 {pct(run.service_latency, 0.99):.1f} ms, max {pct(run.due_latency, 1.0):.0f} ms)"
    )
    for kind, latencies in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        print(
            f"{name}:   {len(latencies):6d} × {kind}: service p50 {pct(latencies, 0.5):.1f} ms, "
            f"p99 {pct(latencies, 0.99):.1f} ms"
        )
    print(f"{name}: {tickets}")
    print(
        f"{name}: vs target ({TARGET_RATE:.0f} msg/s, p99 < {TARGET_P99_MS:.0f} ms): "
        f"rate {achieved / TARGET_RATE:.2f}x, p99 {p99 / TARGET_P99_MS:.2f}x of the budget "
        f"({'met' if achieved >= 0.98 * TARGET_RATE and p99 < TARGET_P99_MS else 'NOT met'})"
    )


async def servers_env(tmp: Path) -> tuple[dict[str, str], str, str]:
    db, prefix = f"wechat_bench_{uuid.uuid4().hex[:8]}", f"bench:{uuid.uuid4().hex[:8]}:"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{db}"')
    finally:
        await admin.close()
    env = base_env(tmp / "servers")
    env.update(
        {
            "INTAKE_DATABASE_URL": database_url(db),
            "INTAKE_REDIS_URL": REDIS_URL,
            "INTAKE_REDIS_PREFIX": prefix,
        }
    )
    return env, db, prefix


async def drop_servers(db: str, prefix: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    finally:
        await admin.close()
    client = aioredis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])
    await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate", type=float, action="append", help=f"offered msg/s (repeatable; {TARGET_RATE:.0f})"
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--backend", choices=["servers", "embedded", "both"], default="both")
    parser.add_argument("--dialog-share", type=float, default=0.1)
    parser.add_argument(
        "--pipeline-processes", type=int, default=1, help="`intake run` with PostgreSQL"
    )
    parser.add_argument(
        "--placement",
        choices=["auto", "inside", "child"],
        default="auto",
        help="`intake run --pipeline-placement`: where a single pipeline runs",
    )
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 1.0), 120.0)  # bounded: timestamps stay fresh
    rates = [min(max(r, 1.0), 5000.0) for r in args.rate or [TARGET_RATE]]
    print(
        f"load: {', '.join(f'{r:.0f}' for r in rates)} msg/s offered (open loop), "
        f"{args.seconds:.0f} s each, over "
        f"{args.connections} keep-alive connections, {args.dialog_share:.0%} needing a question; "
        f"{os.cpu_count()} CPUs shared with the server (figures are noisy on a busy machine); "
        f"PostgreSQL over {pg_transport()} (BENCH_PG_DSN)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="wechat-bench-"))
    try:
        for rate in rates:
            if args.backend in ("embedded", "both"):
                embedded = base_env(tmp / f"embedded-{rate:.0f}")
                await bench(f"embedded @{rate:.0f}/s", quiet(embedded), args, rate)
            if args.backend in ("servers", "both"):
                env, db, prefix = await servers_env(tmp)
                try:
                    await bench(f"servers @{rate:.0f}/s", quiet(env), args, rate)
                finally:
                    await drop_servers(db, prefix)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
