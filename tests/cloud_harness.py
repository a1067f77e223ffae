"""Cloud credentials for end-to-end tests: a CloudUpstream (tests/fake_clouds.py) that accepts them, a Cli whose
environment holds them (AWS variables, GOOGLE_APPLICATION_CREDENTIALS naming a fresh service-account key), and
profiles whose providers speak bedrock, vertex and vertex-anthropic to the fake. Every credential is a secret
the Cli checks its runs for; `assert_nothing_leaked` adds the access tokens the fake issued and scans files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_harness import MODEL, Cli, canary, leaks, scan_tree
from fake_clouds import CloudUpstream

BEDROCK_ID = "anthropic.claude-sonnet-4-5-20250929-v1:0"
VERTEX_CLAUDE_ID = "claude-sonnet-4-5@20250929"
REGION = "us-east-1"
PROJECT = "orcli-test-project"
CLOUD_APIS = ("bedrock", "vertex", "vertex-anthropic")


class Clouds:
    """The fake, the CLI, and the cloud credentials the test put in the CLI's environment."""

    def __init__(self, fake: CloudUpstream, cli: Cli, tmp: Path) -> None:
        self.fake, self.cli = fake, cli
        self.access_key = "AKIA" + canary("short").upper()[:16]
        self.secret_key, self.session_token = canary("plain"), canary("plain") + canary("plain")
        fake.aws.add(self.access_key, self.secret_key, self.session_token)
        self.sa_file = fake.google.service_account_file(tmp, fake.token_uri, PROJECT)
        key = json.loads(self.sa_file.read_text())["private_key"]
        # The private key's base64 lines are secrets too: none may appear anywhere orcli writes.
        cli.secrets.update(line for line in key.splitlines() if len(line) > 40)
        cli.set_keys({"AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_SESSION_TOKEN": self.session_token})
        cli.env.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_EC2_METADATA_DISABLED="true",
            GOOGLE_APPLICATION_CREDENTIALS=str(self.sa_file),
        )

    def profile(self, apis: dict[str, str], **kw: Any) -> Path:
        """Providers (name -> api) on the fake, price in the dict's order, each model served by each."""
        extra: dict[str, dict[str, Any]] = {}
        for name, api in apis.items():
            table: dict[str, Any] = {"api": api, "base_url": self.fake.base_url(name, api)}
            if api == "bedrock":
                table["region"] = REGION
            elif api.startswith("vertex"):
                table.update(project=PROJECT, location="us-east5" if api == "vertex-anthropic" else "global")
            extra[name] = table
        models = kw.pop("models", [MODEL])
        served = kw.pop("served", None) or {m: list(apis) for m in models}
        ids = {"bedrock": BEDROCK_ID, "vertex-anthropic": VERTEX_CLAUDE_ID, "vertex": "gemini-2.5-flash"}
        endpoints = [
            {
                "model": model,
                "provider": name,
                "upstream_model": ids.get(apis[name], model),
                "price": {"prompt": float(rank), "completion": float(rank)},
                "context_length": 8192,
                "max_completion_tokens": 4096,
            }
            for model, names in served.items()
            for rank, name in enumerate(names, start=1)
        ]
        keyless = [n for n, api in apis.items() if api in CLOUD_APIS and n not in kw.get("keys", [])]
        kw.setdefault("keys", [n for n in apis if n not in keyless])
        return self.cli.profile(
            list(apis), provider_extra=extra, endpoints=endpoints, models=models, no_key=keyless, **kw
        )

    def tokens(self) -> set[str]:
        return set(self.fake.google.tokens)

    def assert_nothing_leaked(self, *runs: Any) -> None:
        """No secret of any kind (keys, secret key, session token, private key, access tokens) in any output
        (runs, or plain text such as a server's log) or any file orcli wrote (the health store included)."""
        secrets = self.cli.secrets | self.tokens()
        for run in runs:
            text = run if isinstance(run, str) else run.out + run.err
            assert not leaks(text, secrets), run
        hits = {p: s for p, s in scan_tree(self.cli.tmp, secrets).items() if not Path(p).name.startswith("profile")}
        hits.pop(str(self.sa_file), None)  # the key file the test wrote
        assert hits == {}
