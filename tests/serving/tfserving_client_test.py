#!/usr/bin/python3
"""`loom serve`'s gRPC API checked by a client nobody here wrote: TF Serving's and TensorFlow's own
.proto files (unmodified) compiled with Debian's protoc and grpc_python_plugin into a temporary
directory, driven with Debian's python3-grpcio, as the Kubeflow mnist client and other TF Serving
clients do.

- Predict on MNIST test images (float_val, tensor_content, several images per call) answers the
  same scores and argmax as the REST API of the same server.
- GetModelMetadata's Any unpacks into TF Serving's SignatureDefMap with the signature clients read;
  GetModelStatus reads as TF Serving's ModelVersionStatus.
- Errors carry TF Serving's codes: NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION; a field of the
  official PredictRequest that Loom does not act on (client_id) is refused, not ignored.
- SIGTERM: the server drains and exits 0.

Usage: tfserving_client_test.py LOOM_BINARY PROTO_DIR   (PROTO_DIR: tensorflow-serving-apis)
MNIST from $LOOM_MNIST_DIR (default: $LOOM_SOURCE_DIR/data/mnist).
"""
import gzip
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

NUM_IMAGES = 300


def compile_protos(proto_dir, out):
    os.makedirs(out)
    protos = []
    for root, _, files in os.walk(proto_dir):
        protos += [os.path.relpath(os.path.join(root, f), proto_dir) for f in files if f.endswith(".proto")]
    subprocess.run(["protoc", "-I", proto_dir, "-I", "/usr/include", "--python_out=" + out,
                    "--grpc_python_out=" + out, "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]
                   + sorted(protos), check=True)
    sys.path.insert(0, out)


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return dims, data[4 + 4 * rank:]


def mnist_test_images(mnist_dir, n):
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        path = os.path.join(mnist_dir, name)
        if os.path.exists(path):
            dims, pixels = read_idx(path)
            size = dims[1] * dims[2]
            return [[p / 255.0 for p in pixels[i * size:(i + 1) * size]] for i in range(n)]
    raise SystemExit("no t10k-images-idx3-ubyte[.gz] in " + mnist_dir)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_line(proc, pattern, log):
    deadline = time.time() + 120
    text = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("loom serve ended before %r:\n%s%s" % (pattern, text, open(log).read()))
        text += line
        m = re.search(pattern, line)
        if m:
            return m
    raise SystemExit("loom serve did not print %r in 120 s:\n%s" % (pattern, text))


def rest_predict(rest_port, images):
    body = json.dumps({"instances": images}).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/v1/models/mnist:predict" % rest_port, data=body)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["predictions"]


def main():
    loom, proto_dir = sys.argv[1], sys.argv[2]
    if not os.path.isdir(os.path.join(proto_dir, "tensorflow_serving")):
        raise SystemExit(proto_dir + ": not TF Serving's protos (configure with -DLOOM_SHARED_DIR=<shared dir>)")
    mnist_dir = os.environ.get("LOOM_MNIST_DIR") or os.path.join(os.environ.get("LOOM_SOURCE_DIR", "."), "data/mnist")
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAIL: " + what)

    with tempfile.TemporaryDirectory() as tmp:
        compile_protos(proto_dir, os.path.join(tmp, "py"))
        import grpc
        from google.protobuf import wrappers_pb2  # noqa: F401 (imported by the generated modules)
        from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
        from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                             model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc,
                                             regression_pb2)

        base = os.path.join(tmp, "models", "mnist")
        train = subprocess.run([loom, "train", "--train_dir", os.path.join(tmp, "train"), "--train_steps", "300",
                                "--data_dir", mnist_dir, "--export_dir", base], capture_output=True, text=True)
        if train.returncode != 0:
            raise SystemExit("loom train failed:\n" + train.stderr)

        grpc_port = free_port()
        log = os.path.join(tmp, "serve.err")
        with open(log, "w") as err:
            server = subprocess.Popen([loom, "serve", "--port", str(grpc_port), "--rest_api_port", "0",
                                       "--model_name", "mnist", "--model_base_path", base],
                                      stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            wait_for_line(server, r"Running gRPC ModelServer at 127\.0\.0\.1:%d \.\.\." % grpc_port, log)
            rest_port = int(wait_for_line(server, r"Exporting HTTP/REST API at:127\.0\.0\.1:(\d+)", log).group(1))
            channel = grpc.insecure_channel("127.0.0.1:%d" % grpc_port)
            predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            models = model_service_pb2_grpc.ModelServiceStub(channel)

            def predict_request(images, content=False, name="mnist"):
                request = predict_pb2.PredictRequest()
                request.model_spec.name = name
                tensor = request.inputs["images"]
                tensor.dtype = types_pb2.DT_FLOAT
                tensor.tensor_shape.dim.add().size = len(images)
                tensor.tensor_shape.dim.add().size = 784
                flat = [v for image in images for v in image]
                if content:
                    tensor.tensor_content = struct.pack("<%df" % len(flat), *flat)
                else:
                    tensor.float_val.extend(flat)
                return request

            def expect_code(call, request, code, text):
                try:
                    call(request, timeout=30)
                    check(False, "%s: answered OK, want %s" % (text, code))
                except grpc.RpcError as e:
                    check(e.code() == code, "%s: code %s, want %s (%s)" % (text, e.code(), code, e.details()))
                    check(text in e.details(), "%r not in the message %r" % (text, e.details()))

            # Predict: gRPC against REST, image by image, then several images per call.
            images = mnist_test_images(mnist_dir, NUM_IMAGES)
            same = 0
            for i, image in enumerate(images):
                answer = predictions.Predict(predict_request([image], content=i % 2 == 1), timeout=30)
                rest = rest_predict(rest_port, [image])[0]
                scores = list(answer.outputs["scores"].float_val)
                classes = list(answer.outputs["classes"].int64_val)
                check(answer.outputs["scores"].dtype == types_pb2.DT_FLOAT, "scores dtype")
                check([d.size for d in answer.outputs["scores"].tensor_shape.dim] == [1, 10], "scores shape")
                check(answer.outputs["classes"].dtype == types_pb2.DT_INT64, "classes dtype")
                check(len(scores) == 10 and all(abs(a - b) <= 1e-6 for a, b in zip(scores, rest["scores"])),
                      "image %d: gRPC scores %s, REST %s" % (i, scores, rest["scores"]))
                same += classes == [rest["classes"]] and classes[0] == max(range(10), key=lambda k: scores[k])
            check(same == NUM_IMAGES, "argmax equal to REST's on %d of %d images" % (same, NUM_IMAGES))
            answer = predictions.Predict(predict_request(images[:50]), timeout=30)
            rest = rest_predict(rest_port, images[:50])
            check(list(answer.outputs["classes"].int64_val) == [p["classes"] for p in rest], "50 images in one call")
            check(answer.model_spec.name == "mnist" and answer.model_spec.version.value == 1
                  and answer.model_spec.signature_name == "serving_default", "model_spec " + str(answer.model_spec))

            # Metadata, as a TF Serving client reads it.
            request = get_model_metadata_pb2.GetModelMetadataRequest()
            request.model_spec.name = "mnist"
            request.metadata_field.append("signature_def")
            metadata = predictions.GetModelMetadata(request, timeout=30)
            signatures = get_model_metadata_pb2.SignatureDefMap()
            check(metadata.metadata["signature_def"].Unpack(signatures), "metadata[signature_def] is a SignatureDefMap")
            sig = signatures.signature_def["serving_default"]
            check(sig.method_name == "tensorflow/serving/predict", "method_name " + sig.method_name)
            check(sig.inputs["images"].dtype == types_pb2.DT_FLOAT, "images dtype")
            check([d.size for d in sig.inputs["images"].tensor_shape.dim] == [-1, 784], "images shape")
            check([d.size for d in sig.outputs["scores"].tensor_shape.dim] == [-1, 10], "scores shape")
            check(sig.outputs["classes"].dtype == types_pb2.DT_INT64, "classes dtype")
            check("predict_images" in signatures.signature_def, "Kubeflow's example's predict_images signature")
            check(metadata.model_spec.version.value == 1, "metadata version")

            # Status.
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = "mnist"
            status = models.GetModelStatus(request, timeout=30)
            check(len(status.model_version_status) == 1, "one version")
            v = status.model_version_status[0]
            check(v.version == 1 and v.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE, "state " + str(v))
            check(v.status.error_code == 0 and v.status.error_message == "", "status " + str(v.status))

            # Errors, with TF Serving's codes.
            code = grpc.StatusCode
            expect_code(predictions.Predict, predict_request([images[0]], name="nope"), code.NOT_FOUND,
                        "Servable not found for request: Latest(nope)")
            r = predict_request([images[0]])
            r.model_spec.version.value = 7
            expect_code(predictions.Predict, r, code.NOT_FOUND, "Servable not found for request: Specific(mnist, 7)")
            r = predict_request([images[0]])
            r.model_spec.version_label = "stable"
            expect_code(predictions.Predict, r, code.INVALID_ARGUMENT, "Unrecognized servable version label: stable")
            r = predict_request([images[0]])
            r.inputs["images"].tensor_shape.dim[1].size = 28
            expect_code(predictions.Predict, r, code.INVALID_ARGUMENT, "shape [1,28] is not the signature's [-1,784]")
            r = predict_request([images[0]])
            r.model_spec.signature_name = "classify"
            expect_code(predictions.Predict, r, code.FAILED_PRECONDITION, 'Serving signature key "classify" not found.')
            r = predict_request([images[0]])
            r.client_id = b"kubeflow"
            expect_code(predictions.Predict, r, code.INVALID_ARGUMENT, "PredictRequest: field 6 is not one Loom acts on")
            r = predict_request([images[0]])
            r.inputs["images"].dtype = types_pb2.DT_HALF
            expect_code(predictions.Predict, r, code.INVALID_ARGUMENT, "dtype DT_HALF is not the signature's DT_FLOAT")
            c = classification_pb2.ClassificationRequest()
            c.model_spec.name = "mnist"
            expect_code(predictions.Classify, c, code.INVALID_ARGUMENT,
                        "Expected classification signature method_name to be tensorflow/serving/classify")
            g = regression_pb2.RegressionRequest()
            g.model_spec.name = "mnist"
            expect_code(predictions.Regress, g, code.INVALID_ARGUMENT,
                        "Expected regression signature method_name to be tensorflow/serving/regress")
            s = get_model_status_pb2.GetModelStatusRequest()
            s.model_spec.name = "nope"
            expect_code(models.GetModelStatus, s, code.NOT_FOUND, "Could not find any versions of model nope")
            m = get_model_metadata_pb2.GetModelMetadataRequest()
            m.model_spec.name = "mnist"
            expect_code(predictions.GetModelMetadata, m, code.INVALID_ARGUMENT,
                        "GetModelMetadataRequest must specify at least one metadata_field")
            channel.close()

            server.send_signal(signal.SIGTERM)
            out, _ = server.communicate(timeout=60)
            check(server.returncode == 0, "exit code %s after SIGTERM" % server.returncode)
            check("Drained, exiting" in out, "no 'Drained, exiting' in " + out)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    if failures:
        print("%d checks failed" % len(failures))
        return 1
    print("TF Serving's protos and python3-grpcio against loom serve: %d images, every check passed" % NUM_IMAGES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
