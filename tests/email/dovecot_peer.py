"""A real, standalone Dovecot on a free loopback port, for the e-mail reader tests and bench.

IMAP only, a passwd-file user whose mail processes
run as nobody (or as the current user when not root), Maildir under a private folder, plus a
self-signed certificate for the TLS (993-style) and STARTTLS listeners.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

USER = "hotline"
PASSWORD = "s3cret-pw"
ADDRESS = "12345@city.example.test"


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot") or "/usr/sbin/dovecot"
    return found if Path(found).exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Dovecot:
    root: Path
    port: int
    tls_port: int
    capability: str | None = None
    process: subprocess.Popen[bytes] | None = None
    uid: int = 65534
    gid: int = 65534
    cert: Path = field(default_factory=Path)

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def maildir(self) -> Path:
        return self.root / "mail" / USER / "Maildir"

    def settings(self, **extra: object) -> dict[str, object]:
        """An `INTAKE_EMAIL__*` section for this server (plain IMAP on loopback)."""
        base: dict[str, object] = {
            "address": ADDRESS,
            "imap_host": "127.0.0.1",
            "imap_port": self.port,
            "imap_user": USER,
            "imap_password": PASSWORD,
            "imap_security": "none",
            "imap_timeout": 5.0,
            "backoff_initial": 0.05,
            "backoff_max": 0.5,
            "poll_interval": 0.5,
        }
        return {**base, **extra}

    def write_config(self) -> None:
        root = self.root
        for sub in ("run", "state", f"mail/{USER}"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(root / "mail", self.uid, self.gid)
        os.chown(root / "mail" / USER, self.uid, self.gid)
        users = root / "users"
        users.write_text(
            f"{USER}:{{PLAIN}}{PASSWORD}:{self.uid}:{self.gid}::{root}/mail/{USER}::\n"
        )
        users.chmod(0o644)
        cert, key = _self_signed(root)
        self.cert = cert
        running_as = pwd.getpwuid(os.geteuid()).pw_name
        internal = "dovecot" if os.geteuid() == 0 else running_as
        login = "dovenull" if os.geteuid() == 0 else running_as
        capability = f"imap_capability = {self.capability}\n" if self.capability else ""
        self.conf.write_text(
            f"""base_dir = {root}/run
state_dir = {root}/state
instance_name = intake-test-{self.port}
protocols = imap
shutdown_clients = yes
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
default_internal_user = {internal}
default_login_user = {login}
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
"""
        )

    def start(self) -> None:
        binary = dovecot_binary()
        assert binary
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RuntimeError(f"dovecot did not start: {err[-2000:]}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None
        self._reap()

    def _reap(self) -> None:
        """End this instance's leftover children (imap keeps serving), as a restart would."""
        title = f"dovecot-intake-test-{self.port}/".encode()
        for _ in range(50):
            pids = []
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    if (entry / "cmdline").read_bytes().startswith(title):
                        pids.append(int(entry.name))
                except OSError:
                    continue
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def doveadm(self, *args: str, data: bytes | None = None) -> str:
        done = subprocess.run(
            ["doveadm", "-c", str(self.conf), *args],
            input=data,
            capture_output=True,
            check=False,
            timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {args[0]} failed: {done.stderr.decode()[-500:]}")
        return done.stdout.decode()

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        self.doveadm("save", "-u", USER, "-m", folder, data=raw)

    def status(self, folder: str = "INBOX") -> dict[str, int]:
        out = self.doveadm(
            "-f", "flow", "mailbox", "status", "-u", USER, "messages uidnext uidvalidity", folder
        )
        pairs = (item.split("=", 1) for item in out.split() if "=" in item)
        return {k: int(v) for k, v in pairs if v.isdigit()}

    def kick(self) -> None:
        self.doveadm("kick", USER)

    def deliver_maildir(self, mails: list[bytes]) -> None:
        """Bulk delivery straight into INBOX's Maildir/new (what an MDA does)."""
        new = self.maildir / "new"
        new.mkdir(parents=True, exist_ok=True)
        stamp = int(time.time())
        for index, raw in enumerate(mails):
            path = new / f"{stamp}.M{index}P{os.getpid()}.bench"
            path.write_bytes(raw)
            os.chown(path, self.uid, self.gid)
        for path in (self.root / "mail").rglob("*"):
            os.chown(path, self.uid, self.gid)


def start_dovecot(capability: str | None = None) -> Dovecot:
    """Write a config into a private folder (readable by the mail user) and start Dovecot."""
    root = Path(tempfile.mkdtemp(prefix="intake-dovecot-", dir="/tmp"))
    root.chmod(0o755)
    uid, gid = (65534, 65534) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    peer = Dovecot(root, free_port(), free_port(), capability=capability, uid=uid, gid=gid)
    peer.write_config()
    peer.start()
    return peer


def remove(peer: Dovecot) -> None:
    peer.stop()
    shutil.rmtree(peer.root, ignore_errors=True)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def set_headers(raw: bytes, **headers: str) -> bytes:
    """Replace (or add) top-level headers, e.g. set_headers(raw, Message_ID="<a@b>")."""
    cut = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=len(raw))
    head, body = raw[:cut], raw[cut:]
    names = {name.replace("_", "-").lower(): value for name, value in headers.items()}
    kept: list[bytes] = []
    skipping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.split(b":", 1)[0].strip().lower().decode("latin-1") in names
        if not skipping:
            kept.append(line)
    fresh = [f"{k.title()}: {v}\r\n".encode() for k, v in names.items()]
    joined = b"".join(fresh + kept)
    return joined.rstrip(b"\r\n") + body if body else joined
