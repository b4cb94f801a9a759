#!/usr/bin/python3
"""Checks the example TFJobs against the TFJob CRD's OpenAPI schema, as a Kubernetes API server
with the Kubeflow training operator would (kubectl apply's strict field validation: an unknown
field is an error too). Then shows the check can fail: broken twins of examples/mnist/tfjob.yaml
(a string `replicas`, a misspelt field, a container without a name) must each be rejected with
an error naming the field.

Usage: tfjob_schema_test.py SOURCE_DIR   (Debian's python3-jsonschema and python3-yaml)
"""
import os
import sys

import schema_check

EXAMPLES = ["examples/mnist/tfjob.yaml"]


def main():
    source_dir = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    failures = []
    errors_of, examples = schema_check.check_crd_examples(source_dir, schema_check.TFJOB_CRD, EXAMPLES, failures)

    # The check must be able to fail: each broken twin is rejected, naming the field.
    seed = examples["examples/mnist/tfjob.yaml"]

    def broken(edit):
        return schema_check.twin(seed, edit)

    def container(doc):
        return doc["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]

    twins = [
        ("string replicas", "spec.tfReplicaSpecs.Worker.replicas",
         broken(lambda d: d["spec"]["tfReplicaSpecs"]["Worker"].update(replicas="2"))),
        ("misspelt restartPolicy", "spec.tfReplicaSpecs.PS",
         broken(lambda d: d["spec"]["tfReplicaSpecs"]["PS"].update(restartpolicy="Never"))),
        ("container without a name", "spec.tfReplicaSpecs.Worker.template.spec.containers.0",
         broken(lambda d: container(d).pop("name"))),
        ("args not a list", "spec.tfReplicaSpecs.Worker.template.spec.containers.0.args",
         broken(lambda d: container(d).update(args="--train_steps=10"))),
        ("string deadline", "spec.runPolicy.activeDeadlineSeconds",
         broken(lambda d: d["spec"]["runPolicy"].update(activeDeadlineSeconds="soon"))),
        ("wrong apiVersion", "apiVersion", broken(lambda d: d.update(apiVersion="kubeflow.org/v9"))),
    ]
    return schema_check.finish(twins, errors_of, failures)


if __name__ == "__main__":
    sys.exit(main())
