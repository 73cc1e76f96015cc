// The "VM device": the official MicroPython WebAssembly port behaving like a
// board on a serial line. Started by device.py (class VMDevice); usage:
//   node device.mjs JOB.json FD_IN FD_OUT FD_REQ FD_REP
// JOB: {"module": path of micropython.mjs, "heap": bytes, "pystack": words,
//       "flash": host folder holding the device's filesystem,
//       "rpc_timeout_ms": deadline of one hardware call, "board": board name}
// File descriptors inherited from device.py (pipes), in this order:
//   FD_IN   serial in   (bytes from the host; non-blocking read end)
//   FD_OUT  serial out  (everything the device prints)
//   FD_REQ  requests    (JSON lines to device.py: hardware calls)
//   FD_REP  replies     (JSON lines from device.py; non-blocking read end)
// Exit codes: 3 hard reset requested (machine.reset), 4 host side gone,
//             5 internal error (message on stderr).
//
// Everything runs synchronously (the VM never waits for the JS event loop):
// serial input is polled with non-blocking reads, waits sleep with
// Atomics.wait, hardware calls block on the reply pipe with a deadline. The
// REPL is the port's event-driven one (replInit / replProcessChar); boot.py
// and main.py run like pyexec_file on a board. A soft reboot is a fresh VM
// instance over the same flash, which every file close / rename / unlink /
// mkdir / rmdir in the VM writes through to the host folder at once.
import fs from "fs";
import path from "path";
import { pathToFileURL } from "url";

const [FD_IN, FD_OUT, FD_REQ, FD_REP] = process.argv.slice(3, 7).map((x) => parseInt(x, 10));
const CTRL_A = 1, CTRL_B = 2, CTRL_C = 3, CTRL_D = 4, CTRL_E = 5;
const FORCED_EXIT = 0x100;
const EXIT_RESET = 3, EXIT_HOST_GONE = 4, EXIT_INTERNAL = 5;
const TMP_SUFFIX = ".vmdev-tmp";

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const { loadMicroPython } = await import(pathToFileURL(job.module).href);
const flash = path.resolve(job.flash);
const rpcTimeout = job.rpc_timeout_ms || 30000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function die(code, msg) {
  try { flushOut(); } catch (e) { /* the host side may be gone */ }
  if (msg) process.stderr.write("vmdevice: " + msg + "\n");
  process.exit(code);
}

function sleepMs(ms) {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

// ---------------------------------------------------------------- serial out

let outChunks = [];
let outLen = 0;
let mute = false;
let sniff = "";  // recent REPL output, to follow the REPL's mode

function flushOut() {
  if (outLen === 0) return;
  const buf = Buffer.concat(outChunks, outLen);
  outChunks = [];
  outLen = 0;
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(FD_OUT, buf, off, buf.length - off);
    } catch (e) {
      if (e.code === "EAGAIN") { sleepMs(1); continue; }
      die(EXIT_HOST_GONE, "serial output closed: " + e.code);
    }
  }
}

function emit(bytes) {
  if (mute) return;
  let b = Buffer.from(bytes);
  while (dropOK > 0 && b.length > 0 && b[0] === (dropOK === 2 ? 0x4f : 0x4b)) { b = b.subarray(1); dropOK--; }
  if (b.length === 0) return;
  dropOK = 0;
  outChunks.push(b);
  outLen += b.length;
  if (sniffing) sniff = (sniff + b.toString("latin1")).slice(-96);
  if (outLen > 4096 || b.includes(10)) flushOut();
}

// What the VM prints (print, sys.stdout, the REPL) is cooked as on a board:
// a lone LF goes out as CR LF. host.write() bytes go out as they are.
let lastCooked = 0;
function emitCooked(bytes) {
  let b = bytes;
  if (b.includes(10)) {
    const out = [];
    for (const c of b) {
      if (c === 10 && lastCooked !== 13) out.push(13);
      out.push(c);
      lastCooked = c;
    }
    b = out;
  } else if (b.length) {
    lastCooked = b[b.length - 1];
  }
  emit(b);
}

function emitStr(s) {
  emit(Buffer.from(s, "latin1"));
}

// ---------------------------------------------------------------- serial in

const inBuf = [];  // bytes received, not yet consumed (REPL or host.read)
let inHead = 0;
const rdBuf = Buffer.alloc(4096);
let programRunning = false;  // boot.py / main.py run: Ctrl-C interrupts them
let interrupted = false;  // a KeyboardInterrupt was scheduled since the last check
let sniffing = false;
let mp = null;

function interruptArmed() {
  if (programRunning) return true;
  // the REPL executing code (pyexec sets the interrupt char to Ctrl-C meanwhile)
  try { return mp._module._mp_hal_get_interrupt_char() === CTRL_C; } catch (e) { return false; }
}

// Read what the host sent; returns the number of new bytes. Ctrl-C while a
// program runs raises KeyboardInterrupt in it (as a board's UART/USB driver
// does) and is not kept.
function pollInput() {
  let total = 0;
  for (;;) {
    let n;
    try {
      n = fs.readSync(FD_IN, rdBuf, 0, rdBuf.length, null);
    } catch (e) {
      if (e.code === "EAGAIN" || e.code === "EWOULDBLOCK") break;
      die(EXIT_HOST_GONE, "serial input failed: " + e.code);
    }
    if (n === 0) die(EXIT_HOST_GONE, "serial input closed (host side gone)");
    const armed = interruptArmed();
    for (let i = 0; i < n; i++) {
      const c = rdBuf[i];
      if (c === CTRL_C && armed) {
        inBuf.length = 0;  // like a board's rx buffer on an interrupt
        inHead = 0;
        mp._module._mp_sched_keyboard_interrupt();
        interrupted = true;
        continue;
      }
      inBuf.push(c);
    }
    total += n;
    if (n < rdBuf.length) break;
  }
  return total;
}

function takeInput(max) {
  const n = Math.min(max, inBuf.length - inHead);
  const out = Buffer.from(inBuf.slice(inHead, inHead + n));
  inHead += n;
  if (inHead === inBuf.length) { inBuf.length = 0; inHead = 0; }
  return out;
}

// Sleep up to ms, waking early when an interrupt is scheduled.
function vmSleep(ms) {
  flushOut();
  const end = performance.now() + Math.max(0, Number(ms) || 0);
  interrupted = false;
  for (;;) {
    pollInput();
    if (interrupted) return;  // the KeyboardInterrupt is raised as this returns
    const left = end - performance.now();
    if (left <= 0) return;
    sleepMs(Math.min(left, 2));
  }
}

// ---------------------------------------------------------------- hardware calls

let rpcId = 0;
let repPending = Buffer.alloc(0);

function rpc(method, args) {
  flushOut();
  const id = ++rpcId;
  const line = Buffer.from(JSON.stringify({ id, m: method, a: args }) + "\n");
  let off = 0;
  while (off < line.length) {
    try { off += fs.writeSync(FD_REQ, line, off, line.length - off); }
    catch (e) {
      if (e.code === "EAGAIN") { sleepMs(1); continue; }
      die(EXIT_HOST_GONE, "request pipe closed: " + e.code);
    }
  }
  const deadline = Date.now() + rpcTimeout;
  const chunks = [repPending];
  let spins = 0;
  const buf = Buffer.alloc(65536);
  for (;;) {
    const joined = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    chunks.length = 0;
    chunks.push(joined);
    const nl = joined.indexOf(10);
    if (nl >= 0) {
      repPending = Buffer.from(joined.subarray(nl + 1));
      chunks.length = 0;
      chunks.push(repPending);
      const msg = JSON.parse(joined.subarray(0, nl).toString("utf8"));
      if (msg.id !== id) continue;  // a late reply to a call that timed out
      if (msg.e !== undefined) throw new Error(method + ": " + msg.e);  // caught in vmdev.call
      return msg.r;
    }
    let n = 0;
    try { n = fs.readSync(FD_REP, buf, 0, buf.length, null); }
    catch (e) {
      if (e.code !== "EAGAIN" && e.code !== "EWOULDBLOCK") die(EXIT_HOST_GONE, "reply pipe failed: " + e.code);
      n = -1;
    }
    if (n === 0) die(EXIT_HOST_GONE, "reply pipe closed (host side gone)");
    if (n > 0) { chunks.push(Buffer.from(buf.subarray(0, n))); spins = 0; continue; }
    if (Date.now() > deadline) throw new Error(method + ": no reply from the host side in " + rpcTimeout + " ms");
    spins++;
    if (spins > 50) sleepMs(spins > 2000 ? 2 : 0.2);
  }
}

// ---------------------------------------------------------------- flash (host folder)

let loading = false;
let FSo = null;

function mirrored(p) {
  return p !== "/" && !p.startsWith("/dev") && !p.startsWith("/proc");
}

function vmAbs(p) {
  return path.posix.resolve(FSo.cwd(), p);
}

function hostOf(vmPath) {
  return path.join(flash, vmPath);
}

function syncFile(vmPath) {
  let data;
  try {
    const st = FSo.stat(vmPath);
    if (!FSo.isFile(st.mode)) return;
    data = FSo.readFile(vmPath);
  } catch (e) { return; }  // gone meanwhile
  const h = hostOf(vmPath);
  fs.mkdirSync(path.dirname(h), { recursive: true });
  fs.writeFileSync(h + TMP_SUFFIX, data);
  fs.renameSync(h + TMP_SUFFIX, h);
}

function syncTree(vmPath) {
  const st = FSo.stat(vmPath);
  if (FSo.isDir(st.mode)) {
    fs.mkdirSync(hostOf(vmPath), { recursive: true });
    for (const name of FSo.readdir(vmPath)) {
      if (name !== "." && name !== "..") syncTree(path.posix.join(vmPath, name));
    }
  } else {
    syncFile(vmPath);
  }
}

// This port's filesystem raises OSError with WASI errno numbers (ENOENT 44)
// while its errno module has MicroPython's (ENOENT 2), like every board and
// mpremote expect: errors leaving the filesystem calls the VM makes are
// renumbered to the latter (inside the JS filesystem they stay WASI's).
const WASI_TO_MP = {
  63: 1, 44: 2, 27: 4, 29: 5, 8: 9, 6: 11, 48: 12, 2: 13, 10: 16, 20: 17, 75: 18, 43: 19, 54: 20,
  31: 21, 28: 22, 41: 23, 33: 24, 59: 25, 22: 27, 51: 28, 70: 29, 69: 30, 64: 32, 37: 36, 52: 38,
  55: 39, 138: 95,
};
const SYSCALL_FS = ["chdir", "fstat", "lstat", "stat", "mkdir", "open", "rename", "rmdir", "statfs",
  "unlink", "close", "read", "write", "llseek", "readdir", "truncate", "ftruncate"];

function renumberErrors(FS) {
  for (const name of SYSCALL_FS) {
    const f = FS[name];
    if (typeof f !== "function") continue;
    FS[name] = function (...args) {
      try {
        return f.apply(FS, args);
      } catch (e) {
        if (e && e.name === "ErrnoError" && !e.mpErrno && !loading) {
          e.mpErrno = true;
          e.errno = WASI_TO_MP[e.errno] ?? e.errno;
        }
        throw e;
      }
    };
  }
}

function wrapFS(FS) {
  FSo = FS;
  const orig = { close: FS.close, rename: FS.rename, unlink: FS.unlink, rmdir: FS.rmdir, mkdir: FS.mkdir };
  FS.close = function (stream) {
    const writable = (stream.flags & 3) !== 0;
    const p = stream.path;
    const r = orig.close.call(FS, stream);
    if (writable && !loading && p && mirrored(p)) syncFile(p);
    return r;
  };
  FS.rename = function (a, b) {
    const r = orig.rename.call(FS, a, b);
    const pa = vmAbs(a), pb = vmAbs(b);
    if (!loading && mirrored(pa) && mirrored(pb)) {
      try { fs.renameSync(hostOf(pa), hostOf(pb)); }
      catch (e) { fs.rmSync(hostOf(pa), { recursive: true, force: true }); syncTree(pb); }
    }
    return r;
  };
  FS.unlink = function (p) {
    const r = orig.unlink.call(FS, p);
    const a = vmAbs(p);
    if (!loading && mirrored(a)) fs.rmSync(hostOf(a), { force: true });
    return r;
  };
  FS.rmdir = function (p) {
    const r = orig.rmdir.call(FS, p);
    const a = vmAbs(p);
    if (!loading && mirrored(a)) fs.rmSync(hostOf(a), { recursive: true, force: true });
    return r;
  };
  FS.mkdir = function (p, ...rest) {
    const r = orig.mkdir.call(FS, p, ...rest);
    const a = vmAbs(p);
    if (!loading && mirrored(a)) fs.mkdirSync(hostOf(a), { recursive: true });
    return r;
  };
}

function loadFlash(FS) {
  loading = true;
  try {
    for (const d of ["/tmp", "/home/web_user", "/home"]) {
      try { FS.rmdir(d); } catch (e) { /* not empty or absent: keep it */ }
    }
    const walk = (hostDir, vmDir) => {
      for (const ent of fs.readdirSync(hostDir, { withFileTypes: true })) {
        const h = path.join(hostDir, ent.name);
        const v = path.posix.join(vmDir, ent.name);
        if (ent.name.endsWith(TMP_SUFFIX)) { fs.rmSync(h, { force: true }); continue; }
        if (!mirrored(v)) continue;
        if (ent.isDirectory()) {
          try { FS.mkdir(v); } catch (e) { /* exists */ }
          walk(h, v);
        } else if (ent.isFile()) {
          FS.writeFile(v, fs.readFileSync(h));
        }
      }
    };
    fs.mkdirSync(flash, { recursive: true });
    walk(flash, "/");
  } finally {
    loading = false;
  }
}

// ---------------------------------------------------------------- the VM

// The port's "frozen" boot code: asyncio.run for this port (its asyncio runs
// tasks from JS timers; here the loop is driven synchronously, sleeping in the
// bridge so Ctrl-C still interrupts), and pyexec_file for boot.py / main.py.
const PRELUDE = `
def _vmdev_path():
    import sys
    if '/lib' not in sys.path:
        sys.path.append('/lib')

_vmdev_path()
del _vmdev_path

def _vmdev_install():
    import asyncio, vmdev
    from asyncio import core
    from time import ticks_ms, ticks_diff

    async def _wrap(coro, box):
        try:
            box[0] = await coro
        except BaseException as e:
            box[1] = e

    def run(coro):
        box = [None, None]
        t = core.create_task(_wrap(coro, box))
        try:
            while not t.done():
                core._run_iter()
                if t.done():
                    break
                head = core._task_queue.peek()
                dt = 10 if head is None else ticks_diff(head.ph_key, ticks_ms())
                if dt > 0:
                    vmdev.sleep_ms(dt)
        finally:
            if core.asyncio_timer is not None:
                core.js.clearTimeout(core.asyncio_timer)
                core.asyncio_timer = None
            core.cur_task = core._top_level_task
            core.new_event_loop()
        if box[1] is not None:
            raise box[1]
        return box[0]

    asyncio.run = run

_vmdev_install()
del _vmdev_install

def _vmdev_time():
    # time.sleep / sleep_ms wait in the bridge: no busy loop, and Ctrl-C
    # interrupts them as on a board.
    import time, vmdev

    def sleep_ms(ms):
        if ms > 0:
            vmdev.sleep_ms(ms)

    def sleep(s):
        if s > 0:
            vmdev.sleep_ms(s * 1000)

    time.sleep_ms = sleep_ms
    time.sleep = sleep

_vmdev_time()
del _vmdev_time

def _vmdev_exec_file(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return 0
    try:
        exec(compile(src, name, 'exec'), globals())
    except SystemExit:
        return 1
    except BaseException as e:
        import sys
        sys.print_exception(e)
        return 2
    return 1
`;

async function newVM() {
  const vm = await loadMicroPython({
    heapsize: job.heap, pystack: job.pystack || 16384, linebuffer: false,
    stdout: (b) => emitCooked(b), stderr: (b) => emitCooked(b),
  });
  loadFlash(vm.FS);
  wrapFS(vm.FS);
  renumberErrors(vm.FS);
  vm.registerJsModule("vmdev", {
    board: () => job.board || "vm",
    host_read: (max) => {
      interrupted = false;
      pollInput();
      // bytes after a Ctrl-C are the REPL's (mpremote sends Ctrl-C then Ctrl-A at once): the program gets
      // none of them, its KeyboardInterrupt is raised as this returns
      if (interrupted) return "";
      const b = takeInput(max || 512);
      return b.length ? b.toString("hex") : "";
    },
    host_any: () => { interrupted = false; pollInput(); return interrupted ? 0 : inBuf.length - inHead; },
    host_write: (hex) => { emit(Buffer.from(hex, "hex")); flushOut(); return hex.length >> 1; },
    sleep_ms: (ms) => { vmSleep(ms); },
    // A JS exception would not become a Python one on this port (it would end
    // the VM): a failed call returns its message after a NUL instead.
    call: (method, argsJson) => {
      try {
        const r = rpc(method, JSON.parse(argsJson));
        return r !== null && typeof r === "object" ? JSON.stringify(r) : r;
      } catch (e) {
        return "\0" + (e && e.message ? e.message : String(e));
      }
    },
    reset: () => {
      flushOut();
      try { rpc("reboot", []); } catch (e) { /* reset anyway */ }
      die(EXIT_RESET, "");
    },
  });
  return vm;
}

function runFile(name) {
  programRunning = true;
  try {
    mp.runPython(`_vmdev_exec_file(${JSON.stringify(name)})`);
  } catch (e) {
    if (e.name !== "PythonError") throw e;
    emitStr(e.message.replace(/\r?\n/g, "\r\n"));
  } finally {
    programRunning = false;
  }
  // an interrupt that arrived after the program's last bytecode: spend it here
  try { mp.runPython("for _ in range(4):\n    pass\n"); } catch (e) { /* KeyboardInterrupt */ }
  flushOut();
}

let rawMode = false;
let rawLine = [];  // the raw REPL's current line, as far as the raw-paste check needs it

function replChar(c) {
  sniffing = true;
  sniff = "";
  const ret = mp.replProcessChar(c);
  sniffing = false;
  if (sniff.includes("raw REPL; CTRL-B to exit\r\n")) { rawMode = true; rawLine = []; }
  if (sniff.includes("for more information.\r\n")) { rawMode = false; rawLine = []; }
  return ret;
}

const PASTE_WINDOW = 1024;  // raw-paste flow-control window (a board's is 128)
const PASTE_IDLE_MS = 30000;  // a raw paste silent this long is abandoned
let dropOK = 0;  // bytes of the raw REPL's "OK" to hold back (raw paste answers without it)

// Raw-paste mode (Ctrl-E 'A' Ctrl-A in the raw REPL), done here: this port's
// own raw paste reads stdin from inside the VM, which cannot work on this
// event-driven REPL. The code is collected with the same flow control as a
// board's, then run by the raw REPL exactly like a Ctrl-D there.
function rawPaste() {
  emit(Buffer.from([0x52, 0x01, PASTE_WINDOW & 0xff, PASTE_WINDOW >> 8, 0x01]));  // "R\x01", window, a free window
  flushOut();
  const code = [];
  let since = 0;
  let last = Date.now();
  for (;;) {
    if (inHead >= inBuf.length) {
      pollInput();
      if (inHead >= inBuf.length) {
        if (Date.now() - last > PASTE_IDLE_MS) { emit([CTRL_D]); return 0; }
        sleepMs(1);
        continue;
      }
    }
    last = Date.now();
    const c = inBuf[inHead++];
    if (inHead >= inBuf.length) { inBuf.length = 0; inHead = 0; }
    if (c === CTRL_D || c === CTRL_C) {
      emit([CTRL_D]);  // end of data acknowledged
      if (c === CTRL_C) {
        emitStr("Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n");
        emit([CTRL_D]);
        emitStr(">");
        return 0;
      }
      break;
    }
    code.push(c);
    if (++since === PASTE_WINDOW) { since = 0; emit([0x01]); flushOut(); }
  }
  for (const c of code) {
    if (c === CTRL_A || c === CTRL_B || c === CTRL_C || c === CTRL_D) {
      replChar(CTRL_C);
      emit([CTRL_D]);
      emitStr("SyntaxError: control character in raw-paste code\r\n");
      emit([CTRL_D]);
      emitStr(">");
      return 0;
    }
    replChar(c);
  }
  dropOK = 2;
  return replChar(CTRL_D);
}

// One byte from the host to the REPL; returns the REPL's status.
function feed(c) {
  if (rawMode) {
    if (c === CTRL_A && rawLine.length === 2 && rawLine[0] === CTRL_E) {
      const cmd = rawLine[1];
      replChar(CTRL_C);  // clears the raw line silently
      rawLine = [];
      if (cmd === 0x41) return rawPaste();
      emit([0x52, 0x00]);  // "R\x00": a raw-REPL command this device does not know
      emitStr(">");
      return 0;
    }
    if (c === CTRL_A || c === CTRL_C || c === CTRL_D || c === CTRL_B) rawLine = [];
    else if (rawLine.length < 3) rawLine.push(c);
  }
  return replChar(c);
}

async function boot(raw) {
  mp = await newVM();
  mp.runPython(`exec(compile(${JSON.stringify(PRELUDE)}, "_vmdev.py", "exec"))`);
  process.stderr.write("vmdevice: boot " + (raw ? "raw" : "friendly") + "\n");
  runFile("boot.py");
  if (!raw) runFile("main.py");
  try { mp.runPython("del _vmdev_exec_file"); } catch (e) { /* the REPL's globals: what boot.py and main.py left */ }
  if (raw) {
    mute = true;
    mp.replInit();
    replChar(CTRL_A);
    mute = false;
    emitStr("raw REPL; CTRL-B to exit\r\n>");
    rawMode = true;
    rawLine = [];
  } else {
    sniffing = true;
    mp.replInit();
    sniffing = false;
    rawMode = false;
  }
  flushOut();
}

async function main() {
  await boot(false);
  let idle = 0;
  for (;;) {
    if (inHead >= inBuf.length) {
      pollInput();
      if (inHead >= inBuf.length) {
        flushOut();
        idle++;
        sleepMs(idle > 2000 ? 4 : 1);  // quick answers while a host is talking
        continue;
      }
    }
    idle = 0;
    const c = inBuf[inHead++];
    if (inHead >= inBuf.length) { inBuf.length = 0; inHead = 0; }
    const ret = feed(c);
    if (ret & FORCED_EXIT) {
      const wasRaw = rawMode;
      emitStr("MPY: soft reboot\r\n");
      flushOut();
      await boot(wasRaw);
    }
  }
}

try {
  await main();
} catch (e) {
  die(EXIT_INTERNAL, "internal error: " + (e && e.stack ? e.stack : e));
}
