"""Lays out the Dockerfile's final stage in a directory, as the image would hold it (run by scripts/check-deploy).

    dockerfile_runtime.py DOCKERFILE REPO ROOT BINARY

Reads the last stage: every `COPY` from the build context is copied from REPO into ROOT at its destination, less
what `.dockerignore` keeps out of the context (a COPY whose source is ignored entirely is an error); the one
`COPY --from=builder …/plaza` gets BINARY (the CI's debug build) instead of the release binary, and the one
`COPY --from=client …/client/dist` gets the repository's `client/dist` (built by scripts/test-client before). Prints the stage's
ENV as `NAME=value` lines, then `WORKDIR=…` and `ENTRYPOINT=…`, for the caller to run the binary with exactly that.
Any other instruction that would put files into the image (ADD, a COPY from another stage) is an error, so the
check cannot silently miss a file the image needs.
"""

import json
import re
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


def segment(glob):
    """A glob without `**` as a regex where `*` and `?` do not cross `/`."""
    return "".join(
        "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in glob
    )


def dockerignore(repo):
    """A predicate: is this context-relative path excluded by REPO/.dockerignore (last matching rule wins)?"""
    rules = []
    path = Path(repo) / ".dockerignore"
    for line in path.read_text().splitlines() if path.exists() else []:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        # `**/` is any number of directories (none included), `**` anything, `*` and `?` one path segment.
        regex = "".join(
            "(?:.*/)?" if part == "**/" else ".*" if part == "**" else segment(part)
            for part in re.split(r"(\*\*/|\*\*)", pattern)
        )
        rules.append((re.compile(rf"^{regex}(/.*)?$"), negate))

    def ignored(rel):
        verdict = False
        for regex, negate in rules:
            if regex.match(rel):
                verdict = not negate
        return verdict

    return ignored


def copy_context(source, target, rel, ignored):
    """Copies REPO/rel to target as the build context holds it; returns how many files were copied."""
    if ignored(rel):
        return 0
    if source.is_dir():
        count = 0
        for child in sorted(source.iterdir()):
            count += copy_context(child, target / child.name, f"{rel}/{child.name}", ignored)
        return count
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return 1


def main(dockerfile, repo, root, binary):
    steps = instructions(Path(dockerfile).read_text())
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    root, repo = Path(root), Path(repo)
    ignored = dockerignore(repo)
    env, workdir, entrypoint, copied = [], "/", None, 0
    for keyword, rest in steps[last_from + 1 :]:
        if keyword == "COPY":
            words = shlex.split(rest)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            *sources, dest = paths
            from_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if from_stage == "client":
                built = repo / "client" / "dist"
                if len(sources) != 1 or not sources[0].rstrip("/").endswith("/client/dist"):
                    sys.exit(f"unexpected COPY --from=client {sources}: only client/dist is known")
                if not (built / "index.html").is_file():
                    sys.exit("client/dist is not built: run scripts/test-client (or npm run build in client/) first")
                shutil.copytree(built, root / dest.lstrip("/"), dirs_exist_ok=True)
                copied += 1
                continue
            if from_stage is not None:
                if len(sources) != 1 or not sources[0].endswith("/plaza"):
                    sys.exit(f"unexpected COPY --from={from_stage} {sources}: only the plaza binary is known")
                target = root / dest.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(binary, target)
                copied += 1
                continue
            for src in sources:
                rel = src.strip("/")
                source = repo / rel
                target = root / dest.lstrip("/")
                if source.is_file() and dest.endswith("/"):
                    target = target / source.name
                if not copy_context(source, target, rel, ignored):
                    sys.exit(f"COPY {src}: nothing of it is in the build context (missing, or excluded by .dockerignore)")
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
