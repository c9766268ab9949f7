"""template.yaml and the code must not drift: routes, handlers, environment, the models each
image carries and which ones each function loads, alarms, the batch pipeline's wiring (queue,
dead-letter queue, S3 trigger), lint."""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from lamina.batch.jobs import INCOMING_PREFIX, JOBS_PREFIX
from lamina.observability import DIMENSIONS, MetricName
from lamina.settings import ENV_VARS, Settings
from tests.conftest import ROOT, import_app

TEMPLATE = ROOT / "template.yaml"
# Variables read by Powertools itself rather than by lamina.settings.
POWERTOOLS_ONLY = {"POWERTOOLS_LOG_LEVEL"}
# What a zip function (the submit function: its package + the lamina layer) must never
# import: the model and HTTP stacks live in the image functions only.
NOT_IN_ZIP = ["numpy", "onnxruntime", "tokenizers", "fastapi", "starlette", "mangum", "torch"]
# Stand-ins for resources in environment values (what CloudFormation resolves at deploy).
PLACEHOLDERS = {
    "AWS::S3::Bucket": "lamina-test-bucket",
    "AWS::SQS::Queue": "https://sqs.us-east-1.amazonaws.com/123456789012/lamina-test-queue",
}
PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::StackName": "lamina-test",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/lamina-test/"
    "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
}
# The embedding image's models: where functions/Dockerfile puts each (target `embed`), and
# the build/models/ directory it copies it from.
MINILM_IN_IMAGE = "/opt/ml/model"
E5_IN_IMAGE = "/opt/ml/models/multilingual-e5-small"
EMBEDDING_MODELS = {
    MINILM_IN_IMAGE: ("all-MiniLM-L6-v2", ROOT / "build/models/all-MiniLM-L6-v2/int8"),
    E5_IN_IMAGE: ("multilingual-e5-small", ROOT / "build/models/multilingual-e5-small/q4"),
}
EMBEDDING_FUNCTIONS = ("EmbedFunction", "BatchWorkerFunction")
# The ONNX function's image (target `generic`): an ONNX graph and a SQL query model, the
# spam detector first (where MODEL_URI points), each -> (its manifest name, its source).
LISTINGS_IN_IMAGE = "/opt/ml/models/listing-ranker"
GENERIC_MODELS = {
    MINILM_IN_IMAGE: ("spam-detector", ROOT / "build/models/spam-detector"),
    LISTINGS_IN_IMAGE: ("listing-ranker", ROOT / "build/models/listing-ranker"),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, matches = decode(str(TEMPLATE))
    assert not matches, matches
    assert parsed is not None
    return dict(parsed)


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: res
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


NO_VALUE = object()  # AWS::NoValue: the property (here: the variable) is left out


def condition(template: dict[str, Any], node: Any, params: dict[str, Any]) -> bool:
    """A condition (its name, or an expression) as CloudFormation evaluates it."""
    if isinstance(node, str):
        return condition(template, template["Conditions"][node], params)
    [(fn, arg)] = node.items()
    if fn == "Condition":
        return condition(template, arg, params)
    if fn == "Fn::Equals":
        left, right = (str(value(template, a, **params)) for a in arg)
        return left == right
    if fn == "Fn::Not":
        return not condition(template, arg[0], params)
    if fn == "Fn::And":
        return all(condition(template, a, params) for a in arg)
    if fn == "Fn::Or":
        return any(condition(template, a, params) for a in arg)
    raise AssertionError(f"no test evaluation for condition {node}")


def value(template: dict[str, Any], node: Any, **params: Any) -> Any:
    """A property's value as CloudFormation resolves it: parameters at their defaults unless
    given in ``params``, conditions evaluated, resources replaced by PLACEHOLDERS."""
    if isinstance(node, list):
        return [value(template, item, **params) for item in node]
    if not (isinstance(node, dict) and len(node) == 1):
        return node
    [(fn, arg)] = node.items()
    if fn == "Ref":
        if arg == "AWS::NoValue":
            return NO_VALUE
        if arg in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[arg]
        if arg in template.get("Parameters", {}):
            unknown = set(params) - set(template["Parameters"])
            assert not unknown, f"not parameters of the template: {unknown}"
            return params.get(arg, template["Parameters"][arg].get("Default"))
        return PLACEHOLDERS[template["Resources"][arg]["Type"]]
    if fn == "Fn::If":
        name, yes, no = arg
        return value(template, yes if condition(template, name, params) else no, **params)
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else arg

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(value(template, variables[name], **params))
            return str(value(template, {"Ref": name}, **params))

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    if fn == "Fn::Select":
        index, items = arg
        return value(template, items, **params)[int(index)]
    if fn == "Fn::Split":
        delimiter, text = arg
        return str(value(template, text, **params)).split(delimiter)
    if fn == "Fn::Join":
        delimiter, items = arg
        return delimiter.join(str(v) for v in value(template, items, **params))
    raise AssertionError(f"no test value for {node}")


def environment(template: dict[str, Any], name: str, **params: Any) -> dict[str, str]:
    """A function's environment as deployed (Globals + its own), with default parameters
    unless given in ``params``; variables resolving to AWS::NoValue are left out."""
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **functions(template)[name]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    resolved = {k: value(template, v, **params) for k, v in variables.items()}
    return {k: str(v) for k, v in resolved.items() if v is not NO_VALUE}


def image_command(resource: dict[str, Any]) -> str:
    """The handler an image function runs: ImageConfig.Command, else the Dockerfile's CMD."""
    command = resource["Properties"].get("ImageConfig", {}).get("Command")
    if command:
        return str(command[0])
    dockerfile = ROOT / resource["Metadata"]["DockerContext"] / resource["Metadata"]["Dockerfile"]
    match = re.search(r'^CMD \["([^"]+)"\]', dockerfile.read_text(), re.MULTILINE)
    assert match, f"{dockerfile} has no exec-form CMD"
    return match.group(1)


def dockerfile_stages(resource: dict[str, Any]) -> dict[str, list[str]]:
    """The Dockerfile's stages by name (in order), each its instructions (continuations
    joined, comments dropped), a stage FROM an earlier one starting with that one's."""
    meta = resource["Metadata"]
    text = (ROOT / meta["DockerContext"] / meta["Dockerfile"]).read_text()
    lines = [ln for ln in text.replace("\\\n", " ").splitlines() if ln and ln[0] != "#"]
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines:
        start = re.match(r"^FROM (\S+) AS (\w+)$", line)
        if start:
            current = [*stages.get(start.group(1), []), line]
            stages[start.group(2)] = current
        elif line.startswith("FROM "):
            raise AssertionError(f"every stage of the Dockerfile is named: {line!r}")
        else:
            current.append(line)
    return stages


def image_target(resource: dict[str, Any]) -> str:
    """The stage an image function is built from: DockerBuildTarget, else the last one."""
    stages = dockerfile_stages(resource)
    target = str(resource["Metadata"].get("DockerBuildTarget", list(stages)[-1]))
    assert target in stages, f"no stage {target!r} in the Dockerfile"
    return target


def image_instructions(resource: dict[str, Any]) -> list[str]:
    return dockerfile_stages(resource)[image_target(resource)]


def dockerfile_env(resource: dict[str, Any]) -> dict[str, str]:
    """The ENV of the function's image (its target stage and the stages it is built on)."""
    found = (re.match(r"^ENV (\w+)=(\S+)$", ln) for ln in image_instructions(resource))
    return {m.group(1): m.group(2) for m in found if m}


def baked_models(resource: dict[str, Any]) -> dict[str, Path]:
    """Where in the image each model directory lands -> the build/models/ directory it is
    copied from (``${MODEL}``: DockerBuildArgs MODEL, else the ARG's default)."""
    args = {k: str(v) for k, v in resource["Metadata"].get("DockerBuildArgs", {}).items()}
    baked: dict[str, Path] = {}
    for line in image_instructions(resource):
        arg = re.match(r"^ARG (\w+)=(\S+)$", line)
        if arg:
            args.setdefault(arg.group(1), arg.group(2))
        copy = re.match(r"^COPY build/models/(\S+)/ (\S+)/$", line)
        if copy:
            source = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], copy.group(1))
            baked[copy.group(2)] = ROOT / "build" / "models" / source
    return baked


def baked_model(resource: dict[str, Any]) -> Path:
    """The build/models/ directory an image function's Dockerfile copies to its MODEL_URI."""
    baked = baked_models(resource)
    return baked[dockerfile_env(resource)["MODEL_URI"]]


def local_environment(template: dict[str, Any], name: str, **params: Any) -> dict[str, str]:
    """An image function's environment with the image's model paths (/opt/ml/model, ...)
    replaced by the directories the image copies them from, so the handler loads here what
    it would there."""
    resource = functions(template)[name]
    env = {**dockerfile_env(resource), **environment(template, name, **params)}
    local = {path: str(source) for path, source in baked_models(resource).items()}
    for variable in ("MODEL_URI", "LAMINA_MODELS"):
        if variable in env:
            env[variable] = ",".join(local.get(u, u) for u in env[variable].split(","))
    return env


def http_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Functions behind the HTTP API."""
    return {
        name: res
        for name, res in functions(template).items()
        if any(e["Type"] == "HttpApi" for e in res["Properties"].get("Events", {}).values())
    }


def handler_target(resource: dict[str, Any]) -> str:
    props = resource["Properties"]
    return image_command(resource) if props.get("PackageType") == "Image" else props["Handler"]


IMPORT_HANDLER = """
import importlib, importlib.abc, json, sys
blocked = set(json.loads(sys.argv[2]))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in this package)")
        return None
sys.meta_path.insert(0, Block())
sys.path[0:0] = json.loads(sys.argv[3])
module_name, _, attr = sys.argv[1].rpartition(".")
module = importlib.import_module(module_name)
assert callable(getattr(module, attr, None)), f"{sys.argv[1]} is not callable"
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("functions", "lamina"))))
"""


def import_handler(
    target: str, env: dict[str, str], paths: list[Path], blocked: list[str], cwd: Path
) -> list[str]:
    """Import ``target`` in a fresh interpreter with exactly ``env`` (plus PATH), ``paths``
    first on sys.path and ``blocked`` modules refused; the lamina/functions modules loaded."""
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            IMPORT_HANDLER,
            target,
            json.dumps(blocked),
            json.dumps([str(p) for p in paths]),
        ],
        env={"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{target} does not import:\n{done.stderr[-3000:]}"
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_image_handlers_import_with_the_template_environment(
    template: dict[str, Any], fp32_dir: Path
) -> None:
    """Each image function's command (ImageConfig.Command or the Dockerfile's CMD) imports,
    cold start included (the model loads), with the Dockerfile's and the template's
    environment; the baked model path is the directory the Dockerfile copies."""
    images = {n: r for n, r in functions(template).items() if r["Properties"].get("PackageType")}
    assert {
        "EmbedFunction",
        "BatchWorkerFunction",
        "ClassifyFunction",
        "ImageClassifyFunction",
        "OnnxFunction",
    } <= set(images)
    assert baked_model(images["EmbedFunction"]) == fp32_dir.with_name("int8")
    assert baked_models(images["BatchWorkerFunction"]) == baked_models(images["EmbedFunction"])
    for name, resource in images.items():
        env = local_environment(template, name)
        loaded = import_handler(handler_target(resource), env, [ROOT], [], cwd=ROOT)
        assert handler_target(resource).rpartition(".")[0] in loaded, name


def test_embedding_image_carries_both_models_the_others_one(
    template: dict[str, Any], int8_dir: Path, e5_dir: Path
) -> None:
    """The embedding functions' image (Dockerfile target `embed`) carries both embedding
    models, MiniLM where ModelUri's default points; the classify and image images (target
    `model`) carry their own model only, the ONNX one (target `generic`, next test) its two."""
    images = {n: r for n, r in functions(template).items() if r["Properties"].get("PackageType")}
    assert {path: source for path, (_, source) in EMBEDDING_MODELS.items()} == {
        MINILM_IN_IMAGE: int8_dir,
        E5_IN_IMAGE: e5_dir,
    }
    for name in EMBEDDING_FUNCTIONS:
        resource = images[name]
        assert image_target(resource) == "embed", name
        assert baked_models(resource) == {p: src for p, (_, src) in EMBEDDING_MODELS.items()}
        for model, source in EMBEDDING_MODELS.values():
            assert json.loads((source / "manifest.json").read_text())["name"] == model
        # The image alone (a plain `docker run`) serves both, MiniLM first: the default.
        env = dockerfile_env(resource)
        assert env["LAMINA_MODELS"].split(",") == list(EMBEDDING_MODELS)
        assert env["MODEL_URI"] == MINILM_IN_IMAGE
    # The drift check runs in the embedding image: numpy, and the reference samples in the
    # embedding models' directories.
    assert image_target(images["DriftCheckFunction"]) == "embed"
    others = set(images) - set(EMBEDDING_FUNCTIONS) - {"DriftCheckFunction"}
    assert others == {"ClassifyFunction", "ImageClassifyFunction", "OnnxFunction"}
    for name in others - {"OnnxFunction"}:
        resource = images[name]
        assert image_target(resource) == "model", name
        assert list(baked_models(resource)) == [MINILM_IN_IMAGE], name
        assert "LAMINA_MODELS" not in dockerfile_env(resource), name
    assert image_target(images["OnnxFunction"]) == "generic"
    # Everything but the model layers (and the generic target's SQL engine, next test) is
    # shared: every target builds on the same stage.
    stages = dockerfile_stages(images["EmbedFunction"])
    for target in ("embed", "generic", "model"):
        assert stages[target][: len(stages["runtime"])] == stages["runtime"], target
        extra = [ln for ln in stages[target][len(stages["runtime"]) :] if ln.startswith("RUN ")]
        assert not extra, f"the {target} target only adds model directories and their variables"


def test_only_the_generic_target_installs_the_sql_lock(template: dict[str, Any]) -> None:
    """DuckDB (pyproject's `sql` extra) is locked apart from every image's dependencies, in
    functions/requirements-sql.lock; the Dockerfile's `sql` stage installs that lock the way
    `deps` installs the main one, and only the `generic` target (OnnxFunction) copies it."""
    from infra.local.wheels import LOCK, SQL_EXTRA, SQL_LOCK, locked

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("duckdb")]
    assert [d for d in project["optional-dependencies"][SQL_EXTRA] if d.startswith("duckdb")]
    assert "duckdb" not in locked(LOCK.read_text())
    assert list(locked(SQL_LOCK.read_text())) == ["duckdb"]  # it depends on nothing

    stages = dockerfile_stages(functions(template)["OnnxFunction"])
    installs = {
        name: [ln for ln in lines if ln.startswith("RUN ") and "pip install" in ln]
        for name, lines in stages.items()
    }
    (deps,) = installs["deps"]
    (sql,) = installs["sql"]
    for flag in ("--require-hashes", "--no-index", "--no-deps", "--find-links /tmp/wheels"):
        assert flag in deps, flag
        assert flag in sql, flag
    assert f"-r /tmp/{SQL_LOCK.name}" in sql
    assert f"COPY functions/{SQL_LOCK.name} /tmp/{SQL_LOCK.name}" in stages["sql"]
    copies_sql = {
        target: [ln for ln in stages[target] if ln.startswith("COPY --from=sql ")]
        for target in ("embed", "generic", "model")
    }
    assert copies_sql == {
        "embed": [],
        "generic": ["COPY --from=sql /sql/ ${LAMBDA_TASK_ROOT}/"],
        "model": [],
    }
    assert not [ln for ln in stages["runtime"] if "--from=sql" in ln]


def test_onnx_image_carries_the_spam_detector_and_listing_ranker(template: dict[str, Any]) -> None:
    """OnnxFunction's image (target `generic`) carries an ONNX graph (the spam detector, at
    MODEL_URI) and the SQL model listing-ranker; the image alone and the template's
    OnnxModels default serve both, the spam detector first. OnnxModels stays overridable."""
    resource = functions(template)["OnnxFunction"]
    assert image_target(resource) == "generic"
    assert baked_models(resource) == {path: src for path, (_, src) in GENERIC_MODELS.items()}
    tasks = {}
    for name, source in GENERIC_MODELS.values():
        manifest = json.loads((source / "manifest.json").read_text())
        assert manifest["name"] == name
        tasks[name] = manifest["task"]
    assert tasks["listing-ranker"] == "sql"
    assert tasks["spam-detector"] != "sql"
    env = dockerfile_env(resource)
    assert env["LAMINA_MODELS"].split(",") == list(GENERIC_MODELS)
    assert env["MODEL_URI"] == MINILM_IN_IMAGE
    assert template["Parameters"]["OnnxModels"]["Default"].split(",") == list(GENERIC_MODELS)
    assert environment(template, "OnnxFunction")["LAMINA_MODELS"] == env["LAMINA_MODELS"]
    stored = "s3://lamina-test-bucket/models/spam-detector@production"
    assert environment(template, "OnnxFunction", OnnxModels=stored)["LAMINA_MODELS"] == stored


def test_onnx_function_serves_both_models_with_the_template_environment(
    template: dict[str, Any],
) -> None:
    """The ONNX app on the template's environment (the image's paths mapped to the build
    directories): both models are ready, listing-ranker answers its plain route."""
    from fastapi.testclient import TestClient

    env = local_environment(template, "OnnxFunction")
    assert env["LAMINA_MODELS"].split(",") == [str(src) for _, src in GENERIC_MODELS.values()]
    app = import_app("functions.onnx.app", env)
    with TestClient(app) as client:
        for name, _ in GENERIC_MODELS.values():
            assert client.get(f"/v2/models/{name}/ready").status_code == 200, name
        response = client.post(
            "/api/v1/models/listing-ranker/predict",
            json={"parameters": {"region": "jeju", "top_k": 3}},
        )
    assert response.status_code == 200, response.text


def test_build_context_holds_every_baked_model(template: dict[str, Any]) -> None:
    """.dockerignore leaves everything out but what the Dockerfile copies: each model
    directory an image bakes is let through (else `sam build` fails on a missing COPY)."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    for name, resource in functions(template).items():
        if resource["Properties"].get("PackageType") != "Image":
            continue
        for source in baked_models(resource).values():
            assert source.relative_to(ROOT).as_posix() in allowed, (name, source)


def test_embedding_model_parameters(template: dict[str, Any]) -> None:
    """The parameters name exactly the baked models; their defaults serve both, MiniLM first
    (the default model of existing clients)."""
    parameters = template["Parameters"]
    names = [model for model, _ in EMBEDDING_MODELS.values()]
    assert parameters["DefaultEmbeddingModel"]["AllowedValues"] == names
    assert parameters["DefaultEmbeddingModel"]["Default"] == "all-MiniLM-L6-v2"
    assert parameters["EmbeddingModels"]["AllowedValues"] == ["both", *names]
    assert parameters["EmbeddingModels"]["Default"] == "both"
    assert parameters["ModelUri"]["Default"] == MINILM_IN_IMAGE
    assert parameters["MultilingualModelUri"]["Default"] == E5_IN_IMAGE
    for name in EMBEDDING_FUNCTIONS:
        env = environment(template, name)
        assert env["LAMINA_MODELS"] == f"{MINILM_IN_IMAGE},{E5_IN_IMAGE}"
        assert "LAMINA_DEFAULT_MODEL" not in env  # the first model
        assert env["MODEL_URI"] == MINILM_IN_IMAGE


MODEL_VARIABLES = ("LAMINA_MODELS", "LAMINA_DEFAULT_MODEL", "MODEL_URI")
STORED_MINILM = "all-MiniLM-L6-v2@production"
STORED_E5 = "s3://other-bucket/models/multilingual-e5-small@production"


@pytest.mark.parametrize(
    ("served", "default", "store_ref", "e5_uri"),
    [
        (*combination, E5_IN_IMAGE)
        for combination in itertools.product(
            ["both", "all-MiniLM-L6-v2", "multilingual-e5-small"],
            ["all-MiniLM-L6-v2", "multilingual-e5-small"],
            ["", STORED_MINILM],
        )
    ]
    + [("both", "multilingual-e5-small", STORED_MINILM, STORED_E5)],
)
def test_embedding_models_environment(
    template: dict[str, Any], served: str, default: str, store_ref: str, e5_uri: str
) -> None:
    """EmbeddingModels, DefaultEmbeddingModel, ModelStoreRef / ModelUri and
    MultilingualModelUri -> LAMINA_MODELS, LAMINA_DEFAULT_MODEL, MODEL_URI, the same on the
    API and the batch worker. A store ref replaces MiniLM's slot and leaves the multilingual
    model where MultilingualModelUri says; LAMINA_DEFAULT_MODEL is set only when the default
    is not the first model (so a stored model of any name stays the default)."""
    params = {
        "EmbeddingModels": served,
        "DefaultEmbeddingModel": default,
        "ModelStoreRef": store_ref,
        "MultilingualModelUri": e5_uri,
    }
    first = f"s3://{PLACEHOLDERS['AWS::S3::Bucket']}/models/{store_ref}" if store_ref else None
    slots = {"all-MiniLM-L6-v2": first or MINILM_IN_IMAGE, "multilingual-e5-small": e5_uri}
    served_names = list(slots) if served == "both" else [served]
    default_name = default if served == "both" else served
    envs = [environment(template, name, **params) for name in EMBEDDING_FUNCTIONS]
    for env in envs:
        assert env["LAMINA_MODELS"].split(",") == [slots[n] for n in served_names]
        if served == "both" and default == "multilingual-e5-small":
            assert env["LAMINA_DEFAULT_MODEL"] == "multilingual-e5-small"
        else:
            assert "LAMINA_DEFAULT_MODEL" not in env
        # Code that loads one model (the batch worker's handler) gets the default one.
        assert env["MODEL_URI"] == slots[default_name]
        settings = Settings.from_env(env)
        assert settings.model_uris() == [slots[n] for n in served_names]
    api, worker = ({k: env.get(k) for k in MODEL_VARIABLES} for env in envs)
    assert api == worker
    # The drift check checks exactly the models the API serves.
    drift = environment(template, "DriftCheckFunction", **params)
    assert drift["LAMINA_MODELS"] == envs[0]["LAMINA_MODELS"]


def test_default_embedding_model_is_served_first(
    template: dict[str, Any], int8_dir: Path, e5_dir: Path
) -> None:
    """The embedding app on the template's environment (the image's model paths mapped to
    the build directories): both models listed, the parameter's default first."""
    from fastapi.testclient import TestClient

    for default in ("all-MiniLM-L6-v2", "multilingual-e5-small"):
        env = local_environment(template, "EmbedFunction", DefaultEmbeddingModel=default)
        assert env["LAMINA_MODELS"] == f"{int8_dir},{e5_dir}"
        app = import_app("functions.embed.app", {"LAMINA_DEFAULT_MODEL": "", **env})
        with TestClient(app) as client:
            listed = [m["id"] for m in client.get("/v1/models").json()["data"]]
            info = client.get("/api/v1/model-info").json()
        assert listed[0] == default
        assert sorted(listed) == ["all-MiniLM-L6-v2", "multilingual-e5-small"]
        assert info["name"] == default


def test_zip_handler_imports_from_its_package_and_layers(
    template: dict[str, Any], tmp_path: Path
) -> None:
    """The submit function as Lambda loads it: its package as SAM's makefile builder makes
    it from CodeUri, then its layers' python/ (the sources the layer Makefile copies), with
    numpy, ONNX Runtime, FastAPI and friends refused: they are not in the zip or the layer."""
    zips = {n: r for n, r in functions(template).items() if "PackageType" not in r["Properties"]}
    assert set(zips) == {"BatchSubmitFunction"}
    for name, resource in zips.items():
        props = resource["Properties"]
        assert props["Runtime"] == "python3.13"
        assert resource["Metadata"]["BuildMethod"] == "makefile"
        package = tmp_path / name
        subprocess.run(
            ["make", "--makefile", str(ROOT / props["CodeUri"] / "Makefile"), f"build-{name}"],
            env={**os.environ, "ARTIFACTS_DIR": str(package)},
            cwd=tmp_path,
            capture_output=True,
            check=True,
            timeout=60,
        )
        layers = []
        for ref in props["Layers"]:
            layer = template["Resources"][ref["Ref"]]
            assert layer["Type"] == "AWS::Serverless::LayerVersion"
            assert "python3.13" in layer["Properties"]["CompatibleRuntimes"]
            layers.append(ROOT / layer["Properties"]["ContentUri"] / "python")
        loaded = import_handler(
            handler_target(resource),
            environment(template, name),
            [package, *layers],
            NOT_IN_ZIP,
            cwd=tmp_path,
        )
        assert {"functions.batch_submit.handler", "lamina.batch.submit"} <= set(loaded)
        assert not any(m.startswith("lamina.inference") for m in loaded), loaded
        files = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py"))
        assert files == [
            "functions/__init__.py",
            "functions/batch_submit/__init__.py",
            "functions/batch_submit/handler.py",
        ]


def app_routes(app: Any) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", set())
        if method != "HEAD"
    }


def test_template_routes_equal_app_routes(template: dict[str, Any], embed_app: Any) -> None:
    """The embedding function's app serves exactly its routes; every other HTTP function's
    template routes are routes of its app (which also serves /health and /docs locally)."""
    assert template_routes(template, "EmbedFunction") == app_routes(embed_app)
    others = set(http_functions(template)) - {"EmbedFunction"}
    assert others == {"ClassifyFunction", "ImageClassifyFunction", "OnnxFunction"}
    for name in others:
        module = handler_target(functions(template)[name]).rpartition(".")[0]
        app = import_app(module.replace(".handler", ".app"), local_environment(template, name))
        missing = template_routes(template, name) - app_routes(app)
        assert not missing, f"{name}: the template routes {missing} its app does not serve"


def test_no_route_belongs_to_two_functions(template: dict[str, Any]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for name in http_functions(template):
        for route in template_routes(template, name):
            assert route not in seen, f"{route} is routed to {seen[route]} and {name}"
            seen[route] = name


def test_environment_matches_settings(template: dict[str, Any]) -> None:
    known = set(ENV_VARS.values()) | POWERTOOLS_ONLY
    services = set()
    for name, resource in functions(template).items():
        env = environment(template, name)
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables no code reads: {unknown}"
        if resource["Properties"].get("PackageType") == "Image":
            env = {**dockerfile_env(resource), **env}
        # Every required setting is provided: validation succeeds from this environment.
        Settings.from_env(env)
        # Each function names its own service: the `service` dimension of its metrics.
        assert "POWERTOOLS_SERVICE_NAME" in resource["Properties"]["Environment"]["Variables"]
        services.add(env["POWERTOOLS_SERVICE_NAME"])
    assert len(services) == len(functions(template))


def template_routes(template: dict[str, Any], function: str) -> set[tuple[str, str]]:
    return {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in template["Resources"][function]["Properties"]["Events"].values()
        if event["Type"] == "HttpApi"
    }


def test_api_definition_secures_exactly_the_event_routes(template: dict[str, Any]) -> None:
    body = template["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]
    defined = {(method.upper(), path) for path, ops in body["paths"].items() for method in ops}
    routed = set().union(*(template_routes(template, name) for name in http_functions(template)))
    assert defined == routed


def custom_metric_alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        res["Properties"]
        for res in template["Resources"].values()
        if res["Type"] == "AWS::CloudWatch::Alarm"
        and not str(res["Properties"]["Namespace"]).startswith("AWS/")
    ]


def service_of(template: dict[str, Any], function: str) -> str:
    return environment(template, function)["POWERTOOLS_SERVICE_NAME"]


def test_alarms_point_at_metrics_the_code_emits(template: dict[str, Any]) -> None:
    namespace = template["Globals"]["Function"]["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"
    ]
    services = {service_of(template, name) for name in functions(template)}
    alarms = custom_metric_alarms(template)
    assert alarms, "expected at least one alarm on lamina's own metrics"
    for alarm in alarms:
        assert alarm["Namespace"] == namespace
        assert alarm["MetricName"] in {m.value for m in MetricName}
        names = tuple(sorted(d["Name"] for d in alarm["Dimensions"]))
        # CloudWatch matches an alarm only on the exact dimension set a metric is published with.
        assert names == tuple(sorted(DIMENSIONS[alarm["MetricName"]])), alarm["MetricName"]
        service = next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "service")
        assert service in services


def test_batch_alarms_watch_the_batch_resources(template: dict[str, Any]) -> None:
    """The pipeline's alarms: queue age, dead letters, both functions' errors, given-up
    chunks (on the worker's service); every alarm of the stack notifies the topic."""
    resources = template["Resources"]
    watched = set()
    for name, res in resources.items():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = res["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        for dim in props.get("Dimensions", []):
            target = dim["Value"]
            if isinstance(target, dict):
                ref = target.get("Ref") or target.get("Fn::GetAtt", [None])[0]
                watched.add((props["MetricName"], ref))
            else:
                watched.add((props["MetricName"], target))
    assert {
        ("ApproximateAgeOfOldestMessage", "BatchQueue"),
        ("ApproximateNumberOfMessagesVisible", "BatchDeadLetterQueue"),
        ("ApproximateNumberOfMessagesVisible", "BatchSubmitFailedQueue"),
        ("Errors", "BatchWorkerFunction"),
        ("Errors", "BatchSubmitFunction"),
        (MetricName.CHUNKS_FAILED.value, service_of(template, "BatchWorkerFunction")),
        (MetricName.LOADS_FAILED.value, service_of(template, "BatchWorkerFunction")),
    } <= watched
    age = resources["BatchQueueAgeAlarm"]["Properties"]
    assert age["Threshold"] == {"Ref": "BatchQueueAgeAlarmSeconds"}
    assert resources["BatchDeadLetterAlarm"]["Properties"]["Threshold"] == 0


def test_dashboard_searches_metrics_the_code_emits(template: dict[str, Any]) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    searches = re.findall(r'SEARCH\(\'\{(\w+),([\w,]+)\} MetricName=\\"(\w+)\\"', body)
    assert len(searches) >= 9
    for namespace, dims, metric in searches:
        assert namespace == "lamina"
        assert metric in {m.value for m in MetricName}, metric
        assert set(dims.split(",")) == set(DIMENSIONS[metric]), metric
    # Plain metric rows ["lamina", "<metric>", "<dimension>", "<value>", ...] too.
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    services = {service_of(template, name) for name in functions(template)}
    searched = set(re.findall(r'service=\\"([\w-]+)\\"', body))
    assert {"lamina-embed", "lamina-classify", "lamina-onnx"} <= searched <= services
    rows = [
        row
        for widget in widgets
        for row in widget["properties"]["metrics"]
        if isinstance(row[0], str) and row[0] == "lamina"
    ]
    assert len(rows) >= 4
    for row in rows:
        metric, rest = row[1], [item for item in row[2:] if isinstance(item, str)]
        dims = dict(zip(rest[::2], rest[1::2], strict=True))
        assert set(dims) == set(DIMENSIONS[metric]), metric
        assert dims["service"] in services, row


def _resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """Resolve Fn::If / Ref AWS::NoValue the way CloudFormation does, for given conditions."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return _resolve(yes if conditions[name] else no, conditions)
        if node == {"Ref": "AWS::NoValue"}:
            return _NOVALUE
        out = {k: _resolve(v, conditions) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NOVALUE}
    if isinstance(node, list):
        return [item for item in (_resolve(i, conditions) for i in node) if item is not _NOVALUE]
    return node


_NOVALUE = object()


@pytest.fixture(scope="module")
def translated(template: dict[str, Any]) -> dict[str, Any]:
    """The template as SAM translates it for CloudFormation (artifacts as `sam package`
    would point at them)."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    raw = copy.deepcopy(template)
    for res in raw["Resources"].values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/lamina:1"
            else:
                props["CodeUri"] = "s3://lamina-artifacts/function.zip"
        elif res["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://lamina-artifacts/layer.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    out: dict[str, Any] = transform(raw, {}, NoManagedPolicies())
    return out


@pytest.mark.parametrize(("api_auth", "scheme"), [("NONE", None), ("IAM", "sigv4"), ("JWT", "jwt")])
def test_api_auth_parameter_secures_every_route(
    translated: dict[str, Any], api_auth: str, scheme: str | None
) -> None:
    """Translate with SAM, then resolve conditions as CloudFormation would for ApiAuth."""
    out = translated
    conditions = {"UseJwt": api_auth == "JWT", "UseIam": api_auth == "IAM"}
    body = _resolve(out["Resources"]["HttpApi"]["Properties"]["Body"], conditions)
    for path, ops in body["paths"].items():
        for method, op in ops.items():
            integration = op["x-amazon-apigateway-integration"]
            uri = integration["uri"]["Fn::Sub"]
            # The embedding API goes through its live alias (canary deploys); the others
            # straight to their function.
            if path.startswith(("/v2", "/api/v1/models/")):
                assert "${OnnxFunction.Arn}" in uri, (path, method)
            elif path.startswith("/api/v1/classify-image"):
                assert "${ImageClassifyFunction.Arn}" in uri, (path, method)
            elif path.startswith("/api/v1/classify"):
                assert "${ClassifyFunction.Arn}" in uri, (path, method)
            else:
                assert "EmbedFunctionAliaslive" in uri, (path, method)
            if scheme is None:
                assert "security" not in op, (path, method)
            else:
                assert op["security"] == [{scheme: []}], (path, method)
    schemes = body.get("components", {}).get("securitySchemes", {})
    assert set(schemes) == ({scheme} if scheme else set())
    if scheme == "jwt":
        config = schemes["jwt"]["x-amazon-apigateway-authorizer"]["jwtConfiguration"]
        assert config == {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}}


def references(node: Any) -> set[str]:
    """Logical ids a CloudFormation value refers to (Ref, GetAtt, ${...} in Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, arg in node.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".")[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(arg, list):
                    found |= references(arg[1]) - set(arg[1])
            else:
                found |= references(arg)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def depends_on(resource: dict[str, Any]) -> list[str]:
    found = resource.get("DependsOn", [])
    return [found] if isinstance(found, str) else list(found)


def test_translated_template_has_no_circular_dependency(translated: dict[str, Any]) -> None:
    """CloudFormation refuses a cycle, and cfn-lint on the SAM template does not see the
    ones SAM's translation creates: the S3 trigger makes the bucket depend on the submit
    function, so the function (its role, its environment) must not refer back to it."""
    resources = translated["Resources"]
    graph = {
        name: (references(res) | set(depends_on(res))) & set(resources)
        for name, res in resources.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError(f"circular dependency: {' -> '.join([*path, node, dep])}")
            if dep not in state:
                visit(dep, [*path, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    # The edge that makes the trap: the bucket's notification needs the function.
    assert "BatchSubmitFunction" in graph["BatchBucket"]


def test_submit_function_spells_the_batch_bucket_name_like_the_bucket(
    template: dict[str, Any],
) -> None:
    """The submit function names the bucket without !Ref (see the cycle above): every
    spelling must be the bucket's own BucketName expression."""
    name = template["Resources"]["BatchBucket"]["Properties"]["BucketName"]
    props = template["Resources"]["BatchSubmitFunction"]["Properties"]
    assert props["Environment"]["Variables"]["LAMINA_BATCH_BUCKET"] == name
    arns = [
        statement["Resource"]
        for policy in props["Policies"]
        for statement in policy.get("Statement", [])
        if "s3:" in str(statement["Action"])
    ]
    assert len(arns) == 3
    for arn in arns:
        text, variables = arn["Fn::Sub"]
        assert text.startswith(f"arn:${{AWS::Partition}}:s3:::{name['Fn::Sub'][0]}"), text
        assert variables == name["Fn::Sub"][1]
    # No policy of any function grants access to a bucket outside this stack.
    for function in functions(template):
        buckets = {"BatchBucket", "ModelsBucket", "MonitoringBucket"}
        assert set(s3_grants(template, function)) <= buckets, function


# ---- least privilege on S3 -------------------------------------------------------------

# What each function may do in the stack's buckets: S3ReadPolicy (SAM's read-only
# template) on the models bucket, and explicit statements on the batch bucket, by prefix.
# "" is the bucket itself (s3:ListBucket: S3 answers a missing key 404 only to a caller
# that may list, and the code tells "absent" from "denied").
MODELS_READ = {"ModelsBucket": {("S3ReadPolicy", "")}}
# The model functions write drift samples, nothing else, in the monitoring bucket.
SAMPLES_WRITE = {"MonitoringBucket": {("s3:PutObject", "samples/*")}}
JOB_WRITES = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
EXPECTED_S3 = {
    "EmbedFunction": {
        **MODELS_READ,
        "BatchBucket": {("s3:GetObject", "jobs/*/manifest.json"), ("s3:ListBucket", "")},
        **SAMPLES_WRITE,
    },
    "ClassifyFunction": {**MODELS_READ, **SAMPLES_WRITE},
    "ImageClassifyFunction": MODELS_READ,  # images are not sampled
    "OnnxFunction": {**MODELS_READ, **SAMPLES_WRITE},
    # the drift check: reads the samples, writes its reports
    "DriftCheckFunction": {
        **MODELS_READ,
        "MonitoringBucket": {
            ("s3:GetObject", "samples/*"),
            ("s3:ListBucket", ""),
            ("s3:PutObject", "reports/*"),
        },
    },
    "BatchSubmitFunction": {
        "BatchBucket": {
            ("s3:GetObject", "incoming/*"),
            ("s3:GetObjectVersion", "incoming/*"),
            *((action, "jobs/*") for action in JOB_WRITES),
            ("s3:ListBucket", ""),
        },
    },
    "BatchWorkerFunction": {
        **MODELS_READ,
        "BatchBucket": {
            # a job that loads itself into a collection: its input's texts and metadata
            ("s3:GetObject", "incoming/*"),
            ("s3:GetObjectVersion", "incoming/*"),
            *((action, "jobs/*") for action in JOB_WRITES),
            ("s3:ListBucket", ""),
        },
    },
}


def s3_resource(template: dict[str, Any], arn: Any) -> tuple[str, str]:
    """(bucket's logical id, key pattern; "" for the bucket) of an S3 ARN expression."""
    if "Fn::GetAtt" in arn:
        bucket, attribute = arn["Fn::GetAtt"]
        assert attribute == "Arn"
        return bucket, ""
    sub = arn["Fn::Sub"]
    if isinstance(sub, str):
        found = re.fullmatch(r"\$\{(\w+)\.Arn\}/(.+)", sub)
        assert found, sub
        return found[1], found[2]
    text, variables = sub
    name = template["Resources"]["BatchBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    prefix = f"arn:${{AWS::Partition}}:s3:::{name[0]}"
    assert text.startswith(prefix), sub
    assert variables == name[1], sub
    return "BatchBucket", text[len(prefix) :].removeprefix("/")


def s3_grants(template: dict[str, Any], function: str) -> dict[str, set[tuple[str, str]]]:
    """A function's S3 permissions by bucket: (action or SAM policy template, key pattern)."""
    grants: dict[str, set[tuple[str, str]]] = {}
    for policy in template["Resources"][function]["Properties"].get("Policies", []):
        [(kind, body)] = policy.items() if "Statement" not in policy else [("", policy)]
        if kind:  # a SAM policy template
            if kind.startswith("S3"):
                bucket = body["BucketName"]
                logical = bucket.get("Ref", "BatchBucket")  # else: the spelled name
                grants.setdefault(logical, set()).add((kind, ""))
            continue
        for statement in body["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                if not action.startswith("s3:"):
                    continue
                assert "*" not in action, action
                bucket, pattern = s3_resource(template, statement["Resource"])
                grants.setdefault(bucket, set()).add((action, pattern))
    return grants


def test_each_function_gets_exactly_its_s3_permissions(template: dict[str, Any]) -> None:
    """No S3CrudPolicy (delete, ACL, lifecycle on the whole bucket): each function its
    prefixes and actions, the embedding API only job manifests of the batch bucket."""
    assert set(functions(template)) == set(EXPECTED_S3)
    for function, expected in EXPECTED_S3.items():
        assert s3_grants(template, function) == expected, function


OBJECT_WRITES = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
OBJECT_WRITERS = {"BatchSubmitFunctionRole", "BatchWorkerFunctionRole", "ModelPublisherRole"}
# Roles that may put objects (samples, drift reports) and nothing else.
PUTTERS = {
    "EmbedFunctionRole",
    "ClassifyFunctionRole",
    "OnnxFunctionRole",
    "DriftCheckFunctionRole",
}


def role_policies(role: dict[str, Any]) -> list[dict[str, Any]]:
    """A translated role's inline policies, both branches of a conditional one (Fn::If:
    the search policies exist only when search is configured)."""
    found: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        if "Fn::If" in policy:
            _, *branches = policy["Fn::If"]
            found += [b for b in branches if isinstance(b, dict) and "PolicyDocument" in b]
        else:
            found.append(policy)
    return found


def test_translated_roles_hold_no_bucket_wide_write(translated: dict[str, Any]) -> None:
    """What CloudFormation receives: no role may write a bucket's configuration, ACLs or
    policy; only the batch functions and the model publisher may write objects, and the
    model functions and the drift check may put them (samples, reports: checked by prefix in
    the test above)."""
    for name, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in role_policies(resource):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                for action in [actions] if isinstance(actions, str) else actions:
                    if not action.startswith("s3:"):
                        continue
                    assert "*" not in action, (name, action)
                    if action.startswith(("s3:Put", "s3:Delete", "s3:Abort")):
                        assert action in OBJECT_WRITES, (name, action)
                        assert name in OBJECT_WRITERS or (
                            name in PUTTERS and action == "s3:PutObject"
                        ), (name, action)


# S3 operations (what the code calls through boto3) -> the IAM action each needs.
S3_OPERATIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
    "ListObjectsV2": "s3:ListBucket",
}


def needed(operation: str, params: dict[str, Any]) -> set[tuple[str, str]]:
    """(IAM action, key; "" for the bucket) that one S3 call needs to behave as the code
    expects: a version needs the ...Version action; a read of a key that may be missing
    needs s3:ListBucket (else a 403 where the code expects a 404)."""
    action = S3_OPERATIONS[operation]
    if params.get("VersionId") and action in ("s3:GetObject", "s3:DeleteObject"):
        action += "Version"
    out = {(action, "" if action == "s3:ListBucket" else str(params["Key"]))}
    if operation in ("GetObject", "HeadObject"):
        out.add(("s3:ListBucket", ""))
    return out


def allowed(grants: set[tuple[str, str]], action: str, key: str) -> bool:
    """IAM's matching: * in a resource matches any characters, / included."""
    if action == "s3:GetObject" and ("S3ReadPolicy", "") in grants:
        return True
    return any(a == action and (fnmatch.fnmatchcase(key, p) if p else not key) for a, p in grants)


def test_the_batch_code_needs_no_s3_permission_the_template_withholds(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, postgres_dsn: str
) -> None:
    """Run a job (submit with a rejected line, the worker with a chunk it gives up, the
    job's errors and marker, its load into a search collection) and the job status route
    against moto, one recording S3 client per function: every call each makes is one its
    template policy allows."""
    import boto3  # type: ignore[import-untyped]
    from moto import mock_aws

    from lamina.api.jobs.service import job_status
    from lamina.batch.handlers import SubmitHandler, WorkerHandler
    from lamina.batch.queues import SqsQueue
    from lamina.batch.worker import ChunkWorker
    from lamina.errors import JobError, JobNotFoundError
    from lamina.observability import get_telemetry
    from lamina.search.jobload import JobCollectionLoader
    from lamina.search.pg import PgVectorIndex
    from lamina.storage import S3Objects
    from tests.batch_helpers import (
        FakeEmbedder,
        PoisonEmbedder,
        create_queue_with_dlq,
        fake_aws_env,
        jsonl,
        s3_put_event,
        sqs_event,
    )

    bucket = "lamina-batch-test"
    calls: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def client(function: str) -> Any:
        s3 = boto3.client("s3", region_name="us-east-1")
        log = calls.setdefault(function, [])

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            log.append((model.name, dict(params)))

        s3.meta.events.register("provide-client-params.s3.*", record)
        return s3

    fake_aws_env(monkeypatch)
    with mock_aws():
        admin = boto3.client("s3", region_name="us-east-1")
        admin.create_bucket(Bucket=bucket)
        admin.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url, _ = create_queue_with_dlq(sqs, "lamina-batch", max_receive_count=1)
        settings = Settings(
            batch_bucket=bucket,
            batch_queue_url=queue_url,
            chunk_max_records=2,
            search_dsn=postgres_dsn,
        )
        telemetry = get_telemetry(Settings.from_env({"POWERTOOLS_SERVICE_NAME": "lamina-test"}))
        queue = SqsQueue(queue_url, client=sqs)

        key = "incoming/job.jsonl"
        rows: list[object] = [{"id": n, "text": f"sentence {n}"} for n in range(4)]
        rows += [{"id": 9, "text": "POISON"}, {"id": 10}]  # a chunk given up, a rejected line
        put = admin.put_object(
            Bucket=bucket, Key=key, Body=jsonl(rows), Metadata={"lamina-collection": "iam_check"}
        )
        event = s3_put_event(bucket, key, etag=put["ETag"])
        event["Records"][0]["s3"]["object"]["versionId"] = put["VersionId"]

        store = S3Objects(bucket, client=client("BatchSubmitFunction"), error=JobError)
        [job] = SubmitHandler(store, queue, settings, telemetry)(event)["jobs"]
        store = S3Objects(bucket, client=client("BatchWorkerFunction"), error=JobError)
        index = PgVectorIndex(postgres_dsn)
        worker = ChunkWorker(
            store,
            PoisonEmbedder(FakeEmbedder()),
            max_receive_count=1,
            telemetry=telemetry,
            queue=queue,
            loader=JobCollectionLoader(index),
        )
        messages = queue.receive(10, 0, 60)
        assert len(messages) == 3
        WorkerHandler(worker)(sqs_event(messages, queue.arn))
        (load,) = queue.receive(10, 0, 60)  # the job finished: its load message
        WorkerHandler(worker)(sqs_event([load], queue.arn))
        assert index.collection("iam_check", count=True).count == 4
        index.drop_collection("iam_check")
        index.close()
        store = S3Objects(bucket, client=client("EmbedFunction"), error=JobError)
        status = job_status(store, job["job_id"])
        assert (status.status, status.counts.chunks_failed) == ("partially_failed", 1)
        with pytest.raises(JobNotFoundError):
            job_status(store, "missing-0123456789ab")

    used = {
        function: {need for operation, params in log for need in needed(operation, params)}
        for function, log in calls.items()
    }
    for function, needs in used.items():
        grants = s3_grants(template, function)["BatchBucket"]
        for action, resource in sorted(needs):
            assert allowed(grants, action, resource), (function, action, resource)
    # The run reached what the policies are scoped for: the upload's version, the job's
    # marker swap (a delete), the status route's manifest read.
    assert ("s3:GetObjectVersion", key) in used["BatchSubmitFunction"]
    assert ("s3:GetObjectVersion", key) in used["BatchWorkerFunction"]  # the load's texts
    assert any(action == "s3:DeleteObject" for action, _ in used["BatchWorkerFunction"])
    assert used["EmbedFunction"] == {
        ("s3:GetObject", f"jobs/{job['job_id']}/manifest.json"),
        ("s3:GetObject", "jobs/missing-0123456789ab/manifest.json"),
        ("s3:ListBucket", ""),
    }


def test_the_monitoring_code_needs_no_s3_permission_the_template_withholds(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, int8_dir: Path
) -> None:
    """A model function's sampler writes samples and the drift check reads them and writes
    its reports, against moto through recording clients: each call is one the function's
    policy allows on the monitoring bucket (the template's LAMINA_SAMPLE_URI is the bucket,
    no prefix)."""
    import boto3
    from moto import mock_aws

    from lamina.inference.embedder import OnnxEmbedder
    from lamina.monitoring import check
    from lamina.monitoring.inputs import text_stats
    from lamina.monitoring.samples import Sampler, text_records
    from lamina.storage import S3Objects
    from tests.batch_helpers import fake_aws_env

    bucket = "lamina-monitoring-test"
    calls: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def store(function: str) -> S3Objects:
        s3 = boto3.client("s3", region_name="us-east-1")
        log = calls.setdefault(function, [])
        s3.meta.events.register(
            "provide-client-params.s3.*",
            lambda params, model, **_: log.append((model.name, dict(params))),
        )
        return S3Objects(bucket, client=s3)

    env = environment(template, "EmbedFunction")
    assert env["LAMINA_SAMPLE_URI"] == f"s3://{PLACEHOLDERS['AWS::S3::Bucket']}"
    fake_aws_env(monkeypatch)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
        embedder = OnnxEmbedder.load(int8_dir)
        texts = [f"sentence number {n} about cooking" for n in range(120)]
        result = embedder.embed(texts)
        stats = text_stats(texts, result.token_counts, result.truncated, result.unknown_tokens)
        records = text_records(
            embedder.manifest.name,
            embedder.manifest.version,
            "control",
            stats,
            vectors=result.vectors.tolist(),
        )
        sampler = Sampler(f"s3://{bucket}", 1.0, False)
        sampler._located = (store("EmbedFunction"), "")
        for start in range(0, len(records), 10):
            sampler.write(embedder.manifest.name, records[start : start + 10])
        located = (store("DriftCheckFunction"), "")
        monkeypatch.setattr(check, "locate", lambda uri: located)
        settings = Settings(model_uri=str(int8_dir), sample_uri=f"s3://{bucket}")
        run = check.run_check(settings)
        assert run.results[0].current_count == 120
        assert run.report_key is not None

    used = {
        function: {need for operation, params in log for need in needed(operation, params)}
        for function, log in calls.items()
    }
    for function, needs in used.items():
        grants = s3_grants(template, function)["MonitoringBucket"]
        for action, resource in sorted(needs):
            assert allowed(grants, action, resource), (function, action, resource)
    assert {action for action, _ in used["EmbedFunction"]} == {"s3:PutObject"}
    assert {action for action, _ in used["DriftCheckFunction"]} == {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    }


def test_s3_trigger_is_the_incoming_prefix_only(template: dict[str, Any]) -> None:
    """Only uploads under incoming/ start jobs; results go under jobs/, which the filter
    excludes, so the pipeline can never trigger itself."""
    triggers = [
        (name, event["Properties"])
        for name, res in functions(template).items()
        for event in res["Properties"].get("Events", {}).values()
        if event["Type"] == "S3"
    ]
    assert [name for name, _ in triggers] == ["BatchSubmitFunction"]
    [(_, s3)] = triggers
    assert s3["Bucket"] == {"Ref": "BatchBucket"}
    assert s3["Events"] in ("s3:ObjectCreated:*", ["s3:ObjectCreated:*"])
    assert s3["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": INCOMING_PREFIX}]}}
    assert not JOBS_PREFIX.startswith(INCOMING_PREFIX)


def test_worker_reports_batch_item_failures(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    worker = template["Resources"]["BatchWorkerFunction"]["Properties"]
    [event] = worker["Events"].values()
    assert event["Type"] == "SQS"
    props = event["Properties"]
    assert props["Queue"] == {"Fn::GetAtt": ["BatchQueue", "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    concurrency = props["ScalingConfig"]["MaximumConcurrency"]
    assert template["Parameters"][concurrency["Ref"]]["MinValue"] >= 2  # Lambda's minimum
    assert value(template, props["BatchSize"]) >= 1
    # What CloudFormation receives: the event source mapping keeps all of it.
    [mapping] = [
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}
    assert mapping["MaximumBatchingWindowInSeconds"] == props["MaximumBatchingWindowInSeconds"]
    # The worker runs the same image as the API, with its own command.
    embed = template["Resources"]["EmbedFunction"]
    assert template["Resources"]["BatchWorkerFunction"]["Metadata"] == embed["Metadata"]
    assert worker["ImageConfig"]["Command"] == ["functions.batch_worker.handler.handler"]


def test_queue_visibility_is_six_times_the_worker_timeout(template: dict[str, Any]) -> None:
    """AWS's rule for SQS event sources, for every timeout the parameter allows."""
    worker = template["Resources"]["BatchWorkerFunction"]["Properties"]
    queue = template["Resources"]["BatchQueue"]["Properties"]
    timeout = template["Parameters"][worker["Timeout"]["Ref"]]
    mapping, ref, key = queue["VisibilityTimeout"]["Fn::FindInMap"]
    assert ref == worker["Timeout"]
    rows = template["Mappings"][mapping]
    assert {int(v) for v in rows} == set(timeout["AllowedValues"])
    assert timeout["Default"] in timeout["AllowedValues"]
    for seconds, row in rows.items():
        assert 1 <= int(seconds) <= 900  # Lambda's limit
        assert row[key] >= 6 * int(seconds), seconds
        assert row[key] <= 43_200  # SQS's limit


def test_max_receive_count_is_the_workers(template: dict[str, Any]) -> None:
    """The worker gives a chunk up on the receive after which SQS moves it to the DLQ:
    both numbers come from one parameter."""
    redrive = template["Resources"]["BatchQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["BatchDeadLetterQueue", "Arn"]}
    env = template["Resources"]["BatchWorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["LAMINA_MAX_RECEIVE_COUNT"] == redrive["maxReceiveCount"]
    deployed = environment(template, "BatchWorkerFunction")["LAMINA_MAX_RECEIVE_COUNT"]
    assert int(deployed) == value(template, redrive["maxReceiveCount"]) == 5
    assert Settings.from_env({"LAMINA_MAX_RECEIVE_COUNT": deployed}).max_receive_count == 5
    dlq = template["Resources"]["BatchDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] >= 4 * 86_400  # outlives the queue's messages
    assert template["Resources"]["BatchQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True


# ---- safe by default on AWS (docs/security.md) -------------------------------------------


def refused(template: dict[str, Any], **params: Any) -> list[str]:
    """The Rules whose assertions CloudFormation would fail for these parameters."""
    failed = []
    for name, rule in template["Rules"].items():
        if "RuleCondition" in rule and not condition(template, rule["RuleCondition"], params):
            continue
        if not all(condition(template, a["Assert"], params) for a in rule["Assertions"]):
            failed.append(name)
    return failed


def samconfig_parameters(env: str) -> dict[str, str]:
    """An environment's parameter_overrides in samconfig.toml."""
    import shlex
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in shlex.split(overrides))


def test_prod_without_auth_is_refused(template: dict[str, Any]) -> None:
    assert refused(template) == []  # dev, open: the local and test default
    assert refused(template, Stage="prod") == ["ProdRequiresAuth"]
    assert refused(template, Stage="prod", ApiAuth="IAM") == []
    assert refused(template, Stage="prod", AllowUnauthenticatedProd="true") == []
    assert refused(template, Stage="prod", ApiAuth="JWT") == ["JwtNeedsIssuer"]
    assert refused(template, Stage="prod", ApiAuth="JWT", JwtIssuer="https://issuer") == []
    for env in ("default", "dev", "prod"):
        params = samconfig_parameters(env)
        assert refused(template, **params) == [], env
    prod = samconfig_parameters("prod")
    assert prod["Stage"] == "prod"
    assert prod["ApiAuth"] != "NONE"
    assert "AllowUnauthenticatedProd" not in prod


def test_api_is_throttled_and_access_logged(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    route = api["DefaultRouteSettings"]
    rate, burst = (
        value(template, route["ThrottlingRateLimit"]),
        value(template, route["ThrottlingBurstLimit"]),
    )
    assert 1 <= rate <= burst
    [stage] = [
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Stage"
    ]
    assert stage["DefaultRouteSettings"] == route
    logs = _resolve(stage, {"HasApiAccessLogs": True})["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(logs["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert {"ip", "routeKey", "status", "authorizerError"} <= set(fields)
    assert "AccessLogSettings" not in _resolve(stage, {"HasApiAccessLogs": False})
    assert condition(template, "HasApiAccessLogs", {})  # on by default
    group = template["Resources"]["ApiAccessLogGroup"]
    assert group["Condition"] == "HasApiAccessLogs"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_api_functions_reserve_concurrency(template: dict[str, Any]) -> None:
    """Each API function has a cap by default (0: none), the embedding one above its
    provisioned concurrency in every samconfig environment."""
    for name, resource in http_functions(template).items():
        reserved = resource["Properties"]["ReservedConcurrentExecutions"]
        assert value(template, reserved) >= 1, name
        parameter = reserved["Fn::If"][1]["Ref"]
        assert value(template, reserved, **{parameter: 0}) is NO_VALUE, name
    embed = template["Resources"]["EmbedFunction"]["Properties"]["ReservedConcurrentExecutions"]
    for env in ("default", "dev", "prod"):
        params = samconfig_parameters(env)
        provisioned = value(template, {"Ref": "ProvisionedConcurrency"}, **params)
        assert int(value(template, embed, **params)) >= int(provisioned), env


def test_every_function_logs_where_logs_expire(template: dict[str, Any]) -> None:
    groups = []
    for name, resource in functions(template).items():
        group = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        props = template["Resources"][group]["Properties"]
        assert template["Resources"][group]["Type"] == "AWS::Logs::LogGroup", name
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        groups.append(group)
    assert len(set(groups)) == len(groups)  # one group per function
    retention = template["Parameters"]["LogRetentionDays"]
    assert retention["Default"] in retention["AllowedValues"]


def test_batch_objects_expire(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["BatchBucket"]["Properties"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireInputs"]["Prefix"] == INCOMING_PREFIX
    assert rules["ExpireInputs"]["ExpirationInDays"] == {"Ref": "BatchInputExpirationDays"}
    assert rules["ExpireJobs"]["Prefix"] == JOBS_PREFIX
    assert rules["ExpireJobs"]["ExpirationInDays"] == {"Ref": "BatchJobExpirationDays"}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    # A job outlives the dead-letter queue's chunks, so a redrive still finds it.
    dlq = template["Resources"]["BatchDeadLetterQueue"]["Properties"]
    jobs = template["Parameters"]["BatchJobExpirationDays"]
    assert jobs["MinValue"] * 86_400 > dlq["MessageRetentionPeriod"]


def test_alarms_publish_through_a_key_cloudwatch_may_use(template: dict[str, Any]) -> None:
    """The AWS-managed SNS key's policy cannot admit CloudWatch: a customer-managed one."""
    resources = template["Resources"]
    topic = resources["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    [cloudwatch] = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch["Effect"] == "Allow"
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            assert resource["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


def test_models_bucket_pins_published_versions(template: dict[str, Any]) -> None:
    """Only the publisher writes under models/; a version's manifest (which pins its files'
    digests) is written once and never deleted; aliases move by compare-and-swap."""
    from lamina.models.manifest import MANIFEST_NAME

    policy = template["Resources"]["ModelsBucketPolicy"]["Properties"]["PolicyDocument"]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    for statement in statements.values():
        assert statement["Effect"] == "Deny"
        assert statement["Principal"] == "*"

    def covers(sid: str, key: str) -> bool:
        pattern = statements[sid]["Resource"]["Fn::Sub"].removeprefix("${ModelsBucket.Arn}/")
        return fnmatch.fnmatchcase(key, pattern)

    publisher = statements["ModelWritesOnlyByPublisher"]
    assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(publisher["Action"])
    arn = publisher["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert arn == {
        "Fn::If": [
            "CreateModelPublisher",
            {"Fn::GetAtt": ["ModelPublisherRole", "Arn"]},
            {"Ref": "ModelPublisherArn"},
        ]
    }
    assert template["Resources"]["ModelPublisherRole"]["Condition"] == "CreateModelPublisher"
    manifest = f"models/minilm/3/{MANIFEST_NAME}"
    alias = "models/minilm/aliases/prod.json"
    for key in (manifest, alias, "models/minilm/3/model.onnx"):
        assert covers("ModelWritesOnlyByPublisher", key), key
    assert covers("VersionManifestsWriteOnce", manifest)
    assert statements["VersionManifestsWriteOnce"]["Condition"] == {
        "Null": {"s3:if-none-match": "true"}
    }
    assert covers("VersionManifestsNeverDeleted", manifest)
    assert "Condition" not in statements["VersionManifestsNeverDeleted"]
    assert covers("AliasWritesConditional", alias)
    assert not covers("AliasWritesConditional", manifest)
    assert statements["AliasWritesConditional"]["Condition"] == {
        "Null": {"s3:if-none-match": "true", "s3:if-match": "true"}
    }
    # The functions only read the bucket (S3ReadPolicy), the model store's prefix is models/.
    for function in functions(template):
        assert s3_grants(template, function).get("ModelsBucket", set()) <= {("S3ReadPolicy", "")}


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_validate_lint() -> None:
    sam = ROOT / ".venv-sam/bin/sam"
    sam_path = str(sam) if sam.exists() else shutil.which("sam")
    if sam_path is None:
        pytest.fail("SAM CLI not found: run `make sam-cli` (installs it into .venv-sam)")
    result = subprocess.run(
        [sam_path, "validate", "--lint", "--region", "us-east-1", "--template", str(TEMPLATE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid SAM Template" in result.stdout + result.stderr


@pytest.mark.parametrize("function", ["EmbedFunction", "BatchWorkerFunction"])
def test_search_reads_one_secret_and_joins_a_vpc_only_when_configured(
    template: dict[str, Any], function: str
) -> None:
    """Vector search on AWS (docs/search.md): the embedding function (queries) and the batch
    worker (jobs that load themselves) may read exactly the database's secret, only when
    SearchSecretArn is set, and join the VPC subnets only when they are given; with the
    defaults nothing of it exists."""
    embed = template["Resources"][function]["Properties"]
    assert template["Parameters"]["SearchSecretArn"]["Default"] == ""
    assert embed["Environment"]["Variables"]["LAMINA_SEARCH_SECRET_ARN"] == {
        "Fn::If": ["HasSearch", {"Ref": "SearchSecretArn"}, {"Ref": "AWS::NoValue"}]
    }
    assert embed["VpcConfig"]["Fn::If"][0] == "HasSearchVpc"
    conditional = [p["Fn::If"] for p in embed["Policies"] if isinstance(p, dict) and "Fn::If" in p]
    secret = next(c for c in conditional if c[0] == "HasSearch")
    (statement,) = secret[1]["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Resource"] == {"Ref": "SearchSecretArn"}
    assert secret[2] == {"Ref": "AWS::NoValue"}
    vpc = next(c for c in conditional if c[0] == "HasSearchVpc")
    assert vpc[1] == {"VPCAccessPolicy": {}}
    assert template["Conditions"]["HasSearchVpc"]["Fn::And"][0] == {"Condition": "HasSearch"}


def test_the_submit_function_knows_whether_search_is_configured_but_cannot_read_the_secret(
    template: dict[str, Any],
) -> None:
    """It refuses a job's collection when there is no database (lamina.batch.submit), from
    the variable alone; the worker sends a job's load message on the batch queue."""
    submit = template["Resources"]["BatchSubmitFunction"]["Properties"]
    assert submit["Environment"]["Variables"]["LAMINA_SEARCH_SECRET_ARN"] == {
        "Fn::If": ["HasSearch", {"Ref": "SearchSecretArn"}, {"Ref": "AWS::NoValue"}]
    }
    assert "secretsmanager" not in json.dumps(submit["Policies"])
    assert "VpcConfig" not in submit
    worker = template["Resources"]["BatchWorkerFunction"]["Properties"]
    assert {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["BatchQueue", "QueueName"]}}} in (
        worker["Policies"]
    )
    assert worker["Environment"]["Variables"]["LAMINA_BATCH_QUEUE_URL"] == {"Ref": "BatchQueue"}
