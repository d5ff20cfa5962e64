"""Pulumi unit-test mocks for the stack (no Pulumi CLI, no AWS), shared by the infra tests:
every resource is recorded with its inputs, and the outputs the program reads (ARNs, names,
a Cognito user's ``sub``) are filled in as AWS would. Not a test module."""

from __future__ import annotations

import uuid

import pulumi

ACCOUNT = "123456789012"
REGION = "us-east-1"


def sub_of(username: str) -> str:
    """The ``sub`` the mocks give a Cognito user: a UUID, stable per user name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cognito:{username}"))


class Mocks(pulumi.runtime.Mocks):
    """Records every resource as (type, name, outputs)."""

    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        name, kind = args.name, args.typ
        service = kind.split(":")[1].split("/")[0]
        outputs.setdefault("arn", f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}")
        if kind == "aws:s3/bucket:Bucket":
            bucket = args.inputs.get("bucket") or name
            outputs.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
        elif kind == "aws:dynamodb/table:Table":
            outputs.update(name=name, arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
        elif kind == "aws:lambda/function:Function":
            outputs["invokeArn"] = f"arn:aws:apigateway:{REGION}:lambda:path/{name}"
            outputs["arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{args.inputs['name']}"
        elif kind == "aws:apigateway/restApi:RestApi":
            outputs.update(name=name, rootResourceId="root", executionArn=f"arn:exec:{name}")
        elif kind == "aws:apigateway/stage:Stage":
            outputs["invokeUrl"] = f"https://api.example/{args.inputs['stageName']}"
        elif kind == "aws:cloudwatch/logGroup:LogGroup":
            group = args.inputs["name"]
            outputs["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
        elif kind == "aws:cognito/user:User":
            outputs["sub"] = sub_of(args.inputs["username"])
        elif kind == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{name}"
            outputs["name"] = name
        self.resources.append((kind, name, outputs))
        return [f"{name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/x", "userId": "x"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION}
        return {}


def deploy(settings, stack: str = "prod") -> tuple[list[tuple[str, str, dict]], dict]:
    """Run the program for ``settings`` under fresh mocks (preview=False, so every output is
    known and checks inside ``apply`` run); return the resources and a few outputs, among
    them ``options``: resource name -> its resource options (retain_on_delete, protect, and
    the names it depends on), which mocks do not see."""
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="pandasdb", stack=stack, preview=False)
    from infra.program import LambdaPackage, build

    outputs: dict = {"options": {}}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        outputs["options"][args.name] = {
            "retain_on_delete": bool(args.opts.retain_on_delete),
            "protect": bool(args.opts.protect),
            "depends_on": {d._name for d in args.opts.depends_on or []},
        }

    @pulumi.runtime.test
    def run():
        pulumi.runtime.register_stack_transformation(record)
        stage = build(settings, LambdaPackage(pulumi.AssetArchive({}), "0" * 64))
        outputs["stage"] = stage
        return pulumi.Output.all(
            stage.api.url, *(s.bucket.bucket for s in stage.storages.values())
        ).apply(lambda values: outputs.update(url=values[0], buckets=list(values[1:])))

    run()
    return mocks.resources, outputs


def of(resources, kind: str) -> list[dict]:
    """The outputs of every resource of ``kind``."""
    return [outputs for typ, _, outputs in resources if typ == kind]


def named(resources, kind: str) -> dict[str, dict]:
    """Resource name -> outputs, for resources of ``kind``."""
    return {name: outputs for typ, name, outputs in resources if typ == kind}
