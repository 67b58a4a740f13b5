// A Node client through an HTTPS proxy, written with the standard library only (no npm): CONNECT with
// `http.request`, then `https.request` over the tunnel socket. Trust comes from NODE_EXTRA_CA_CERTS, as an
// app's would. Usage: node node_https_proxy_client.js PROXY_PORT HOST PATH [AUTHORIZATION]
// Prints {"status", "body"} as JSON, or {"error"} and exits 1.
const http = require("http");
const https = require("https");
const [proxyPort, host, path, authorization] = process.argv.slice(2);

function fail(error) {
  console.log(JSON.stringify({ error: String(error && (error.code || error.message) || error) }));
  process.exit(1);
}

const connect = http.request({ host: "127.0.0.1", port: Number(proxyPort), method: "CONNECT", path: `${host}:443` });
connect.on("error", fail);
connect.on("connect", (res, socket) => {
  if (res.statusCode !== 200) fail(`CONNECT answered ${res.statusCode}`);
  const headers = authorization ? { Authorization: authorization } : {};
  const req = https.request({ host, servername: host, path, headers, socket, agent: false }, (response) => {
    let body = "";
    response.setEncoding("utf8");
    response.on("data", (chunk) => (body += chunk));
    response.on("end", () => {
      console.log(JSON.stringify({ status: response.statusCode, body }));
      socket.destroy();
    });
  });
  req.on("error", fail);
  req.end();
});
connect.end();
