"""A real Kannel 1.4.5 (bearerbox + smsbox + fake SMSC + fakesmsc) for integration tests.

Why a real gateway: the encodings (UCS-2 MO with and without mo-recode, `coding=2` MT) and the
DLR callbacks are exactly where hand-written fakes lie. Everything listens on
127.0.0.1 on free ports, lives in a tmp folder and is stopped by PID.

Use from any test package:

    from tests.sms.kannel_peer import kannel_peer  # noqa: F401  (session fixture)

or call `start_kannel(workdir, callback_base=..., secret=...)` for a gateway whose get-url
points at your own server (e.g. a uvicorn running the app).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .recorder import Hit, Recorder

__all__ = ["Hit", "Recorder"]

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
SECRET = "test-inbound-secret-0123456789"
USER, PASSWORD = "tester", "foobar"
STATUS_PASSWORD = "statuspw"
GET_URL_QUERY = "from=%p&to=%P&text=%b&charset=%C&coding=%c&id=%I&ts=%t&smsc=%i"


def binaries_missing() -> list[str]:
    return [p for p in (BEARERBOX, SMSBOX, FAKESMSC) if not os.access(p, os.X_OK)]


def require_kannel() -> None:
    """Skip without Kannel, but fail in CI, where a silent skip would hide a broken install."""
    missing = binaries_missing()
    if not missing:
        return
    msg = f"Kannel binaries missing: {', '.join(missing)} (apt-get install kannel kannel-extras)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` with short intervals until a deadline; never a blind sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- kannel


@dataclass
class KannelPeer:
    workdir: Path
    sendsms_port: int
    admin_port: int
    callback_base: str
    mo_recode: bool
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    mt_lines: list[str] = field(default_factory=list)
    mt_seen: list[float] = field(default_factory=list)  # perf_counter() when each line came
    _mt_cond: threading.Condition = field(default_factory=threading.Condition)
    _fakesmsc: subprocess.Popen[bytes] | None = None

    @property
    def kannel_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}"

    def inject_mo(self, line: str) -> None:
        """One fakesmsc line = one MO: '<from> <to> text|ucs2|data <payload>'."""
        assert self._fakesmsc is not None and self._fakesmsc.stdin is not None
        self._fakesmsc.stdin.write(line.encode("utf-8") + b"\n")
        self._fakesmsc.stdin.flush()

    def wait_mt(self, pred: Callable[[str], bool], timeout: float = 10.0) -> str:
        """Wait for a 'Got message' line printed by fakesmsc (MT reached the fake SMSC)."""
        deadline = time.monotonic() + timeout
        with self._mt_cond:
            while True:
                for line in self.mt_lines:
                    if pred(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching MT; fakesmsc printed {self.mt_lines[-5:]}")
                self._mt_cond.wait(min(left, 0.1))

    def _read_fakesmsc(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if "Got message" in line:
                with self._mt_cond:
                    self.mt_lines.append(line)
                    self.mt_seen.append(time.perf_counter())
                    self._mt_cond.notify_all()

    def smsc_online(self) -> bool:
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password={STATUS_PASSWORD}"
        try:
            import httpx

            text = httpx.get(url, timeout=1.0).text
        except Exception:
            return False
        return "FAKE" in text and "online" in text

    def stop(self) -> None:
        if self._fakesmsc is not None and self._fakesmsc.stdin is not None:
            self._fakesmsc.stdin.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def write_config(
    workdir: Path, ports: dict[str, int], get_url: str, mo_recode: bool, log_level: int = 0
) -> Path:
    conf = f"""
group = core
admin-port = {ports["admin"]}
admin-interface = 127.0.0.1
admin-password = adminpw
status-password = {STATUS_PASSWORD}
admin-allow-ip = "127.0.0.1"
smsbox-port = {ports["box"]}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{workdir}/bearerbox.log"
log-level = {log_level}
access-log = "{workdir}/access.log"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = FAKE
port = {ports["smsc"]}
our-host = 127.0.0.1
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {ports["box"]}
sendsms-port = {ports["sendsms"]}
sendsms-interface = 127.0.0.1
mo-recode = {"true" if mo_recode else "false"}
# a get-url or dlr-url call that fails (e.g. a keep-alive connection the service closed just
# as smsbox reused it) is retried, instead of the MO or DLR being lost; both are idempotent
http-request-retry = 3
http-queue-delay = 1
log-file = "{workdir}/smsbox.log"
log-level = {log_level}
access-log = "{workdir}/smsbox-access.log"

group = sendsms-user
username = {USER}
password = {PASSWORD}
max-messages = 10
concatenation = true

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{get_url}"
"""
    path = workdir / "kannel.conf"
    path.write_text(conf.lstrip(), encoding="utf-8")
    return path


def start_kannel(
    workdir: Path,
    *,
    callback_base: str,
    secret: str = SECRET,
    mo_recode: bool = True,
    interval: float = 0.01,
    log_level: int = 0,
) -> KannelPeer:
    """Start bearerbox, smsbox and fakesmsc; get-url is `{callback_base}/channels/sms/kannel`.

    `interval` is fakesmsc's pacing of MO messages (seconds, 0: as fast as it can) and
    `log_level` Kannel's (0 debug … 4 panic; the benchmark keeps its disk quiet with 3)."""
    require_kannel()
    workdir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in ("admin", "box", "smsc", "sendsms")}
    get_url = f"{callback_base}/channels/sms/kannel?secret={secret}&{GET_URL_QUERY}"
    conf = write_config(workdir, ports, get_url, mo_recode, log_level)
    peer = KannelPeer(workdir, ports["sendsms"], ports["admin"], callback_base, mo_recode)
    try:
        _launch(peer, conf, ports, interval, verbosity=max(log_level, 1))
    except BaseException:
        peer.stop()
        raise
    return peer


def _launch(
    peer: KannelPeer, conf: Path, ports: dict[str, int], interval: float, verbosity: int
) -> None:
    def spawn(args: list[str], name: str) -> subprocess.Popen[bytes]:
        out = (peer.workdir / f"{name}.out").open("wb")
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=peer.workdir)
        peer.procs.append(proc)
        return proc

    spawn([BEARERBOX, "-v", str(verbosity), str(conf)], "bearerbox")
    wait_until(lambda: port_open(ports["box"]) and port_open(ports["smsc"]), 15, "bearerbox")
    spawn([SMSBOX, "-v", str(verbosity), str(conf)], "smsbox")
    wait_until(lambda: port_open(ports["sendsms"]), 15, "smsbox")
    fake = subprocess.Popen(
        [FAKESMSC, "-H", "127.0.0.1", "-r", str(ports["smsc"]), "-i", str(interval)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=peer.workdir,
    )
    peer.procs.append(fake)
    peer._fakesmsc = fake
    threading.Thread(target=peer._read_fakesmsc, args=(fake,), daemon=True).start()
    wait_until(peer.smsc_online, 15, "fakesmsc connected to bearerbox")


# --------------------------------------------------------------------------- fixtures


MO_PATH = "/channels/sms/kannel"
DLR_PATH = "/channels/sms/dlr"


@dataclass
class KannelRig:
    """A running gateway plus the recorder its get-url and our dlr-urls point to."""

    peer: KannelPeer
    recorder: Recorder
    secret: str = SECRET
    user: str = USER
    password: str = PASSWORD
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mo(self, line: str, timeout: float = 10.0) -> Hit:
        """Inject one MO through fakesmsc and return the get-url callback it caused.

        Serialised on purpose: fakesmsc only processes a buffered stdin line when more input
        arrives, so writing the next line before the previous one was delivered stalls it.
        """
        with self._lock:
            seen = len(self.recorder.matching(MO_PATH))
            self.peer.inject_mo(line)
            return self.recorder.wait_nth(MO_PATH, seen, timeout)


@dataclass(frozen=True)
class MT:
    """One message fakesmsc received: `Got message N: <from to type [udh] data>`."""

    sender: str
    receiver: str
    kind: str  # "text", "ucs-2", or "data" (8-bit, and every part of a concatenated MT)
    udh: bytes
    data: bytes

    @property
    def text(self) -> str:
        """Decoded for single messages; concatenated parts need `data.decode(...)` by the
        caller, because fakesmsc prints them as "data" whatever their coding."""
        return self.data.decode("utf-16-be" if self.kind == "ucs-2" else "utf-8", "replace")


def parse_mt(line: str) -> MT:
    inner = line[line.index("<") + 1 : line.rindex(">")]
    sender, receiver, kind, rest = [*inner.split(" ", 3), ""][:4]
    udh = b""
    if kind == "udh":
        udh_enc, _, rest = rest.partition(" ")
        udh = urllib.parse.unquote_to_bytes(udh_enc)
        kind, _, rest = rest.partition(" ")
    if kind == "text":
        return MT(sender, receiver, kind, udh, rest.encode("utf-8"))
    return MT(sender, receiver, kind, udh, urllib.parse.unquote_to_bytes(rest.replace("+", "%20")))


def _concat_key(udh: bytes) -> tuple[int, int, int] | None:
    """(reference, total, sequence) from a concatenation UDH (8- or 16-bit reference)."""
    if len(udh) >= 6 and udh[1] == 0x00:
        return udh[3], udh[4], udh[5]
    if len(udh) >= 7 and udh[1] == 0x08:
        return udh[3] << 8 | udh[4], udh[5], udh[6]
    return None


def texts_to(lines: list[str], receiver: str) -> list[str]:
    """Whole messages fakesmsc received for `receiver`, concatenated parts joined in order.

    fakesmsc prints every part of a concatenated MT as "udh … data …" whatever its coding;
    the parts are taken as UCS-2 here, which is what every Chinese MT must be."""
    whole: list[str] = []
    parts: dict[int, dict[int, bytes]] = {}
    for mt in (m for m in map(parse_mt, lines) if m.receiver == receiver):
        key = _concat_key(mt.udh) if mt.udh else None
        if key is None:
            whole.append(mt.text)
            continue
        ref, total, seq = key
        parts.setdefault(ref, {})[seq] = mt.data
        if len(parts[ref]) == total:
            got = parts.pop(ref)
            data = b"".join(got[i] for i in range(1, total + 1))
            whole.append(data.decode("utf-16-be"))
    return whole


def _rig(tmp_path_factory: pytest.TempPathFactory, mo_recode: bool) -> Iterator[KannelRig]:
    require_kannel()
    recorder = Recorder()
    name = "kannel-recode" if mo_recode else "kannel-norecode"
    workdir = tmp_path_factory.mktemp(name)
    try:
        peer = start_kannel(workdir, callback_base=recorder.base_url, mo_recode=mo_recode)
    except BaseException:
        recorder.stop()
        raise
    try:
        yield KannelRig(peer, recorder)
    finally:
        peer.stop()
        recorder.stop()
        if os.environ.get("KEEP_KANNEL_LOGS") != "1":
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def kannel_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KannelRig]:
    """Kannel with mo-recode = true (UCS-2 MO arrives as UTF-8)."""
    yield from _rig(tmp_path_factory, mo_recode=True)


@pytest.fixture(scope="session")
def kannel_peer_norecode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KannelRig]:
    """Kannel with mo-recode = false (UCS-2 MO arrives as UTF-16BE bytes)."""
    yield from _rig(tmp_path_factory, mo_recode=False)
