"""The deployable files generated from the policy, written by `python -m governance generate` and checked by tests."""

from __future__ import annotations

from pathlib import Path

from governance import cluster_policy, unity_catalog
from governance.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {
    "governance/generated/unity_catalog.sql": lambda p: unity_catalog.render_script(p),
    "governance/generated/cluster_policy.json": cluster_policy.definition_json,
    "resources/governance.cluster_policy.yml": cluster_policy.bundle_resource,
}


def expected(policy: Policy) -> dict[str, str]:
    """Each generated file's path (relative to the project root) and the text it must have."""
    return {path: render(policy) for path, render in GENERATED.items()}


def write(policy: Policy, root: Path = ROOT) -> list[str]:
    """Write every generated file that differs; returns the paths written."""
    written = []
    for path, text in expected(policy).items():
        target = root / path
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(path)
    return written


def stale(policy: Policy, root: Path = ROOT) -> list[str]:
    """Generated files that are missing or differ from what the policy gives."""
    return [p for p, text in expected(policy).items() if not (root / p).exists() or (root / p).read_text() != text]
