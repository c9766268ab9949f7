"""lamina's stand-in base image never carries AWS's name.

On podman the stand-in for the AWS Lambda base image is ``STANDIN_IMAGE``
(``localhost/lamina/...``): no image labelled ``lamina.standin`` may be named
``public.ecr.aws/...`` (older runs tagged it ``public.ecr.aws/lambda/python:3.13`` and
``:3.13-x86_64``; ``infra/local/base-image.sh`` takes those names off), and the function
images are built on the current stand-in. On Docker the base is AWS's image, unlabelled.

Also here, without the engine: ``infra.local.standin_template``, which writes the template
``sam build`` builds on podman (every image function's ``DockerBuildArgs.BASE_IMAGE`` set to
the stand-in) and the ``--invoke-image`` options of the zip functions, and fails loudly on a
layout it does not know.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.decode import decode_str

from infra.local.standin_template import (
    BUILD_ARG,
    LayoutError,
    image_functions,
    invoke_image_options,
    standin_template,
)
from tests.container.conftest import AWS_BASE_IMAGE, ROOT, STANDIN_IMAGE, Stack

TEMPLATE = (ROOT / "template.yaml").read_text(encoding="utf-8")
IMAGE_FUNCTIONS = {
    "EmbedFunction",
    "ClassifyFunction",
    "ImageClassifyFunction",
    "OnnxFunction",
    "BatchWorkerFunction",
    "DriftCheckFunction",
}


def labels(stack: Stack, image: str) -> dict[str, str]:
    done = stack.run(stack.engine, "image", "inspect", "--format", "{{json .Config.Labels}}", image)
    found: dict[str, str] = json.loads(done.stdout.strip()) or {}
    return found


@pytest.mark.slow
def test_no_aws_name_on_the_standin(stack: Stack) -> None:
    names = stack.run(
        stack.engine,
        "images",
        "--filter",
        "label=lamina.standin",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ).stdout.split()
    assert [n for n in names if n.startswith("public.ecr.aws/")] == [], names
    if stack.engine == "podman":
        assert stack.base_image == STANDIN_IMAGE
        assert STANDIN_IMAGE.startswith("localhost/lamina/")
        standin = labels(stack, STANDIN_IMAGE)
        assert "lamina.standin" in standin, standin
        # The function image is built on this stand-in (BASE_IMAGE from the generated
        # template), not on an older one: it inherits the stand-in's key.
        assert labels(stack, stack.image).get("lamina.standin.key") == standin["lamina.standin.key"]
    else:
        assert stack.base_image == AWS_BASE_IMAGE
        assert "lamina.standin" not in labels(stack, AWS_BASE_IMAGE)
        assert "lamina.standin" not in labels(stack, stack.image)


def resources(text: str) -> dict[str, Any]:
    parsed, problems = decode_str(text)
    assert parsed is not None, problems
    found: dict[str, Any] = json.loads(json.dumps(parsed["Resources"]))
    return found


def test_standin_template_sets_base_image_on_every_image_function() -> None:
    original = resources(TEMPLATE)
    edited = resources(standin_template(TEMPLATE))
    assert {f.name for f in image_functions(TEMPLATE.splitlines())} == IMAGE_FUNCTIONS
    for name in IMAGE_FUNCTIONS:
        args = edited[name]["Metadata"]["DockerBuildArgs"]
        assert args.pop(BUILD_ARG) == STANDIN_IMAGE
        if not args:
            del edited[name]["Metadata"]["DockerBuildArgs"]
    assert edited == original  # nothing else changed (MODEL args, targets, properties)
    assert "DockerBuildArgs" not in original["EmbedFunction"]["Metadata"]
    assert original["ClassifyFunction"]["Metadata"]["DockerBuildArgs"] == {
        "MODEL": "intent-classifier"
    }


def test_standin_template_replaces_a_base_image_already_set() -> None:
    once = standin_template(TEMPLATE, "localhost/lamina/other:1")
    twice = resources(standin_template(once))
    for name in IMAGE_FUNCTIONS:
        assert twice[name]["Metadata"]["DockerBuildArgs"][BUILD_ARG] == STANDIN_IMAGE


def test_invoke_images_name_the_zip_function_only() -> None:
    assert invoke_image_options(TEMPLATE.splitlines()) == [
        "--invoke-image",
        f"BatchSubmitFunction={STANDIN_IMAGE}",
    ]


ZIP_ONLY = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
"""

FLOW_ARGS = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
    Metadata:
      Dockerfile: Dockerfile
      DockerContext: .
      DockerBuildArgs: {MODEL: x}
"""

FLOW_METADATA = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
    Metadata: {Dockerfile: Dockerfile, DockerContext: .}
"""

NO_DOCKERFILE = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
    Metadata:
      DockerContext: .
"""

PACKAGE_TYPE_REF = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: !Ref Kind
"""

FLOW_RESOURCE = """\
Resources:
  Fn: {Type: AWS::Serverless::Function, Properties: {PackageType: Image}}
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ZIP_ONLY, "no image function"),
        (FLOW_ARGS, "DockerBuildArgs must be a block"),
        (FLOW_METADATA, "Metadata must be a block"),
        (NO_DOCKERFILE, "no Dockerfile"),
        (PACKAGE_TYPE_REF, "neither Image nor Zip"),
        (FLOW_RESOURCE, "not a block-style resource"),
        ("AWSTemplateFormatVersion: 2010-09-09\n", "'Resources:'"),
    ],
)
def test_standin_template_fails_loudly_on_an_unknown_layout(text: str, message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        standin_template(text)


def test_invoke_images_refuse_a_zip_function_of_another_runtime() -> None:
    with pytest.raises(LayoutError, match=r"stand-in stands in for python3\.13 only"):
        invoke_image_options(ZIP_ONLY.replace("python3.13", "nodejs22.x").splitlines())
