"""Policy-as-code for the lakehouse: one policy file (governance/policy.yml) -> Unity Catalog SQL, a Databricks
cluster policy, and the same rules enforced locally by the dashboard and `python -m app query`."""
