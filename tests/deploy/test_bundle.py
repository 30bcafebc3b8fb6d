"""The Databricks Asset Bundle's structure, and that every job's entry point and parameters work from the built wheel.

There is no Databricks workspace here: these tests read the YAML as `databricks bundle validate` would, resolve its
variables per target, build the wheel the bundle deploys, and call the wheel's entry point the way a
python_wheel_task does (tests named `..._fake_databricks_...`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from configparser import ConfigParser
from pathlib import Path

import pytest
import yaml

from core.settings import Settings
from lakehouse.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("bronze", "silver", "gold")
# what `--var` / BUNDLE_VAR_* would supply for the variables that have no default
REQUIRED_VARS = {
    "source_db_url": "jdbc:sqlserver://ops.database.windows.net:1433;database=ops",
    "kafka_bootstrap_servers": "pkc-123.westeurope.azure.confluent.cloud:9092",
    "warehouse_id": "abc123def456",
}
WORKSPACE = {
    "workspace.host": "https://adb-1.2.azuredatabricks.net",
    "workspace.file_path": "/Workspace/Users/dev@example.com/.bundle/wearable_lakehouse/dev/files",
}
POLICY_ID = "<id of resources.cluster_policies.lakehouse_jobs>"  # known only after deployment
REF = re.compile(r"\$\{([a-zA-Z_][\w.\-]*)\}")


def load_bundle() -> dict:
    """databricks.yml with every `include` merged in (resources of all files side by side)."""
    bundle = yaml.safe_load((ROOT / "databricks.yml").read_text())
    for pattern in bundle.get("include", []):
        for path in sorted(ROOT.glob(pattern)):
            part = yaml.safe_load(path.read_text())
            for kind, items in part.get("resources", {}).items():
                merged = bundle.setdefault("resources", {}).setdefault(kind, {})
                assert not set(merged) & set(items), f"{path.name} redefines {set(merged) & set(items)}"
                merged.update(items)
    return bundle


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def resolve(bundle: dict, target: str) -> dict:
    """The bundle's resources with ${var.*}, ${bundle.target} and ${workspace.host} substituted for one target."""
    declared = bundle["variables"]
    values = {name: spec.get("default") for name, spec in declared.items()}
    values.update(bundle["targets"][target].get("variables", {}))
    for name, value in REQUIRED_VARS.items():
        values[name] = value if values.get(name) is None else values[name]
    assert all(v is not None for v in values.values()), [n for n, v in values.items() if v is None]
    context = {**{f"var.{k}": v for k, v in values.items()}, "bundle.target": target, **WORKSPACE,
               "resources.cluster_policies.lakehouse_jobs.id": POLICY_ID}  # fmt: skip

    def sub(node):
        if isinstance(node, dict):
            return {k: sub(v) for k, v in node.items()}
        if isinstance(node, list):
            return [sub(v) for v in node]
        if isinstance(node, str):
            whole = REF.fullmatch(node)
            if whole and not isinstance(context[whole[1]], str):
                return sub(context[whole[1]])  # a complex or numeric variable used as a whole value
            for _ in range(5):  # variables may refer to variables
                node = REF.sub(lambda m: str(context[m[1]]), node)
            return node
        return node

    return sub(bundle["resources"])


def python_wheel_tasks(resources: dict) -> dict[str, list[dict]]:
    return {name: [t for t in job["tasks"] if "python_wheel_task" in t] for name, job in resources["jobs"].items()}


@pytest.fixture(scope="module")
def bundle() -> dict:
    return load_bundle()


def test_bundle_has_a_development_dev_target_and_a_production_prod_target(bundle):
    assert bundle["targets"]["dev"]["mode"] == "development" and bundle["targets"]["dev"]["default"] is True
    assert bundle["targets"]["prod"]["mode"] == "production"
    assert bundle["artifacts"]["lakehouse_wheel"]["type"] == "whl"
    assert "pip wheel" in bundle["artifacts"]["lakehouse_wheel"]["build"]


def test_every_reference_names_a_declared_variable_or_a_known_bundle_value(bundle):
    known = {f"var.{name}" for name in bundle["variables"]} | {"bundle.target", "bundle.name", *WORKSPACE}
    resources = {f"resources.{kind}.{key}.id" for kind, items in bundle["resources"].items() for key in items}
    unknown = {ref for text in strings(bundle) for ref in REF.findall(text)} - known - resources
    assert not unknown


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_job_cluster_environment_gives_the_pipeline_its_settings_for_each_target(bundle, target):
    resources = resolve(bundle, target)
    for name, job in resources["jobs"].items():
        clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
        assert all(t["job_cluster_key"] in clusters for t in job["tasks"]), name
        for cluster in clusters.values():
            env = cluster["spark_env_vars"]
            settings = Settings.from_env(env)
            expected_catalog = bundle["targets"][target]["variables"]["catalog"]
            assert settings.catalog == expected_catalog
            assert str(settings.checkpoints) == f"/Volumes/{expected_catalog}/ops/checkpoints"
            assert settings.source_db_url == REQUIRED_VARS["source_db_url"]
            assert settings.kafka_bootstrap_servers == REQUIRED_VARS["kafka_bootstrap_servers"]
            assert (settings.kafka_security_protocol, settings.kafka_sasl_mechanism) == ("SASL_SSL", "PLAIN")
            assert settings.secret_scope == "wearable-lakehouse"
            assert not any(k in env for k in ("KAFKA_SASL_PASSWORD", "SOURCE_DB_PASSWORD", "DATABRICKS_TOKEN"))
            assert cluster["spark_version"].startswith("17.") and cluster["spark_version"].endswith("scala2.13")


def test_one_batch_job_per_stage_one_scheduled_job_for_all_stages_and_one_continuous_stream_job(bundle):
    resources = resolve(bundle, "prod")
    jobs = resources["jobs"]
    params = {name: [t["python_wheel_task"]["parameters"] for t in tasks] for name, tasks in
              python_wheel_tasks(resources).items()}  # fmt: skip
    for stage in STAGES:
        assert params[f"lakehouse_{stage}"] == [["pipeline", "run", "--mode", "batch", "--stage", stage]]
    everything = jobs["lakehouse_batch"]
    assert [p[-1] for p in params["lakehouse_batch"]] == list(STAGES)
    assert [t.get("depends_on", [{}])[0].get("task_key") for t in everything["tasks"]] == [None, "bronze", "silver"]
    assert everything["schedule"]["quartz_cron_expression"] and everything["schedule"]["timezone_id"] == "UTC"
    stream = jobs["lakehouse_stream"]
    assert stream["continuous"]["pause_status"] in ("PAUSED", "UNPAUSED")
    assert params["lakehouse_stream"][0][:4] == ["pipeline", "run", "--mode", "stream"]
    assert all(job["max_concurrent_runs"] == 1 for job in jobs.values())


def test_every_task_installs_the_bundle_wheel_built_into_dist(bundle):
    build = bundle["artifacts"]["lakehouse_wheel"]["build"]
    assert "--wheel-dir dist" in build
    for tasks in python_wheel_tasks(bundle["resources"]).values():
        for task in tasks:
            assert task["libraries"] == [{"whl": "../dist/*.whl"}]  # relative to resources/


def test_dashboard_app_runs_streamlit_with_the_warehouse_settings_the_dashboard_reads(bundle):
    app = resolve(bundle, "prod")["apps"]["dashboard"]
    assert app["config"]["command"] == ["streamlit", "run", "app/streamlit_app.py"]
    assert (ROOT / app["source_code_path"].removeprefix("..").lstrip("/") / "app" / "streamlit_app.py").exists()
    bound = {r["name"]: r for r in app["resources"]}
    env = {e["name"]: e for e in app["config"]["env"]}
    assert {e["valueFrom"] for e in env.values() if "valueFrom" in e} <= set(bound)
    assert bound["sql-warehouse"]["sql_warehouse"] == {"id": REQUIRED_VARS["warehouse_id"], "permission": "CAN_USE"}
    assert env["DATABRICKS_WAREHOUSE_ID"]["valueFrom"] == "sql-warehouse"
    assert env["DATABRICKS_HTTP_PATH"]["value"] == f"/sql/1.0/warehouses/{REQUIRED_VARS['warehouse_id']}"
    # no long-lived token: the app signs in with OAuth as its own service principal (issue 22 changed this on purpose)
    assert "DATABRICKS_TOKEN" not in env and not any("secret" in r for r in bound.values())
    # what the app process sees at run time (valueFrom filled in, the service principal's OAuth client set by
    # Databricks Apps) configures the Databricks engine
    runtime = {name: e.get("value", f"<{e.get('valueFrom')}>") for name, e in env.items()}
    runtime |= {"DATABRICKS_CLIENT_ID": "<app service principal>", "DATABRICKS_CLIENT_SECRET": "<its OAuth secret>"}
    settings = Settings.from_env(runtime)
    assert settings.databricks_configured and settings.databricks_oauth and settings.catalog == "main"


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel the bundle deploys, built from a snapshot of the source tree (the work tree gets no build/)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("core", "lakehouse", "pipeline", "simulator", "app", "governance"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
                   check=True, timeout=300)  # fmt: skip
    (wheel,) = out.glob("*.whl")
    return wheel


def test_wheel_declares_the_lakehouse_entry_point_and_ships_every_package(built_wheel, bundle):
    with zipfile.ZipFile(built_wheel) as whl:
        names = whl.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        parser = ConfigParser()
        parser.read_string(whl.read(entry_points).decode())
    assert parser["console_scripts"]["lakehouse"].strip() == "lakehouse.cli:main"
    for package in ("core", "lakehouse", "pipeline", "simulator", "app", "governance"):
        assert f"{package}/__init__.py" in names or any(n.startswith(f"{package}/") for n in names), package
    assert "core/connections.py" in names and "pipeline/__main__.py" in names
    distribution = built_wheel.name.split("-")[0]
    for tasks in python_wheel_tasks(bundle["resources"]).values():
        assert {t["python_wheel_task"]["package_name"] for t in tasks} == {distribution}
        assert {t["python_wheel_task"]["entry_point"] for t in tasks} == {"lakehouse"}


def test_wheel_leaves_spark_and_the_dashboard_stack_to_extras_so_a_cluster_keeps_its_own(built_wheel):
    with zipfile.ZipFile(built_wheel) as whl:
        (metadata,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [line.split(":", 1)[1].strip() for line in whl.read(metadata).decode().splitlines()
                    if line.startswith("Requires-Dist:")]  # fmt: skip
    required = {r.split(";")[0].strip() for r in requires if "extra ==" not in r}
    extras = {r.split(";")[0].strip(): r.split("extra ==")[1].strip().strip("'\"") for r in requires if "extra ==" in r}
    assert required == {"confluent-kafka", "pyyaml", "tqdm"}
    assert extras["pyspark"] == "local" and extras["delta-spark"] == "local"
    assert extras["streamlit"] == "app" and extras["databricks-sql-connector"] == "app"


def test_every_job_parameter_list_parses_with_the_cli_parser(bundle):
    for name, tasks in python_wheel_tasks(resolve(bundle, "dev")).items():
        for task in tasks:
            args = build_parser().parse_args(task["python_wheel_task"]["parameters"])
            if name == "lakehouse_governance":
                assert (args.command, args.governance_command, args.catalog) == ("governance", "apply", "dev")
                assert args.func.__module__ == "governance.cli"
                continue
            assert args.command == "pipeline" and args.func.__module__ == "pipeline.cli", name
            assert args.mode in ("batch", "stream") and args.stage in (*STAGES, "all")


FAKE_WHEEL_TASK = """
import json, sys
from importlib.metadata import distribution
package, entry_point, jobs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
dist = distribution(package)
(ep,) = [e for e in dist.entry_points if e.name == entry_point]
main = ep.load()
module = sys.modules[main.__module__]
assert module.__file__.startswith(sys.argv[4]), module.__file__  # the wheel's code, not the work tree's
from lakehouse.cli import build_parser
parsed = {name: vars(build_parser().parse_args(params)) for name, params in jobs.items()}
print(json.dumps({name: [p["command"], p.get("mode") or p.get("governance_command"), p.get("stage") or p.get("catalog")]
                  for name, p in parsed.items()}))
"""


def test_bundle_jobs_fake_databricks_wheel_task_loads_the_entry_point_from_the_wheel(built_wheel, bundle, tmp_path):
    """Like a python_wheel_task: install the wheel, find `package_name`'s entry point, hand it the parameters."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target",
                    str(site), str(built_wheel)], check=True, timeout=300)  # fmt: skip
    tasks = {f"{job}.{t['task_key']}": t["python_wheel_task"] for job, ts in python_wheel_tasks(bundle["resources"])
             .items() for t in ts}  # fmt: skip
    (package,) = {t["package_name"] for t in tasks.values()}
    (entry_point,) = {t["entry_point"] for t in tasks.values()}
    jobs = {name: t["parameters"] for name, t in tasks.items()}
    out = subprocess.run([sys.executable, "-c", FAKE_WHEEL_TASK, package, entry_point, json.dumps(jobs), str(site)],
                         cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    parsed = json.loads(out.stdout)
    assert parsed["lakehouse_batch.gold"] == ["pipeline", "batch", "gold"]
    assert parsed["lakehouse_stream.stream"] == ["pipeline", "stream", "all"]
    assert parsed["lakehouse_governance.apply"] == ["governance", "apply", "${var.catalog}"]
    assert len(parsed) == len(jobs) == 8


# --- governance: the Unity Catalog SQL and the cluster policy -------------------------------------------------------


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_every_job_cluster_runs_under_the_generated_cluster_policy_and_obeys_it(bundle, target):
    from governance import cluster_policy
    from governance.policy import load_policy

    resources = resolve(bundle, target)
    (policy,) = resources["cluster_policies"].values()
    rules = json.loads(policy["definition"])
    assert rules == cluster_policy.definition(load_policy())
    assert policy["name"] == f"wearable-lakehouse jobs ({target})"  # one policy per target in a workspace
    for name, job in resources["jobs"].items():
        for cluster in (c["new_cluster"] for c in job["job_clusters"]):
            assert cluster["policy_id"] == POLICY_ID, name
            assert cluster_policy.violations(rules, cluster) == [], name


def test_cluster_policy_check_catches_a_cluster_outside_the_policy(bundle):
    from governance import cluster_policy

    resources = resolve(bundle, "prod")
    rules = json.loads(resources["cluster_policies"]["lakehouse_jobs"]["definition"])
    cluster = dict(resources["jobs"]["lakehouse_gold"]["job_clusters"][0]["new_cluster"])
    cluster["spark_env_vars"] = {**cluster["spark_env_vars"], "SOURCE_DB_PASSWORD": "x"}
    cluster["data_security_mode"] = "NONE"
    assert len(cluster_policy.violations(rules, cluster)) == 2


def test_governance_job_applies_the_policy_file_the_bundle_syncs_for_the_targets_catalog(bundle):
    job = resolve(bundle, "prod")["jobs"]["lakehouse_governance"]
    (task,) = job["tasks"]
    params = task["python_wheel_task"]["parameters"]
    assert params[:4] == ["governance", "apply", "--catalog", "main"]
    synced = params[params.index("--policy") + 1]
    assert synced == f"{WORKSPACE['workspace.file_path']}/governance/policy.yml"
    relative = synced.removeprefix(WORKSPACE["workspace.file_path"] + "/")
    assert (ROOT / relative).exists()
    excluded = bundle["sync"]["exclude"]
    assert not any(Path(relative).match(pattern.rstrip("*").rstrip("/") + "/*") for pattern in excluded)
    assert task["libraries"] == [{"whl": "../dist/*.whl"}] and job["max_concurrent_runs"] == 1


def test_dashboard_app_takes_the_viewer_from_the_databricks_apps_proxy(bundle):
    env = {e["name"]: e for e in resolve(bundle, "prod")["apps"]["dashboard"]["config"]["env"]}
    assert env["DASHBOARD_AUTH"]["value"] == "databricks-apps"


FAKE_GOVERNANCE_TASK = """
import sys
from importlib.metadata import distribution
(ep,) = [e for e in distribution(sys.argv[1]).entry_points if e.name == "lakehouse"]
main = ep.load()
assert sys.modules[main.__module__].__file__.startswith(sys.argv[2])
main(sys.argv[3:])
"""


def test_governance_task_fake_databricks_wheel_applies_exactly_the_committed_sql(built_wheel, bundle, tmp_path):
    """The job's entry point from the installed wheel, with its parameters (policy from the synced files), in
    --dry-run: the statements it would run through Spark are those of governance/generated/unity_catalog.sql."""
    from governance.unity_catalog import split_script

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target",
                    str(site), str(built_wheel)], check=True, timeout=300)  # fmt: skip
    (task,) = resolve(bundle, "prod")["jobs"]["lakehouse_governance"]["tasks"]
    params = [str(ROOT / "governance/policy.yml") if p.endswith("/governance/policy.yml") else p
              for p in task["python_wheel_task"]["parameters"]]  # fmt: skip
    out = subprocess.run([sys.executable, "-c", FAKE_GOVERNANCE_TASK, task["python_wheel_task"]["package_name"],
                          str(site), *params, "--dry-run"], cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    committed = split_script((ROOT / "governance/generated/unity_catalog.sql").read_text())
    assert split_script(out.stdout) == committed
