// Runs an ONNX model with ONNX Runtime (npm onnxruntime-node) on raw float32 images and writes
// what it answers, for onnx_runtime_test.cc: the cross-check by a runtime we did not write.
//   node ort_predict.js MODEL.onnx IMAGES.f32 N FEATURES SCORES_OUT.f32 CLASSES_OUT.i64
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, imagesPath, nText, featuresText, scoresPath, classesPath] = process.argv.slice(2);
  const n = Number(nText), features = Number(featuresText);
  const buf = fs.readFileSync(imagesPath);
  const images = new Float32Array(buf.buffer, buf.byteOffset, n * features);
  const session = await ort.InferenceSession.create(model);
  const scores = Buffer.alloc(n * 10 * 4);
  const classes = Buffer.alloc(n * 8);
  const chunk = 1000;  // a CNN's activations for 10,000 images at once would be ~0.5 GB
  for (let begin = 0; begin < n; begin += chunk) {
    const rows = Math.min(chunk, n - begin);
    const input = new ort.Tensor('float32', images.subarray(begin * features, (begin + rows) * features),
                                 [rows, features]);
    const out = await session.run({images: input});
    if (out.scores.dims.join() !== `${rows},10` || out.classes.dims.join() !== `${rows}`)
      throw new Error(`unexpected output shapes ${out.scores.dims} and ${out.classes.dims}`);
    Buffer.from(out.scores.data.buffer, out.scores.data.byteOffset, rows * 40).copy(scores, begin * 40);
    Buffer.from(out.classes.data.buffer, out.classes.data.byteOffset, rows * 8).copy(classes, begin * 8);
  }
  fs.writeFileSync(scoresPath, scores);
  fs.writeFileSync(classesPath, classes);
}

main().catch((e) => {
  console.error(`ort_predict: ${e.message}`);
  process.exit(1);
});
