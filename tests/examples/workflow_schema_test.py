#!/usr/bin/python3
"""Checks examples/mnist/workflow.yaml against Argo Workflows' published JSON schema
(third_party/schemas/argo-workflows.schema.json), strictly: an object whose fields the schema
lists may not have others (as `argo lint` and the API server's strict decoding reject them).
The TFJob inside its resource template, with the workflow's default parameters substituted, is
checked against the TFJob CRD the same way. Then broken twins show the check can fail: each must
be rejected with an error naming the field.

Usage: workflow_schema_test.py SOURCE_DIR   (Debian's python3-jsonschema and python3-yaml)
"""
import json
import os
import re
import sys

import yaml

import schema_check

SCHEMA = "third_party/schemas/argo-workflows.schema.json"
EXAMPLE = "examples/mnist/workflow.yaml"
WORKFLOW_DEF = "io.argoproj.workflow.v1alpha1.Workflow"


def load_json_schema(source_dir):
    with open(os.path.join(source_dir, SCHEMA)) as f:
        full = json.load(f)
    return {"$ref": "#/definitions/" + WORKFLOW_DEF, "definitions": schema_check.strict(full["definitions"])}


def tfjob_of(workflow):
    """The TFJob manifest of the resource template, with default parameters and sample values."""
    params = {p["name"]: p.get("value", "") for p in workflow["spec"]["arguments"]["parameters"]}
    for template in workflow["spec"]["templates"]:
        if "resource" in template:
            text = template["resource"]["manifest"]

            def value(match):
                name = match.group(1).strip()
                if name.startswith("workflow.parameters."):
                    return str(params[name[len("workflow.parameters."):]])
                if name == "workflow.name":
                    return "mnist-abcde"
                return "/data/" + name.rsplit(".", 1)[-1]
            return yaml.safe_load(re.sub(r"\{\{([^}]*)\}\}", value, text))
    return None


def main():
    source_dir = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    schema = load_json_schema(source_dir)
    _, tfjob_schemas = schema_check.load_crd(source_dir)
    failures = []

    with open(os.path.join(source_dir, EXAMPLE)) as f:
        workflow = yaml.safe_load(f)
    errors = schema_check.errors_of(workflow, schema, EXAMPLE)
    failures += errors
    print("%s: %s" % (EXAMPLE, "valid" if not errors else "%d error(s)" % len(errors)))

    tfjob = tfjob_of(workflow)
    if tfjob is None:
        failures.append(EXAMPLE + ": no resource template with a TFJob")
    else:
        schema_tf = tfjob_schemas.get(tfjob.get("apiVersion"))
        errors = schema_check.errors_of(tfjob, schema_tf, EXAMPLE + " (train's TFJob)") if schema_tf else \
            [EXAMPLE + ": TFJob apiVersion %r not in the CRD" % tfjob.get("apiVersion")]
        failures += errors
        print("%s: the train step's TFJob: %s" % (EXAMPLE, "valid" if not errors else "%d error(s)" % len(errors)))

    def broken(edit):
        return schema_check.twin(workflow, edit)

    def template(doc, name):
        return next(t for t in doc["spec"]["templates"] if t["name"] == name)

    twins = [
        ("misspelt entrypoint", "spec", broken(lambda d: d["spec"].update(entrypont=d["spec"].pop("entrypoint")))),
        ("string parallelism", "spec.parallelism", broken(lambda d: d["spec"].update(parallelism="many"))),
        ("script command not a list", "spec.templates.1.script.command",
         broken(lambda d: template(d, "get-workflow-info")["script"].update(command="sh"))),
        ("output parameter without a name", "spec.templates.1.outputs.parameters.0",
         broken(lambda d: template(d, "get-workflow-info")["outputs"]["parameters"][0].pop("name"))),
        ("unknown field in a step", "spec.templates.0.steps.0.0",
         broken(lambda d: d["spec"]["templates"][0]["steps"][0][0].update(templat="x"))),
        ("wrong kind", "kind", broken(lambda d: d.update(kind="Workflows"))),
    ]
    return schema_check.finish(twins, lambda doc, source: schema_check.errors_of(doc, schema, source), failures,
                               shown=160, listed=3)


if __name__ == "__main__":
    sys.exit(main())
