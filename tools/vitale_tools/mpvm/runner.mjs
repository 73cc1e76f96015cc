// Runs one MicroPython script inside the official WebAssembly port.
// Usage: node runner.mjs JOB.json
// JOB: {"module": path of micropython.mjs, "heap": bytes, "pystack": words,
//       "files": [[vmPath, hostPath], ...], "main": vmPath, "argv": [...],
//       "result": hostPath to write {"status", "wall_ms"} to}
import fs from "fs";
import path from "path";
import { pathToFileURL } from "url";

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const { loadMicroPython } = await import(pathToFileURL(job.module).href);
const out = (s) => process.stdout.write(s);
const mp = await loadMicroPython({
  heapsize: job.heap, pystack: job.pystack || 16384,
  stdout: out, stderr: (s) => process.stderr.write(s), linebuffer: false,
});

function mkdirs(p) {
  let cur = "";
  for (const part of p.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { mp.FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}
for (const [vmPath, hostPath] of job.files) {
  mkdirs(path.posix.dirname(vmPath));
  mp.FS.writeFile(vmPath, fs.readFileSync(hostPath));
}

const boot = `
import sys
if '/lib' not in sys.path:
    sys.path.append('/lib')
def _vm_main():
    with open(${JSON.stringify(job.main)}) as f:
        src = f.read()
    code = compile(src, ${JSON.stringify(job.main)}, 'exec')
    # This port has no sys.argv: the script's arguments arrive as the global ARGV.
    g = {'__name__': '__main__', '__file__': ${JSON.stringify(job.main)},
         'ARGV': ${JSON.stringify([job.main, ...job.argv])}}
    exec(code, g)
_vm_main()
`;
let status = 0;
const t0 = performance.now();
try {
  await mp.runPythonAsync(boot);
} catch (error) {
  if (error.name !== "PythonError") throw error;
  if (error.type === "SystemExit") {
    const m = /SystemExit(?::\s*(.*))?\s*$/.exec(error.message.trim());
    const arg = m && m[1] !== undefined ? m[1].trim() : "";
    if (arg === "" || arg === "None") status = 0;
    else if (/^-?\d+$/.test(arg)) status = parseInt(arg, 10);
    else { process.stderr.write(arg + "\n"); status = 1; }
  } else {
    process.stderr.write(error.message);
    status = 1;
  }
}
const wall = performance.now() - t0;
if (job.result) fs.writeFileSync(job.result, JSON.stringify({ status, wall_ms: wall }));
process.exitCode = status;
