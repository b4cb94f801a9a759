#!/usr/bin/python3
"""Checks the example TrainJob against Trainer v2.3.0's TrainJob CRD schema, and the
torch-distributed runtime Loom has built in (as published) against the ClusterTrainingRuntime
CRD, as a Kubernetes API server with Kubeflow Trainer would (kubectl apply's strict field
validation: an unknown field is an error too). Then shows the check can fail: broken twins of
examples/pytorch/trainjob.yaml must each be rejected with an error naming the field.

Usage: trainjob_schema_test.py SOURCE_DIR   (Debian's python3-jsonschema and python3-yaml)
"""
import os
import sys

import schema_check
from tfjob_schema_test import errors_of

CRD = "third_party/schemas/trainer.kubeflow.org_trainjobs.crd.yaml"
RUNTIME_CRD = "third_party/schemas/trainer.kubeflow.org_clustertrainingruntimes.crd.yaml"
EXAMPLE = "examples/pytorch/trainjob.yaml"
RUNTIME = "third_party/schemas/trainer-runtime-torch-distributed.yaml"


def main():
    source_dir = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    failures = []
    runtime_kind, runtime_schemas = schema_check.load_crd(source_dir, RUNTIME_CRD)
    schema_check.check_example(source_dir, RUNTIME,
                               lambda doc, source: errors_of(doc, runtime_kind, runtime_schemas, source), failures)
    kind, schemas = schema_check.load_crd(source_dir, CRD)
    seed = schema_check.check_example(source_dir, EXAMPLE,
                                      lambda doc, source: errors_of(doc, kind, schemas, source), failures)

    def broken(edit):
        return schema_check.twin(seed, edit)

    twins = [
        ("string numNodes", "spec.trainer.numNodes", broken(lambda d: d["spec"]["trainer"].update(numNodes="2"))),
        ("misspelt numProcPerNode", "spec.trainer",
         broken(lambda d: d["spec"]["trainer"].update(numProcsPerNode=2))),
        ("runtimeRef without a name", "spec.runtimeRef", broken(lambda d: d["spec"]["runtimeRef"].pop("name"))),
        ("args not a list", "spec.trainer.args", broken(lambda d: d["spec"]["trainer"].update(args="--epochs=3"))),
        ("wrong kind", "kind", broken(lambda d: d.update(kind="PyTorchJob"))),
    ]
    schema_check.check_twins(twins, lambda doc, source: errors_of(doc, kind, schemas, source), failures)

    for line in failures:
        print("FAIL " + line, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
