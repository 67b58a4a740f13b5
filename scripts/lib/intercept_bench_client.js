// Load client for scripts/bench-intercept: keep-alive HTTP over an intercepted CONNECT (mode "intercept"),
// absolute-form plain HTTP forward mode ("forward"), or a new CONNECT + TLS handshake + one request per
// iteration ("handshake"). Raw HTTP/1.1 (Content-Length responses) so the client costs little; Node's
// standard library only. Usage: node intercept_bench_client.js MODE PROXY_PORT HOST PATH CONNECTIONS SECONDS [CAFILE]
const net = require("net");
const tls = require("tls");
const fs = require("fs");
const [mode, proxyPort, host, path, connections, seconds, cafile] = process.argv.slice(2);
const ca = cafile ? fs.readFileSync(cafile) : undefined;
const deadline = Date.now() + Number(seconds) * 1000;
const latencies = [];
let done = 0, errors = 0;

function connectTunnel() {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(proxyPort), "127.0.0.1");
    s.setNoDelay(true);
    let buf = Buffer.alloc(0);
    s.on("error", reject);
    s.on("connect", () => s.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`));
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      s.removeListener("data", onData);
      if (!buf.slice(0, 12).toString().startsWith("HTTP/1.1 200")) return reject(new Error(buf.toString()));
      const t = tls.connect({ socket: s, servername: host, ca, ALPNProtocols: ["http/1.1"] }, () => resolve(t));
      t.on("error", reject);
    };
    s.on("data", onData);
  });
}

function plain() {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(proxyPort), "127.0.0.1", () => resolve(s));
    s.setNoDelay(true);
    s.on("error", reject);
  });
}

// One request on `s`; resolves when the whole response (Content-Length) arrived.
function exchange(s, request) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0), need = -1;
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      if (need < 0) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.slice(0, end).toString();
        const m = /content-length:\s*(\d+)/i.exec(head);
        need = end + 4 + (m ? Number(m[1]) : 0);
        if (!head.startsWith("HTTP/1.1 200")) errors++;
      }
      if (buf.length >= need) { s.removeListener("data", onData); s.removeListener("error", reject); resolve(); }
    };
    s.on("data", onData);
    s.once("error", reject);
    s.write(request);
  });
}

async function worker() {
  if (mode === "handshake") {
    while (Date.now() < deadline) {
      const t0 = process.hrtime.bigint();
      try {
        const s = await connectTunnel();
        await exchange(s, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        s.destroy();
        done++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (e) { errors++; }
    }
    return;
  }
  const s = mode === "intercept" ? await connectTunnel() : await plain();
  const request = mode === "intercept"
    ? `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`
    : `GET http://${host}${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  while (Date.now() < deadline) {
    const t0 = process.hrtime.bigint();
    await exchange(s, request);
    done++;
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  s.destroy();
}

(async () => {
  const start = Date.now();
  await Promise.all(Array.from({ length: Number(connections) }, () => worker().catch(() => errors++)));
  const elapsed = (Date.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2) : "-";
  console.log(JSON.stringify({ mode, done, errors, rps: Math.round(done / elapsed), p50_ms: q(0.5), p99_ms: q(0.99) }));
})();
