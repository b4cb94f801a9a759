"""What the example schema tests share: strict JSON schemas (unknown fields are errors, as
kubectl's strict field validation and `argo lint` make them), the TFJob CRD's schemas by
apiVersion, one error line per problem naming the field, and the broken-twin check that shows a
schema test can fail, and the end of every such test (finish). Imported by the *_schema_test.py
beside it.
"""
import copy
import os
import sys

import jsonschema
import yaml

TFJOB_CRD = "third_party/schemas/kubeflow.org_tfjobs.crd.yaml"


def strict(schema):
    """A copy of the schema with unknown fields forbidden wherever an object lists its properties."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def load_crd(source_dir, path=TFJOB_CRD):
    """(kind, {"group/version": strict schema}) of a CustomResourceDefinition file."""
    with open(os.path.join(source_dir, path)) as f:
        crd = yaml.safe_load(f)
    schemas = {crd["spec"]["group"] + "/" + v["name"]: strict(v["schema"]["openAPIV3Schema"])
               for v in crd["spec"]["versions"]}
    return crd["spec"]["names"]["kind"], schemas


def errors_of(doc, schema, source):
    """One line per problem, each naming the field: `source: spec.parallelism: 'many' is not ...`."""
    validator = jsonschema.Draft7Validator(schema)
    out = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in error.absolute_path) or "(document)"
        out.append("%s: %s: %s" % (source, where, error.message))
    return out


def crd_errors_of(doc, kind, schemas, source):
    """One line per problem of a custom resource (schemas: load_crd's), each naming the field:
    `source: spec.tfReplicaSpecs.Worker.replicas: ...`."""
    if not isinstance(doc, dict):
        return [source + ": not a mapping"]
    if doc.get("kind") != kind:
        return [source + ": kind: %r is not %s" % (doc.get("kind"), kind)]
    schema = schemas.get(doc.get("apiVersion"))
    if schema is None:
        return [source + ": apiVersion: %r is not one of %s" % (doc.get("apiVersion"), sorted(schemas))]
    out = []
    if not (doc.get("metadata") or {}).get("name"):
        out.append(source + ": metadata.name: required")
    return out + errors_of(doc, schema, source)


def check_crd_examples(source_dir, crd, examples, failures):
    """Checks each example file against the CRD at `crd`; returns (errors_fn, {rel: document})
    where errors_fn(doc, source) checks a document against that CRD."""
    kind, schemas = load_crd(source_dir, crd)

    def errors_fn(doc, source):
        return crd_errors_of(doc, kind, schemas, source)
    return errors_fn, {rel: check_example(source_dir, rel, errors_fn, failures) for rel in examples}


def finish(twins, errors_fn, failures, shown=None, listed=None):
    """Checks the broken twins (check_twins), prints every failure; the exit code."""
    check_twins(twins, errors_fn, failures, shown, listed)
    for line in failures:
        print("FAIL " + line, file=sys.stderr)
    return 1 if failures else 0


def check_twins(twins, errors_fn, failures, shown=None, listed=None):
    """Each (what, field, doc) twin must be rejected by errors_fn(doc, "broken") with an error at
    `field`; a twin that is not is appended to failures. shown / listed: how many characters of
    the matching error to print, and how many errors to list on a failure (None: all)."""
    for what, field, doc in twins:
        errors = errors_fn(doc, "broken")
        named = [e for e in errors if e.startswith("broken: " + field + ":")]
        if not named:
            failures.append("broken twin (%s) not rejected at %s; errors: %s" % (what, field, errors[:listed] or "none"))
        else:
            print("broken twin (%s) rejected: %s" % (what, named[0][:shown]))


def check_example(source_dir, rel, errors_fn, failures):
    """Reads the example at rel, appends its errors_fn(doc, rel) to failures, says whether it is
    valid and returns the document."""
    with open(os.path.join(source_dir, rel)) as f:
        doc = yaml.safe_load(f)
    errors = errors_fn(doc, rel)
    failures += errors
    print("%s: %s" % (rel, "valid" if not errors else "%d error(s)" % len(errors)))
    return doc


def twin(seed, edit):
    """A copy of seed with edit(copy) applied: a broken twin."""
    doc = copy.deepcopy(seed)
    edit(doc)
    return doc
