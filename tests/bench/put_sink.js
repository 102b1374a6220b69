// make bench: a PUT target and the one Queue call an s3 upload needs.
// PUT /sink/<anything> reads the body and counts its bytes (answer 200);
// POST /api/queue/v1/task/<t>/runs/<r>/artifacts/<name> answers an s3
// createArtifact with a putUrl here.  Nothing is authenticated or kept:
// it measures the uploader, not a store.  Prints "port N" when listening;
// GET /last answers the last PUT's byte count and headers as JSON.
'use strict';
const http = require('http');

let last = null;
const server = http.createServer((req, res) => {
  if (req.method === 'PUT' && req.url.startsWith('/sink/')) {
    let n = 0;
    req.on('data', chunk => { n += chunk.length; });
    req.on('end', () => {
      last = { bytes: n, headers: req.headers };
      res.end();
    });
    return;
  }
  if (req.method === 'POST' && req.url.startsWith('/api/queue/v1/task/')) {
    req.resume();
    req.on('end', () => {
      const { port } = server.address();
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({
        storageType: 's3', contentType: 'application/octet-stream',
        expires: new Date(Date.now() + 86400000).toISOString(),
        putUrl: `http://127.0.0.1:${port}/sink/x`,
      }));
    });
    return;
  }
  if (req.method === 'GET' && req.url === '/last') {
    res.end(JSON.stringify(last));
    return;
  }
  res.statusCode = 404;
  res.end();
});
server.listen(0, '127.0.0.1', () => {
  console.log(`port ${server.address().port}`);
});
