"""Azure deployment and verification: what the runbook's Azure checklist expects, as data and checks.

``grants`` holds the roles each identity needs, ``verify`` performs the runbook's verification
steps against ARM and over HTTP, ``deploy`` builds the deployment command sequence.
"""
