"""Contract test of confab's JSON API against its OpenAPI document, with Schemathesis.

Why: the document (`/openapi.json`) is what clients generate code from, so every answer the
server gives must match it, and every input the document allows must be accepted (and what
it forbids refused). Schemathesis derives the requests from the document itself: its
examples, boundary values (coverage), random inputs (fuzzing) and sequences following
OpenAPI links (stateful), and runs all of its checks on each answer.

    python run.py --base-url http://127.0.0.1:8080 --api-key cfk_... \
        --platform-secret whsec_... [--admin-token T] [--max-examples N] [-- ST_ARGS...]

The settings live in schemathesis.toml, the platform-event signing in hooks.py. Prints a
summary (test cases generated, phases, failures) and exits non-zero on any failure or error.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8080")
    p.add_argument("--api-key", required=True, help="a customer's API key")
    p.add_argument("--platform-secret", required=True, help="whsec_... the server was started with")
    p.add_argument("--admin-token", help="also test POST /v1.0/customers with this token")
    p.add_argument("--max-examples", type=int, default=60, help="per operation and phase")
    p.add_argument("--seed", type=int, help="repeat a run")
    p.add_argument("--report-dir", default=None, help="keep JUnit/NDJSON/JSON reports here")
    p.add_argument("extra", nargs="*", help="after --: more schemathesis run options")
    args = p.parse_args()

    beside = Path(sys.executable).with_name("schemathesis")  # the venv's, if run with its python
    exe = str(beside) if beside.exists() else shutil.which("schemathesis") or "schemathesis"
    report_dir = Path(args.report_dir or tempfile.mkdtemp(prefix="confab-contract-")).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / "report.json"
    base = args.base_url.rstrip("/")
    env = dict(
        os.environ,
        CONFAB_API_KEY=args.api_key,
        CONFAB_PLATFORM_SECRET=args.platform_secret,
        CONFAB_ADMIN_TOKEN=args.admin_token or "unused",
        SCHEMATHESIS_HOOKS=str(HERE / "hooks.py"),
    )
    cmd = [
        exe, "--config-file", str(HERE / "schemathesis.toml"), "run", f"{base}/openapi.json",
        "--url", base,
        "--phases", "examples,coverage,fuzzing,stateful",
        "--checks", "all",
        # A deleted conference stays readable by id with `tm_delete` set (soft delete, SPEC
        # §3.1 and §6.1), which this check would report as a deleted resource still found.
        "--exclude-checks", "use_after_free",
        "--max-examples", str(args.max_examples),
        "--report", "json,junit,ndjson", "--report-dir", str(report_dir),
        "--report-json-path", str(report),
    ]
    if not args.admin_token:
        cmd += ["--exclude-name", "POST /v1.0/customers"]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    # Run in the report directory: Schemathesis keeps a cache (`.schemathesis/`) where it runs.
    code = subprocess.run(cmd + args.extra, env=env, cwd=report_dir).returncode
    doc = json.loads(report.read_text()) if report.exists() else None

    if doc is None:
        print(f"schemathesis exited {code} without a report", file=sys.stderr)
        return code or 1
    cases = doc["test_cases"]
    print("\n=== confab contract summary ===")
    print(f"schemathesis {doc['schemathesis_version']}, seed {doc['seed']}, {doc['running_time']}")
    print(f"test cases generated: {cases['generated']}, with failures: {cases['with_failures']}, "
          f"unique failures: {cases['unique_failures']}, errored: {cases['errored']}")
    for phase, state in (doc.get("phases") or {}).items():
        reason = f" ({state['skip_reason']})" if state.get("skip_reason") else ""
        print(f"phase {phase}: {state['status']}{reason}")
    for f in doc["failures"]:
        print(f"FAIL {f['title']} x{f['count']}: {', '.join(f['operations'])}")
    for e in doc["errors"]:
        print(f"ERROR {e['title']} x{e['count']}")
    print(f"reports: {report_dir}")
    failed = code != 0 or doc["failures"] or doc["errors"]
    return (code or 1) if failed else 0


if __name__ == "__main__":
    sys.exit(main())
