// Test services for test/helpers/netns.ts, run inside the services' namespace: an SSH-style greeting on
// 22 and a web page whose title is the first argument on 80, on every address of the namespace. The second
// argument, when given, names the ports to open (`22`, `80` or `22,80`).
import http from 'node:http';
import net from 'node:net';

const title = process.argv[2] ?? 'plum test';
const ssh = net.createServer((s) => s.write('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n', () => s.resetAndDestroy()));
const web = http.createServer((req, res) => {
  const body = `<html><head><title>${title}</title></head><body>plum</body></html>`;
  // Connection: close, so no scan's connection outlives the scan waiting for the server.
  res.writeHead(200, { 'Content-Type': 'text/html', Server: 'plum-test/1.0', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  // Reset once the page is out: a scanner's own TCP stack (masscan's) leaves without closing, and a socket
  // waiting for it would linger and slow the next scan.
  res.end(body, () => req.socket.resetAndDestroy());
});
const ports = (process.argv[3] ?? '22,80').split(',').map(Number);
let listening = 0;
const ready = () => {
  if (++listening === ports.length) process.stdout.write('ready\n');
};
if (ports.includes(22)) ssh.listen(22, '0.0.0.0', ready);
if (ports.includes(80)) web.listen(80, '0.0.0.0', ready);
process.on('SIGTERM', () => {
  ssh.close();
  web.close();
  process.exit(0);
});
