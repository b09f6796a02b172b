"""Parses real answers of facecore with pydantic models generated from its
own OpenAPI document (datamodel-code-generator, extra fields forbidden).

usage: python openapi_answers.py OPENAPI_JSON MODELS_PY ANSWERS_JSON

ANSWERS_JSON is a list of {"path", "method", "status", "body"}. For each, the
document's response schema of that operation and status is looked up, its
generated model validates the body, and one line per answer says which model
took it. Exits 1 if any answer fails, or has no schema to be checked against.
"""
import importlib.util
import json
import sys


def main() -> int:
    openapi_path, models_path, answers_path = sys.argv[1:4]
    with open(openapi_path) as f:
        doc = json.load(f)
    spec = importlib.util.spec_from_file_location("models", models_path)
    models = importlib.util.module_from_spec(spec)
    # Registered first, so that pydantic resolves the models' references
    # to each other through the module.
    sys.modules["models"] = models
    spec.loader.exec_module(models)
    with open(answers_path) as f:
        answers = json.load(f)
    failures = 0
    for answer in answers:
        path, method, status = answer["path"], answer["method"].lower(), str(answer["status"])
        where = f"{method.upper()} {path} {status}"
        try:
            response = doc["paths"][path][method]["responses"][status]
            ref = response["content"]["application/json"]["schema"]["$ref"]
        except KeyError as e:
            print(f"FAIL {where}: the document has no JSON schema for it ({e})")
            failures += 1
            continue
        name = ref.rsplit("/", 1)[-1]
        model = getattr(models, name, None)
        if model is None:
            print(f"FAIL {where}: no generated model {name}")
            failures += 1
            continue
        try:
            model.model_validate(answer["body"])
        except Exception as e:  # pydantic.ValidationError, reported whole
            print(f"FAIL {where}: {name} rejects {json.dumps(answer['body'])[:300]}: {e}")
            failures += 1
            continue
        print(f"ok {where}: {name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
