"""What the example schema tests share: strict JSON schemas (unknown fields are errors, as
kubectl's strict field validation and `argo lint` make them), the TFJob CRD's schemas by
apiVersion, one error line per problem naming the field, and the broken-twin check that shows a
schema test can fail. Imported by tfjob_schema_test.py and workflow_schema_test.py.
"""
import copy
import os

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
