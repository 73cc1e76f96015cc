"""Read commands and result events (docs/host-protocol.md, "Reads").

  reads = Reads(state)               the read in progress, its events (`outbox`), the QR replay cache
  register(dispatcher, state, reads) adds read.start, read.cancel, read (typed), reader.csr,
                                     provision.reader_cert, reboot

The scanning itself is vitale.app's job: it takes `reads.job` (a ReadJob),
reports progress with reads.progress() and ends it with exactly one of
reads.card() / reads.refuse() / reads.unverified(). Result events are signed
with the host session (SignedSession); a read typed at a terminal without a
host session is signed with a console session of a random nonce. Events go
to `reads.outbox` (lines of bytes); the app writes them after the reply.
When the request was typed (`text_request`), events are readable text.
"""


from vitale.compat import const, random_bytes, ticks_diff, ticks_ms
from vitale.cred import trust as _trust
from vitale.cred import vqr
from vitale.cred.policy import PROFILES, Policy
from vitale.cred.result import REFUSALS
from vitale.crypto import csr as _csrmod
from vitale.crypto import x509
from vitale.link import protocol
from vitale.link.commands import READER_CERT_FILE, unhex
from vitale.link.protocol import T_INT, T_STR, Command, LinkError
from vitale.link.signing import SignedSession

CHANNELS = ("nfc", "qr", "any")
DEFAULT_TIMEOUT_MS = const(30000)
MIN_TIMEOUT_MS = const(1000)
MAX_TIMEOUT_MS = const(300000)
MAX_CN = const(64)

# Board feedback shown for each way a read ends.
_FEEDBACK = {"card": "ok", "unverified_payload": "ok", "refusal": "refused"}
_QUIET = ("cancelled", "timeout")  # refusals nobody needs a beep for


class ReadJob:
    """One read: what was asked, when, and how far it got."""

    def __init__(self, read_id, channel, profile, timeout_ms, session, text):
        self.read_id = read_id
        self.channel = channel  # as asked: nfc, qr or any
        self.used = None  # the channel that produced the result, once known
        self.profile = profile
        self.timeout_ms = timeout_ms
        self.session = session  # None: sign with the host session current at the end
        self.text = text  # typed at a terminal: readable events
        self.t0 = ticks_ms()
        self.state = "idle"
        self.cancelled = False
        self.done = False
        self.started = False  # the app's read task took it

    def remaining_ms(self):
        """Milliseconds left before the read times out (negative once past)."""
        return self.timeout_ms - ticks_diff(ticks_ms(), self.t0)

    def expired(self):
        """True once the timeout has passed."""
        return self.remaining_ms() <= 0


class Reads:
    """The read in progress, the events waiting to be written, the QR replay cache."""

    def __init__(self, state):
        self.state = state
        self.job = None
        self.next_id = 1
        self.outbox = []
        self.replay = vqr.ReplayCache()
        self.text_request = False  # set by the app while it dispatches a typed line
        self.reboot_requested = False

    # -- commands ------------------------------------------------------------

    def start(self, args):
        """read.start: check the arguments and the reader, queue a ReadJob for the app."""
        st = self.state
        channel = args.get("channel", "any")
        if channel not in CHANNELS:
            raise LinkError("bad_args", "channel must be nfc, qr or any")
        profile = args.get("profile")
        if profile is None:
            profile = st.policy.profile or "billing"
        if profile not in PROFILES:
            raise LinkError("bad_args", "profile must be billing, identity or full")
        timeout_ms = args.get("timeout_ms", DEFAULT_TIMEOUT_MS)
        if not MIN_TIMEOUT_MS <= timeout_ms <= MAX_TIMEOUT_MS:
            raise LinkError("bad_args", "timeout_ms must be %d to %d" % (MIN_TIMEOUT_MS, MAX_TIMEOUT_MS))
        if self.job is not None:
            raise LinkError("busy", "a read is already running (read.cancel stops it)")
        session = None
        if st.session is None:
            if not self.text_request:
                raise LinkError("no_session", "send hello with a nonce first: results could not be signed")
            session = SignedSession(st.reader_key, random_bytes(16))  # a console read
        if st.trust is None:
            raise LinkError("no_trust_list", "provision a trust list first")
        if not st.board.clock.is_set():
            raise LinkError("clock_unset", "set the clock first (time.set)")
        b = st.board
        has_nfc = b.nfc_uart is not None or b.nfc_i2c is not None
        has_qr = b.camera is not None
        if (channel == "nfc" and not has_nfc) or (channel == "qr" and not has_qr) or not (has_nfc or has_qr):
            raise LinkError("no_channel", "this reader has no " + ("NFC reader or camera" if channel == "any"
                                                                   else "NFC reader" if channel == "nfc"
                                                                   else "camera"))
        job = ReadJob(self.next_id, channel, profile, timeout_ms, session, self.text_request)
        self.next_id += 1
        self.job = job
        return {"read_id": job.read_id, "channel": channel, "profile": profile, "timeout_ms": timeout_ms}

    def cancel(self, args):
        """read.cancel: end the running read at once with a `cancelled` refusal."""
        job = self.job
        if job is None or job.done:
            return {"cancelled": False}
        job.cancelled = True
        self.refuse(job, "cancelled", "read.cancel")
        if not job.started:
            self.job = None
        return {"cancelled": True, "read_id": job.read_id}

    # -- progress and results ------------------------------------------------

    def _write(self, job, name, fields):
        if job.text:
            head = name
            if name == "state":
                self.outbox.append(("state: %s (read %d, %s)\n" % (fields["state"], fields["read_id"],
                                                                  fields["channel"])).encode())
                return
            res = fields.get("result", fields)
            self.outbox.append(("event: " + head + "\n" + protocol.format_text(res, "  ") + "\n").encode())
        else:
            self.outbox.append(protocol.event(name, fields))

    def progress(self, job, state, channel=None):
        """Unsigned `state` event (scanning, reading, verifying, reporting, idle) and board feedback."""
        if channel is not None:
            job.used = channel
        job.state = state
        self._write(job, "state", {"read_id": job.read_id, "state": state, "channel": job.used or job.channel})
        if state in ("scanning", "reading"):
            self.state.board.feedback(state)
        elif state == "verifying":
            self.state.board.feedback("reading")

    def _finish(self, job, name, result, feedback):
        if job.done:
            return False
        job.done = True
        self.progress(job, "reporting")
        session = job.session if job.session is not None else self.state.session
        try:
            fields = session.sign(result)
        except Exception as e:  # a result that cannot be signed becomes an internal refusal
            name = "refusal"
            feedback = "error"
            result = self._refusal(job, "internal", "signing: %s" % e)
            fields = session.sign(result)
        self._write(job, name, fields)
        self.state.board.feedback(feedback)
        self.progress(job, "idle")
        return True

    def _refusal(self, job, code, detail):
        if code not in REFUSALS:
            detail = "unknown code " + str(code) + (": " + detail if detail else "")
            code = "internal"
        return {"read_id": job.read_id, "status": "refused", "channel": job.used,
                "refusal": {"code": code, "message": REFUSALS[code], "detail": detail or ""}}

    def refuse(self, job, code, detail=""):
        """End the read with a signed `refusal` event (once; later results are dropped)."""
        if job.done:
            return False
        fb = "idle" if code in _QUIET else "error" if code == "internal" else "refused"
        return self._finish(job, "refusal", self._refusal(job, code, detail), fb)

    def card(self, job, channel, card, raw=None):
        """End the read with a signed `card` event for a VerifiedCard; `raw` is attached when given."""
        job.used = channel
        if job.done:
            return False
        result = {"read_id": job.read_id, "status": "verified", "channel": channel, "profile": job.profile,
                  "card": card.to_dict()}
        if raw is not None:
            result["raw"] = raw
        return self._finish(job, "card", result, "ok")

    def unverified(self, job, channel, fmt, payload, extra=None):
        """End the read with a signed `unverified_payload` event (passthrough of a closed format)."""
        job.used = channel
        if job.done:
            return False
        result = {"read_id": job.read_id, "status": "unverified", "channel": channel, "verified": False,
                  "payload": _trust.hexstr(payload), "format": fmt}
        if extra:
            for k in extra:
                result[k] = extra[k]
        return self._finish(job, "unverified_payload", result, "ok")

    def release(self, job):
        """The app's task for job has ended: a new read may start."""
        if self.job is job:
            self.job = None

    def take(self):
        """The queued event lines (bytes), emptying the queue."""
        out = self.outbox
        self.outbox = []
        return out

    def policy(self, job):
        """The Policy for a read: the configured one with the read's profile."""
        p = self.state.policy
        return Policy(p.qr_window_s, p.clock_skew_s, p.status_max_age_s, p.doc_type, job.profile)

    def reader_cert(self):
        """DER of the reader certificate for readerAuth: the installed one, else the trust list's, or None."""
        st = self.state
        if st.reader_cert is not None:
            return st.reader_cert
        if st.trust is not None:
            c = st.trust.trust_list.reader_certificate(st.reader_key.public_key())
            if c is not None:
                return c.raw
        return None


# -- reader certificate --------------------------------------------------------


def check_reader_cert(state, der):
    """The parsed reader certificate if it may be installed; LinkError (bad_reader_cert, ...) otherwise.

    It must hold this reader's public key, carry the mdoc-reader EKU, be valid
    now and be issued by a reader CA of the trust list.
    """
    if state.trust is None:
        raise LinkError("no_trust_list", "provision a trust list first")
    now = state.board.clock.now()
    if now is None:
        raise LinkError("clock_unset", "set the clock first (time.set)")
    try:
        cert = x509.parse(der)
    except ValueError as e:  # X509Error, DerError
        raise LinkError("bad_reader_cert", "not a P-256 DER certificate: " + str(e))
    if bytes(cert.public_key) != bytes(state.reader_key.public_key()):
        raise LinkError("bad_reader_cert", "the certificate is not for this reader's key")
    roots = [c for c in state.trust.trust_list.reader_cas if not isinstance(c, _trust.Unsupported)]
    try:
        x509.verify_chain([cert], roots, now, x509.EKU_MDL_READER_AUTH)
    except x509.X509Error as e:
        raise LinkError("bad_reader_cert", "%s (%s)" % (e.code, e.detail))
    return cert


def _reader_cert(state):
    def handler(args):
        der = unhex(args["cert"], "cert")
        cert = check_reader_cert(state, der)
        state.store.write(READER_CERT_FILE, der)
        state.reader_cert = der
        return {"installed": True, "subject": cert.subject_cn, "not_after": cert.not_after}
    return handler


def _csr(state):
    def handler(args):
        cn = args.get("cn")
        if cn is None:
            cn = ("Vitale Reader " + state.board.name)[:MAX_CN]
        if not cn or len(cn) > MAX_CN:
            raise LinkError("bad_args", "cn must be 1 to %d characters" % MAX_CN)
        rk = state.reader_key
        return {"csr": _trust.hexstr(_csrmod.csr_der(rk.private_key(), rk.public_key(), cn))}
    return handler


def _reboot(state, reads):
    def handler(args):
        if state.board.reboot is None:
            raise LinkError("unsupported", "this board cannot reboot")
        reads.reboot_requested = True
        return {"rebooting": True}
    return handler


def register(dispatcher, state, reads):
    """Add the read commands, the reader-certificate commands and reboot to a Dispatcher."""
    start = (("channel", T_STR, False), ("profile", T_STR, False), ("timeout_ms", T_INT, False))
    for c in (
        Command("read.start", reads.start, start,
                "read a card: channel nfc|qr|any, profile, timeout_ms; ends with one result event",
                ("channel", "profile", "timeout_ms")),
        Command("read", reads.start, start,
                "typed shortcut of read.start: read [nfc|qr|any] [profile] [timeout_ms]",
                ("channel", "profile", "timeout_ms")),
        Command("read.cancel", reads.cancel, (), "stop the running read (it ends with a cancelled refusal)"),
        Command("reader.csr", _csr(state), (("cn", T_STR, False),),
                "PKCS#10 request (hex DER) for the reader key, signed by it", ("cn",)),
        Command("provision.reader_cert", _reader_cert(state), (("cert", T_STR, True),),
                "install the reader certificate (hex DER) issued for this reader's key", ("cert",)),
        Command("reboot", _reboot(state, reads), (), "reset the reader (after this reply)"),
    ):
        dispatcher.add(c)
