"""The reader application: host link, read state machine, board feedback.

  app = App(board, store=None, dispatcher=None)
  await app.run()          forever (asyncio.run(app.run()) where asyncio has run)
  app.poll()               one synchronous pass: read the host stream, answer lines, write events
  app.feed(data)           the same for bytes given directly (tests); output in app.out when
                           the board has no host stream
  main()                   ESP32: Board from /board.json, then asyncio.run(App(board).run())

A read (read.start, vitale.link.reading) runs as an asyncio task:
idle -> scanning (NFC polls and/or camera frames, interleaved for `any`)
-> reading -> verifying -> reporting -> idle, with unsigned `state` events
and board feedback, and ends with exactly one signed result event (card,
refusal or unverified_payload). An exception in one read ends it with the
refusal `internal`; the link and the next read are unaffected. The
personal data of a read is dropped (and the heap collected) once its event
is written.

Optional board attribute read here (not part of hal/board.py): `nfc_clock`,
an object with ticks_ms/ticks_diff/sleep_ms for the PN532 driver (an
emulator's modelled clock); real time by default.
"""

import gc

from vitale.compat import const
from vitale.cred.trust import hexstr
from vitale.link import commands, reading
from vitale.link.lines import LineBuffer
from vitale.link.protocol import Dispatcher

LOOP_S = 0.005  # host-link poll period
NFC_POLL_MS = const(100)  # the longest one InListPassiveTarget may take
NFC_IDLE_S = 0.03  # pause between NFC polls when there is no camera work in between
NFC_EXCHANGE_MS = const(3000)  # one InDataExchange (the phone may ask for waiting-time extensions)
NFC_READ_MS = const(15000)  # the longest one mdoc exchange may take
_HOST_READS = const(64)  # host-stream reads per poll (bounded, so a flood cannot starve the read)


class App:
    """The reader: a Board, its Store, the host-link dispatcher and the read in progress."""

    def __init__(self, board, store=None, dispatcher=None):
        self.board = board
        if store is None:
            from vitale.store import Store

            store = Store(board.store_root)
        self.store = store
        self.state = commands.ReaderState(board, store)
        self.lines = LineBuffer()
        self.dispatcher = dispatcher if dispatcher is not None else Dispatcher()
        commands.register(self.dispatcher, self.state)
        self.reads = reading.Reads(self.state)
        reading.register(self.dispatcher, self.state, self.reads)
        self.out = []  # output lines when the board has no host stream
        self.pn = None  # the PN532 driver once begun
        self.task = None  # the asyncio task of the read in progress
        self.stopped = False
        self.reads_done = 0
        self.internal_errors = 0
        self.last_error = None  # "Type: message" of the last exception caught in a read

    # -- host link --------------------------------------------------------------

    def write(self, data):
        """Send bytes to the host (or keep them in self.out when there is no host stream)."""
        host = self.board.host
        if host is None:
            self.out.append(data)
            return
        try:
            host.write(data)
        except OSError:
            pass  # the host went away: the line is lost, the reader goes on

    def flush_events(self):
        """Write the events the read commands and the read task queued."""
        for line in self.reads.take():
            self.write(line)

    def handle_line(self, line):
        """Answer one received line (bytes without LF, or None for an overlong one)."""
        typed = line is not None and line.strip()[:1] not in (b"{", b"")
        self.reads.text_request = typed
        try:
            reply = self.dispatcher.handle_line(line)
        finally:
            self.reads.text_request = False
        if reply is not None:
            self.write(reply)
        self.flush_events()

    def feed(self, data):
        """Take received bytes; answer every line they complete. Returns the number of lines."""
        lines = self.lines.feed(data)
        for line in lines:
            self.handle_line(line)
        return len(lines)

    def poll(self):
        """One pass over the host stream: read what arrived, answer complete lines, write events."""
        n = 0
        host = self.board.host
        if host is not None:
            for _ in range(_HOST_READS):
                data = host.read()
                if not data:
                    break
                n += self.feed(data)
        self.flush_events()
        self._feed_wdt()
        return n

    def _feed_wdt(self):
        wdt = self.board.wdt
        if wdt is not None:
            wdt.feed()

    def stop(self):
        """Make run() return after its current pass (tests, the virtual reader)."""
        self.stopped = True

    # -- the loop -----------------------------------------------------------------

    async def run(self):
        """Serve the host link and run reads until stop() (or a reboot that returns)."""
        import asyncio

        self.board.feedback("idle")
        while not self.stopped:
            try:
                self.poll()
            except Exception as e:  # noqa: BLE001 - a broken host stream must not end the app
                self.internal_errors += 1
                self.last_error = "%s: %s" % (type(e).__name__, e)
                self._feed_wdt()
                await asyncio.sleep(0.1)
            if self.reads.reboot_requested:
                self.reads.reboot_requested = False
                await asyncio.sleep(0.05)  # let the reply leave
                self.board.reboot()  # machine.reset() does not return
                return
            job = self.reads.job
            if job is not None and not job.started:
                job.started = True
                self.task = asyncio.create_task(self.read_task(job))
            await asyncio.sleep(LOOP_S)

    async def read_task(self, job):
        """Run one read to its single result event, whatever happens inside."""
        try:
            await self._read(job)
            if not job.done:
                self.reads.refuse(job, "internal", "the read ended without a result")
        except Exception as e:  # noqa: BLE001 - one read never takes the reader down
            self.internal_errors += 1
            self.last_error = "%s: %s" % (type(e).__name__, e)
            self.reads.refuse(job, "internal", self.last_error)
            if self.pn is not None and job.used == "nfc":
                self.pn = None  # begin the chip again next time
        finally:
            self.reads.release(job)
            self.reads_done += 1
            self.flush_events()
            self.task = None
            gc.collect()

    async def _read(self, job):
        import asyncio

        reads = self.reads
        b = self.board
        use_nfc = job.channel in ("nfc", "any") and (b.nfc_uart is not None or b.nfc_i2c is not None)
        use_qr = job.channel in ("qr", "any") and b.camera is not None
        reads.progress(job, "scanning")
        self.flush_events()
        if use_nfc and job.channel == "nfc" and reads.reader_cert() is None:
            reads.refuse(job, "reader_not_trusted", "no reader certificate installed (provision.reader_cert)")
            return
        if use_nfc and not self._nfc_begin(job, not use_qr):
            if job.done:
                return
            use_nfc = False
        while True:
            if job.done:
                return
            if job.expired():
                reads.refuse(job, "timeout", "no card within %d ms" % job.timeout_ms)
                return
            if use_nfc:
                target = self._nfc_poll(job)
                if job.done:
                    return
                if target is not None:
                    await self._nfc_read(job, target)
                    return
            if use_qr:
                if await self._qr_frame(job):
                    return
            else:
                await asyncio.sleep(NFC_IDLE_S)

    # -- NFC --------------------------------------------------------------------

    def _nfc_begin(self, job, only):
        """Start the PN532 once; False (and, when NFC is the only channel, a refusal) on failure."""
        if self.pn is not None:
            return True
        from vitale.nfc.pn532 import PN532

        b = self.board
        try:
            pn = PN532(uart=b.nfc_uart, i2c=b.nfc_i2c, clock=getattr(b, "nfc_clock", None))
            pn.begin()
        except (ValueError, OSError) as e:  # PN532Error, bus errors
            if only:
                self.reads.refuse(job, "nfc_error", "PN532: %s" % e)
            return False
        self.pn = pn
        return True

    def _nfc_poll(self, job):
        pn = self.pn
        if pn is None:
            return None
        try:
            return pn.list_passive_target(NFC_POLL_MS)
        except (ValueError, OSError) as e:
            self.pn = None
            if job.channel == "nfc":
                self.reads.refuse(job, "nfc_error", "PN532: %s" % e)
            return None

    async def _nfc_read(self, job, target):
        import asyncio

        from vitale.cred import mdoc
        from vitale.cred.policy import DOC_TYPE, PROFILES
        from vitale.cred.result import Refusal
        from vitale.nfc import mdoc_nfc

        reads = self.reads
        st = self.state
        pn = self.pn
        if pn is None:
            return
        exchange = pn.data_exchange
        reads.progress(job, "reading", "nfc")
        self.flush_events()
        await asyncio.sleep(0)
        if job.done:
            return
        cert = reads.reader_cert()
        if cert is None:
            self._release(pn)
            reads.refuse(job, "reader_not_trusted", "no reader certificate installed (provision.reader_cert)")
            return
        policy = reads.policy(job)
        doc_type = policy.doc_type or DOC_TYPE
        session = mdoc_nfc.Session()
        left = job.remaining_ms()
        try:
            resp, transcript, ekey = mdoc_nfc.read_mdoc(
                lambda apdu: exchange(apdu, NFC_EXCHANGE_MS), st.reader_key.private_key(), cert,
                job.profile, doc_type, timeout_ms=max(500, min(left, NFC_READ_MS)), session=session,
                clock=getattr(self.board, "nfc_clock", None))
        except Refusal as e:
            self._release(pn)
            if e.code in ("nfc_error", "mdoc_error") and session.engagement is None \
                    and st.config["passthrough"]:
                # a phone or card that is no mdoc wallet: pass on what it told us, unverified
                reads.unverified(job, "nfc", "nfc", target.uid, {"nfc": {
                    "uid": hexstr(target.uid), "ats": hexstr(target.ats) if target.ats else None,
                    "atqa": hexstr(target.sens_res), "sak": target.sel_res}})
            else:
                reads.refuse(job, e.code, e.detail)
            return
        self._release(pn)
        if job.done:
            return
        reads.progress(job, "verifying", "nfc")
        self.flush_events()
        await asyncio.sleep(0)
        if job.done:
            return
        irb = mdoc_nfc.items_request_bytes(doc_type, doc_type, PROFILES[job.profile], True)
        try:
            card = mdoc.verify(resp, transcript, st.trust, policy, st.board.clock.now(), ekey, irb)
        except Refusal as e:
            reads.refuse(job, e.code, e.detail)
            return
        raw = None
        if st.config["attach_raw"]:
            raw = {"format": "mdoc", "device_response": hexstr(resp),
                   "session_transcript": hexstr(transcript), "e_reader_key": hexstr(ekey)}
        reads.card(job, "nfc", card, raw)
        resp = transcript = ekey = card = raw = None  # no personal data kept past the event
        self.flush_events()

    def _release(self, pn):
        try:
            pn.release()
        except (ValueError, OSError):
            self.pn = None  # the chip is confused: begin it again next time

    # -- QR ---------------------------------------------------------------------

    async def _qr_frame(self, job):
        """Decode one camera frame, yielding between slices; True when it ended the read."""
        import asyncio

        from vitale.vision import qr
        from vitale.vision.camera import vqr_text

        try:
            got = self.board.camera.capture()
        except OSError:
            got = None
        if not got:
            await asyncio.sleep(0.01)
            return False
        buf, w, h = got
        try:
            dec = qr.decoder_for(w, h)
            for _ in dec.steps(buf):
                await asyncio.sleep(0)
                if job.done or job.expired():
                    dec.results = []
                    return False
        except qr.QRError:
            await asyncio.sleep(0)
            return False
        codes = dec.results
        dec.results = []  # the decoder is kept between reads: it must not keep the payloads
        buf = got = None
        if not codes:
            return False
        try:
            for c in codes:
                if self._qr_code(job, c.payload, vqr_text(c.payload)):
                    self.flush_events()
                    return True
            return False
        finally:
            codes = None
            wipe_decoder(dec)

    def _qr_code(self, job, payload, text):
        from vitale.cred import vqr
        from vitale.cred.result import Refusal

        reads = self.reads
        st = self.state
        if text is None:
            if st.config["passthrough"]:
                reads.unverified(job, "qr", "qr", payload)
            else:
                job.used = "qr"
                reads.refuse(job, "not_a_credential", "a QR code that is not a VQR1 credential")
            return True
        reads.progress(job, "reading", "qr")
        reads.progress(job, "verifying", "qr")
        try:
            card = vqr.verify(text, st.trust, reads.policy(job), st.board.clock.now(), reads.replay)
        except Refusal as e:
            reads.refuse(job, e.code, e.detail)
            return True
        raw = {"format": "vqr", "text": text} if st.config["attach_raw"] else None
        reads.card(job, "qr", card, raw)
        return True


_ZEROS = bytes(256)
# Decoder buffers that hold a symbol's modules, codewords and data, and the frame copy of the
# plain fallback (vitale.vision.qr.decoder.Decoder).
_DECODER_BUFFERS = ("grid", "cw", "blk", "data", "copy")


def wipe(buf):
    """Overwrite a bytearray with zeros in place (no large temporary)."""
    mv = memoryview(buf)
    n = len(buf)
    for i in range(0, n, 256):
        k = min(256, n - i)
        mv[i:i + k] = _ZEROS[:k]


def wipe_decoder(dec):
    """Zero the QR decoder's buffers that held the last symbol (it is reused between reads)."""
    for name in _DECODER_BUFFERS:
        b = getattr(dec, name, None)
        if isinstance(b, bytearray):
            wipe(b)


def main():
    """ESP32 entry point: build the Board from /board.json and serve forever (Ctrl-C gives the REPL back)."""
    import asyncio

    import vitale
    from vitale.hal import esp32, vm

    if vm.available():  # the MicroPython VM device (tools/vitale_tools/mpvm/device.py)
        board = vm.build_board()
    else:
        try:
            board = esp32.build_board(esp32.load_board_json())
        except esp32.BoardError as e:
            print("vitale: cannot use the board file:", e)
            return
    print("vitale %s: reader app on this serial line (JSON lines; `help`); Ctrl-C gives the REPL"
          % vitale.__version__)
    while True:
        try:
            asyncio.run(App(board).run())
        except Exception as e:  # noqa: BLE001 - a bug in the app restarts it; Ctrl-C still ends it
            print("vitale: app restarted after", repr(e))
            asyncio.new_event_loop()
