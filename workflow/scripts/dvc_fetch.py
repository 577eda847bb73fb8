"""`dvc pull` or `dvc repro` for `make pull` / `make repro`, with a clear error when data is missing.

    python workflow/scripts/dvc_fetch.py pull dvc.yaml
    python workflow/scripts/dvc_fetch.py repro pipelines/paper/dvc.yaml

When `dvc pull` fails, every output it could not fetch is named: DVC itself names a missing file inside a
folder output by its hash only ("failed to transfer '91c3...'"). After the failed pull, `dvc status --cloud`
lists the tracked files still not in the DVC cache (.dvc/cache), i.e. in neither the cache nor the remote;
each is printed with what to do. (`dvc repro` needs no such list: it runs again a stage whose output the
cache lacks.) The exit status is DVC's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ACTIONS = ("pull", "repro")


def dvc_bin() -> str:
    here = Path(sys.executable).parent / "dvc"
    return str(here) if here.exists() else "dvc"


def unavailable(dvc_yaml: str) -> list[str]:
    """The tracked files not in the local cache after a failed pull (DVC could not fetch them): [] when DVC
    cannot tell. `new` (in the cache, not yet pushed) is not missing."""
    out = subprocess.run(
        [dvc_bin(), "status", "--cloud", "--json", dvc_yaml], capture_output=True, text=True, timeout=600
    )
    try:
        found = json.loads(out.stdout or "{}")
    except json.JSONDecodeError:
        return []
    return sorted(str(k) for k, v in found.items() if v != "new") if isinstance(found, dict) else []


def missing_message(action: str, missing: list[str]) -> str:
    lines = [f"make {action}: {len(missing)} tracked file(s) are in neither the DVC cache (.dvc/cache) nor the remote:"]
    lines += [f"  {path}" for path in missing]
    lines.append(
        "Push them from the repository that built the study (`dvc push`, after committing its dvc.lock), "
        "or rebuild them here with `make study`."
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ACTIONS:
        print(f"usage: {Path(__file__).name} {{{','.join(ACTIONS)}}} DVC_YAML", file=sys.stderr)
        return 2
    action, dvc_yaml = argv
    status = subprocess.run([dvc_bin(), action, dvc_yaml]).returncode
    if status != 0 and action == "pull":
        missing = unavailable(dvc_yaml)
        if missing:
            print(missing_message(action, missing), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
