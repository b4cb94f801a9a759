#!/usr/bin/python3
"""Checks the example TrainJobs against Trainer v2.3.0's TrainJob CRD schema, and the runtimes
Loom has built in (torch-distributed as published, loom-distributed as examples/mnist holds it)
against the ClusterTrainingRuntime CRD, as a Kubernetes API server with Kubeflow Trainer would
(kubectl apply's strict field validation: an unknown field is an error too). Then shows the check
can fail: broken twins of examples/pytorch/trainjob.yaml and of the loom-distributed runtime must
each be rejected with an error naming the field.

Usage: trainjob_schema_test.py SOURCE_DIR   (Debian's python3-jsonschema and python3-yaml)
"""
import os
import sys

import schema_check

CRD = "third_party/schemas/trainer.kubeflow.org_trainjobs.crd.yaml"
RUNTIME_CRD = "third_party/schemas/trainer.kubeflow.org_clustertrainingruntimes.crd.yaml"
EXAMPLES = ["examples/pytorch/trainjob.yaml", "examples/mnist/trainjob.yaml"]
LOOM_RUNTIME = "examples/mnist/loom-distributed.yaml"
RUNTIMES = ["third_party/schemas/trainer-runtime-torch-distributed.yaml", LOOM_RUNTIME]


def main():
    source_dir = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    failures = []
    runtime_errors_of, runtimes = schema_check.check_crd_examples(source_dir, RUNTIME_CRD, RUNTIMES, failures)
    errors_of, examples = schema_check.check_crd_examples(source_dir, CRD, EXAMPLES, failures)
    seed = examples["examples/pytorch/trainjob.yaml"]

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
    # Loom's policy is an annotation because mlPolicy has no room for one: a field there is refused.
    runtime = runtimes[LOOM_RUNTIME]
    schema_check.check_twins([
        ("a tensorflow field in mlPolicy", "spec.mlPolicy",
         schema_check.twin(runtime, lambda d: d["spec"]["mlPolicy"].update(tensorflow={}))),
        ("string ps replicas", "spec.template.spec.replicatedJobs.0.replicas",
         schema_check.twin(runtime, lambda d: d["spec"]["template"]["spec"]["replicatedJobs"][0].update(replicas="2"))),
    ], runtime_errors_of, failures)
    return schema_check.finish(twins, errors_of, failures)


if __name__ == "__main__":
    sys.exit(main())
