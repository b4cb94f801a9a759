#!/usr/bin/python3
"""Checks the example PyTorchJob against the PyTorchJob CRD's OpenAPI schema, as a Kubernetes API
server with the Kubeflow Training Operator would (kubectl apply's strict field validation: an
unknown field is an error too). Then shows the check can fail: broken twins of
examples/pytorch/pytorchjob.yaml must each be rejected with an error naming the field.

Usage: pytorchjob_schema_test.py SOURCE_DIR   (Debian's python3-jsonschema and python3-yaml)
"""
import os
import sys

import schema_check
from tfjob_schema_test import errors_of

CRD = "third_party/schemas/kubeflow.org_pytorchjobs.crd.yaml"
EXAMPLE = "examples/pytorch/pytorchjob.yaml"


def main():
    source_dir = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    kind, schemas = schema_check.load_crd(source_dir, CRD)
    failures = []
    seed = schema_check.check_example(source_dir, EXAMPLE,
                                      lambda doc, source: errors_of(doc, kind, schemas, source), failures)

    def broken(edit):
        return schema_check.twin(seed, edit)

    def container(doc):
        return doc["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]

    twins = [
        ("string replicas", "spec.pytorchReplicaSpecs.Worker.replicas",
         broken(lambda d: d["spec"]["pytorchReplicaSpecs"]["Worker"].update(replicas="2"))),
        ("misspelt restartPolicy", "spec.pytorchReplicaSpecs.Master",
         broken(lambda d: d["spec"]["pytorchReplicaSpecs"]["Master"].update(restartpolicy="Never"))),
        ("container without a name", "spec.pytorchReplicaSpecs.Worker.template.spec.containers.0",
         broken(lambda d: container(d).pop("name"))),
        ("string backoffLimit", "spec.runPolicy.backoffLimit",
         broken(lambda d: d["spec"]["runPolicy"].update(backoffLimit="six"))),
        ("wrong kind", "kind", broken(lambda d: d.update(kind="TFJob"))),
    ]
    schema_check.check_twins(twins, lambda doc, source: errors_of(doc, kind, schemas, source), failures)

    for line in failures:
        print("FAIL " + line, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
