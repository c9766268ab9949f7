"""``lamina ab ...`` and ``lamina drift ...``: A/B tests and drift checks (docs/monitoring.md).

    lamina ab report --model NAME --dir DIR            the local server's event log
    lamina ab report --model NAME --cloudwatch --service S [--namespace N]
        [--hours H | --start ISO --end ISO] [--alpha A] [--power P] [--min-effect E]
        [--primary outcome_rate|reward] [--baseline-rate R] [--json]
    lamina ab promote NAME [--from candidate] [--to production] [--actor WHO]  (store options)

    lamina drift check [--samples URI] [--model URI ...] [--candidate URI ...]
        [--hours H] [--min-samples N] [--report FILE.html] [--json] [--fail-on-drift]

``ab report`` compares control and candidate over the window (latency, errors, outcome rate
or reward) with a fixed-horizon test (``lamina.monitoring.abtest``) and says whether there
is a winner yet; ``ab promote`` points the store alias the control is served from at the
version the candidate alias names (``lamina models rollback`` undoes it). ``drift check``
is the scheduled function's check, run here (``lamina.monitoring.check``): the settings
come from the environment as in a function (``LAMINA_SAMPLE_URI``, ``LAMINA_MODELS``...)
and the options override them.

Exit codes: 0 done (``drift check --fail-on-drift``: no drift), 1 an error (its message says
what), 2 bad usage, 3 drift found with ``--fail-on-drift``.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lamina.errors import InvalidInputError

DRIFT_FOUND = 3


def _window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    from lamina.monitoring.events import parse_time

    def moment(value: str, what: str) -> datetime:
        parsed = parse_time(value)
        if parsed is None:
            raise InvalidInputError(f"--{what} {value!r} is not an ISO 8601 time")
        return parsed

    end = moment(args.end, "end") if args.end else datetime.now(UTC)
    start = moment(args.start, "start") if args.start else end - timedelta(hours=args.hours)
    if start >= end:
        raise InvalidInputError("the window is empty: --start must be before --end")
    return start, end


def _ab_report(args: argparse.Namespace) -> int:
    from lamina.monitoring.abtest import compare, read_cloudwatch, read_local, render_text

    start, end = _window(args)
    malformed = 0
    if args.dir:
        directory = Path(args.dir)
        if not directory.is_dir():
            raise InvalidInputError(f"no A/B event log at {directory} (LAMINA_AB_DIR)")
        variants, malformed = read_local(directory, model=args.model, start=start, end=end)
    else:
        if not args.service:
            raise InvalidInputError(
                "--cloudwatch needs --service: the function's POWERTOOLS_SERVICE_NAME "
                "(lamina-embed, lamina-classify, lamina-image, lamina-onnx)"
            )
        import boto3  # type: ignore[import-untyped]
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        try:
            variants = read_cloudwatch(
                boto3.client("cloudwatch"),
                namespace=args.namespace,
                service=args.service,
                model=args.model,
                start=start,
                end=end,
            )
        except (BotoCoreError, ClientError) as exc:
            raise InvalidInputError(f"cannot read CloudWatch metrics: {exc}") from exc
    try:
        report = compare(
            variants,
            model=args.model,
            start=start,
            end=end,
            alpha=args.alpha,
            power=args.power,
            min_effect=args.min_effect,
            primary=args.primary,
            baseline_rate=args.baseline_rate,
            malformed=malformed,
        )
    except ValueError as exc:  # an --alpha, --power, --min-effect or --baseline-rate out of range
        raise InvalidInputError(str(exc)) from exc
    if args.json:
        print(json.dumps(report.to_json(), indent=2, allow_nan=False))
    else:
        print(render_text(report))
    return 0


def _ab_promote(args: argparse.Namespace) -> int:
    from lamina_tools.console import model_store

    store = model_store(args)
    version = store.alias(args.name, args.source).version
    before = store.alias(args.name, args.target).version
    if version == before:
        print(f"{args.name}@{args.target} is already {version}: nothing to promote")
        return 0
    record = store.promote(args.name, version, args.target, actor=args.actor)
    print(
        f"{args.name}@{record.alias} -> {record.version} (was {before}; "
        f"undo: lamina models rollback {args.name} --alias {args.target}). Functions that "
        "serve the alias load it at their next cold start; remove LAMINA_AB_CANDIDATES "
        "(template parameter AbCandidateRef) to end the test."
    )
    return 0


def _drift_check(args: argparse.Namespace) -> int:
    from lamina.monitoring.check import run_check
    from lamina.settings import Settings

    overrides = {
        "LAMINA_SAMPLE_URI": args.samples,
        "LAMINA_MODELS": ",".join(args.model) if args.model else None,
        "LAMINA_AB_CANDIDATES": ",".join(args.candidate) if args.candidate else None,
        "LAMINA_DRIFT_WINDOW_HOURS": str(args.hours) if args.hours else None,
        "LAMINA_DRIFT_MIN_SAMPLES": str(args.min_samples) if args.min_samples else None,
    }
    env = {**os.environ, **{k: v for k, v in overrides.items() if v is not None}}
    if not env.get("LAMINA_MODELS") and not env.get("MODEL_URI"):
        raise InvalidInputError("which models? pass --model URI (repeatable) or set LAMINA_MODELS")
    if not env.get("LAMINA_SAMPLE_URI"):
        raise InvalidInputError(
            "where are the samples? pass --samples URI (s3://bucket/prefix or a directory) or "
            "set LAMINA_SAMPLE_URI"
        )
    settings = Settings.from_env(env)
    run = run_check(settings, write_report=args.write_report)
    if args.report:
        Path(args.report).write_text(run.html, encoding="utf-8")
    if args.json:
        print(json.dumps(run.to_json(), indent=2, allow_nan=False))
    else:
        print(run.text())
        if args.report:
            print(f"report: {args.report}")
    return DRIFT_FOUND if args.fail_on_drift and run.drifted else 0


def add_monitoring_commands(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from lamina_tools.console import store_options

    ab = groups.add_parser("ab", help="A/B tests between model versions: report, promote")
    commands = ab.add_subparsers(dest="command", required=True)

    report = commands.add_parser(
        "report",
        help="compare control and candidate: latency, errors, outcomes; a winner yet?",
        description="Exit 0 whatever the verdict; --json for a machine-readable report.",
    )
    report.add_argument("--model", required=True, help="the model under test")
    source = report.add_mutually_exclusive_group(required=True)
    source.add_argument("--dir", help="the local server's event log (LAMINA_AB_DIR)")
    source.add_argument(
        "--cloudwatch", action="store_true", help="the deployed function's CloudWatch metrics"
    )
    report.add_argument("--service", help="with --cloudwatch: the function's service name")
    report.add_argument(
        "--namespace",
        default=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "lamina"),
        help="with --cloudwatch: the metrics namespace (default lamina)",
    )
    report.add_argument("--hours", type=float, default=24.0, help="window length (default 24)")
    report.add_argument("--start", help="window start, ISO 8601 (default: END - HOURS)")
    report.add_argument("--end", help="window end, ISO 8601 (default: now)")
    report.add_argument("--alpha", type=float, default=0.05, help="significance (default 0.05)")
    report.add_argument("--power", type=float, default=0.8, help="power (default 0.8)")
    report.add_argument(
        "--min-effect",
        type=float,
        default=0.02,
        help="the smallest difference worth detecting: absolute outcome rate (default 0.02), "
        "or reward units with --primary reward",
    )
    report.add_argument("--primary", choices=["outcome_rate", "reward"], default="outcome_rate")
    report.add_argument(
        "--baseline-rate",
        type=float,
        help="the outcome rate the horizon is planned for (default: the control's so far)",
    )
    report.add_argument("--json", action="store_true", help="print JSON")
    report.set_defaults(func=_ab_report)

    promote = commands.add_parser(
        "promote",
        parents=[store_options()],
        help="point the serving alias at the candidate's version (model store)",
    )
    promote.add_argument("name")
    promote.add_argument("--from", dest="source", default="candidate", help="the candidate's alias")
    promote.add_argument(
        "--to", dest="target", default="production", help="the alias the control is served from"
    )
    promote.add_argument(
        "--actor",
        default=os.environ.get("USER") or "unknown",
        help="who is moving the alias, recorded in it (default: $USER)",
    )
    promote.set_defaults(func=_ab_promote)

    drift = groups.add_parser("drift", help="drift checks: recent samples against references")
    drift_commands = drift.add_subparsers(dest="command", required=True)
    check = drift_commands.add_parser(
        "check", help="compare recent samples with each model's reference sample"
    )
    check.add_argument("--samples", help="s3://bucket/prefix or a directory ($LAMINA_SAMPLE_URI)")
    check.add_argument(
        "--model", action="append", help="a model directory or store reference (repeatable)"
    )
    check.add_argument(
        "--candidate", action="append", help="an A/B candidate's location (repeatable)"
    )
    check.add_argument("--hours", type=int, help="window in hours ($LAMINA_DRIFT_WINDOW_HOURS)")
    check.add_argument(
        "--min-samples", type=int, help="fewest samples for a score ($LAMINA_DRIFT_MIN_SAMPLES)"
    )
    check.add_argument("--report", help="also write the HTML report to this file")
    check.add_argument(
        "--no-write",
        dest="write_report",
        action="store_false",
        help="do not store the report under the samples' reports/drift/",
    )
    check.add_argument("--json", action="store_true", help="print JSON")
    check.add_argument(
        "--fail-on-drift", action="store_true", help=f"exit {DRIFT_FOUND} when a model drifted"
    )
    check.set_defaults(func=_drift_check)
