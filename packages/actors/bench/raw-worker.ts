/**
 * The raw baseline: a worker that counts small messages (one per postMessage) and echoes pings, measured in
 * the same run as the actors so that the ratios compare like with like.
 */
export const RAW_WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
let count = 0;
let target = Infinity;
parentPort.on('message', (m) => {
  switch (m.type) {
    case 'expect': count = 0; target = m.n; return;
    case 'ping': parentPort.postMessage(m); return;
    case 'add':
      count += m.n;
      if (count === target) parentPort.postMessage({ type: 'done', count });
      return;
  }
});
`;
