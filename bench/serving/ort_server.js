// The peer of bench/serving: a minimal Node http server that answers TF Serving's row-format
// predict ({"instances": [[784 floats], ...]}) with ONNX Runtime (npm onnxruntime-node) on the
// same exported model.onnx, in TF Serving's answer format. One process per CPU (node:cluster,
// the usual way to spread a Node server over cores), each with a single-threaded ORT session.
//   NODE_PATH=<dir>/node_modules node ort_server.js MODEL.onnx PORT [WORKERS]
const cluster = require('node:cluster');
const http = require('node:http');
const os = require('node:os');

const [model, port, workersText] = process.argv.slice(2);
const workers = Number(workersText || os.cpus().length);

if (cluster.isPrimary) {
  for (let i = 0; i < workers; ++i) cluster.fork();
  cluster.on('exit', (w, code) => {
    console.error(`ort_server: worker ${w.process.pid} exited with ${code}`);
    process.exit(1);
  });
} else {
  const ort = require('onnxruntime-node');
  ort.InferenceSession.create(model, {intraOpNumThreads: 1, interOpNumThreads: 1}).then((session) => {
    const reply = (res, code, body) => {
      res.writeHead(code, {'Content-Type': 'application/json'});
      res.end(body);
    };
    http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        let instances;
        try {
          instances = JSON.parse(Buffer.concat(chunks)).instances;
        } catch (e) {
          return reply(res, 400, JSON.stringify({error: e.message}));
        }
        const n = instances.length, features = instances[0].length;
        const images = new Float32Array(n * features);
        instances.forEach((row, i) => images.set(row, i * features));
        const out = await session.run({images: new ort.Tensor('float32', images, [n, features])});
        const predictions = [];
        for (let i = 0; i < n; ++i) {
          predictions.push({scores: Array.from(out.scores.data.subarray(i * 10, i * 10 + 10)),
                            classes: Number(out.classes.data[i])});
        }
        reply(res, 200, JSON.stringify({predictions}));
      });
    }).listen(Number(port), '127.0.0.1');
  });
}
