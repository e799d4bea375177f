// The API reference at /docs: Swagger UI, served by this server, reading
// /openapi.json. A file, not an inline script, so the page's CSP needs no
// 'unsafe-inline' for scripts. "Try it out" calls this same origin.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  // Deep links would put a link inside each operation's toggle button (nested controls, bad for screen readers).
  deepLinking: false,
  // No validator badge: it would send the document to validator.swagger.io.
  validatorUrl: null,
  displayRequestDuration: true,
  onComplete: function () {
    // Swagger UI leaves its server chooser without a label.
    var servers = document.getElementById('servers');
    if (servers) servers.setAttribute('aria-label', 'Server');
  },
});
