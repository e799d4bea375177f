// Services of bench/scout.ts, run inside its services' namespace: the first argument is a JSON list of
// {ip, ports}; each address listens on its own ports only: an SSH-style greeting on 22, a small web page on
// every other port. Prints `ready` once every socket listens.
import http from 'node:http';
import net from 'node:net';

const services = JSON.parse(process.argv[2] ?? '[]');
const servers = [];
const ssh = (s) => s.write('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n', () => s.resetAndDestroy());
const web = (req, res) => {
  const body = '<html><head><title>plum scout bench</title></head><body>plum</body></html>';
  res.writeHead(200, { 'Content-Type': 'text/html', Server: 'plum-bench/1.0', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  // Reset once the page is out: masscan's own TCP stack leaves without closing.
  res.end(body, () => req.socket.resetAndDestroy());
};
const total = services.reduce((n, s) => n + s.ports.length, 0);
let listening = 0;
for (const { ip, ports } of services) {
  for (const port of ports) {
    const server = port === 22 ? net.createServer(ssh) : http.createServer(web);
    server.listen(port, ip, () => {
      if (++listening === total) process.stdout.write('ready\n');
    });
    servers.push(server);
  }
}
process.on('SIGTERM', () => {
  for (const s of servers) s.close();
  process.exit(0);
});
