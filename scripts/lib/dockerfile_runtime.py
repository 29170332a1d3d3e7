"""Lays out the Dockerfile's final stage in a directory, as the image would hold it (run by scripts/check-deploy).

    dockerfile_runtime.py DOCKERFILE REPO ROOT BINARY

Reads the last stage: every `COPY` from the build context is copied from REPO into ROOT at its destination; the one
`COPY --from=builder …/plaza` gets BINARY (the CI's debug build) instead of the release binary. Prints the stage's
ENV as `NAME=value` lines, then `WORKDIR=…` and `ENTRYPOINT=…`, for the caller to run the binary with exactly that.
Any other instruction that would put files into the image (ADD, a COPY from another stage) is an error, so the
check cannot silently miss a file the image needs.
"""

import json
import shlex
import shutil
import sys
from pathlib import Path


def instructions(text):
    """Dockerfile instructions as (KEYWORD, rest), continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        out.append((keyword.upper(), rest.strip()))
        current = ""
    return out


def main(dockerfile, repo, root, binary):
    steps = instructions(Path(dockerfile).read_text())
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    root, repo = Path(root), Path(repo)
    env, workdir, entrypoint, copied = [], "/", None, 0
    for keyword, rest in steps[last_from + 1 :]:
        if keyword == "COPY":
            words = shlex.split(rest)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            *sources, dest = paths
            from_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if from_stage is not None:
                if len(sources) != 1 or not sources[0].endswith("/plaza"):
                    sys.exit(f"unexpected COPY --from={from_stage} {sources}: only the plaza binary is known")
                target = root / dest.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(binary, target)
                copied += 1
                continue
            for src in sources:
                source = repo / src
                target = root / dest.lstrip("/")
                if source.is_dir():
                    shutil.copytree(source, target, dirs_exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target if not dest.endswith("/") else target / source.name)
                copied += 1
        elif keyword == "ADD":
            sys.exit("ADD in the runtime stage: the check does not model it; use COPY")
        elif keyword == "ENV":
            words = shlex.split(rest)
            if words and "=" not in words[0]:
                env.append(f"{words[0]}={' '.join(words[1:])}")
            else:
                env.extend(words)
        elif keyword == "WORKDIR":
            workdir = rest
        elif keyword == "ENTRYPOINT":
            entrypoint = json.loads(rest)
    if not copied:
        sys.exit("the runtime stage copies nothing")
    (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for line in env:
        print(line)
    print(f"WORKDIR={workdir}")
    print(f"ENTRYPOINT={' '.join(entrypoint or [])}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
