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

CRD = "third_party/schemas/kubeflow.org_pytorchjobs.crd.yaml"
EXAMPLE = "examples/pytorch/pytorchjob.yaml"


def main():
    source_dir = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    failures = []
    errors_of, examples = schema_check.check_crd_examples(source_dir, CRD, [EXAMPLE], failures)
    seed = examples[EXAMPLE]

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
    return schema_check.finish(twins, errors_of, failures)


if __name__ == "__main__":
    sys.exit(main())
