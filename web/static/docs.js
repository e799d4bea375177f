// The API reference at /docs: the Scalar bundle served by this server, reading
// /openapi.json, with no web fonts or proxy fetched from elsewhere.
/* global Scalar */
Scalar.createApiReference('#app', {
  url: '/openapi.json',
  withDefaultFonts: false,
  hideClientButton: true,
  telemetry: false,
});
