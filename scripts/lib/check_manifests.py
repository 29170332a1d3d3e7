"""Checks on rendered plaza manifests that a schema cannot express (run by scripts/check-deploy).

    check_manifests.py split RENDERED.yaml OUT_DIR   -> OUT_DIR/core.yaml (schema-validated) + OUT_DIR/crd.yaml
    check_manifests.py rules RENDERED.yaml REPO      -> exits 1 listing every broken rule

Rules: probes on /readyz and /healthz; terminationGracePeriodSeconds covers the preStop sleep plus the drain
(SHUTDOWN_GRACE_SECONDS); CronJobs forbid concurrency and their deadline is below the job's lock TTL
(jobs/src/*.rs LOCK_TTL); the ingress routes /api/socket.io to live, /api and every path of the web client (its
router's top-level paths, client/public) to api, and no path to /healthz, /readyz or /metrics; the ConfigMap and the Secret
template together name every variable of .env.example that a container needs.
"""

import re
import sys
from pathlib import Path

import yaml

# Custom resources: no schema in the Kubernetes set; checked for shape only.
CRD_GROUPS = ("external-secrets.io/", "argoproj.io/")

# Job mode -> the jobs/ module whose LOCK_TTL bounds it.
JOB_MODULES = {
    "fetch-schedule": "schedule",
    "fetch-users": "users",
    "fetch-content": "content",
    "log-visitors": "visitors",
    "retention": "retention",
    "reminders": "reminders",
}

# Variables a container does not take from the ConfigMap/Secret: the mode is set per workload; *_CRON drive only
# `--mode all`'s in-process scheduler (the CronJobs replace it).
# Served by every pod at its root for probes and Prometheus: never through an Ingress.
OPS_PATHS = ("/healthz", "/readyz", "/metrics")

NOT_FROM_CONFIG = {"PLAZA_MODE", "SCHEDULE_CRON", "USERS_CRON", "CONTENT_CRON", "VISITORS_CRON", "RETENTION_CRON",
                   "REMINDERS_CRON"}


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def split(rendered, out_dir):
    core, crd = [], []
    for d in docs(rendered):
        (crd if d.get("apiVersion", "").startswith(CRD_GROUPS) else core).append(d)
    for d in crd:
        for key in ("apiVersion", "kind", "metadata", "spec"):
            if key not in d:
                sys.exit(f"{rendered}: custom resource {d.get('kind')} has no {key}")
        if not d["metadata"].get("name"):
            sys.exit(f"{rendered}: custom resource {d.get('kind')} has no name")
    out = Path(out_dir)
    (out / "core.yaml").write_text(yaml.safe_dump_all(core, sort_keys=False))
    (out / "crd.yaml").write_text(yaml.safe_dump_all(crd, sort_keys=False))
    print(f"{len(core)} resources, {len(crd)} custom resources")


def lock_ttls(repo):
    ttls = {}
    for mode, module in JOB_MODULES.items():
        src = Path(repo) / "jobs" / "src" / f"{module}.rs"
        if not src.exists():
            src = Path(repo) / "jobs" / "src" / module / "mod.rs"
        if not src.exists():
            continue
        m = re.search(r"LOCK_TTL\s*:\s*Duration\s*=\s*Duration::from_secs\((\d+)\)", src.read_text())
        if m:
            ttls[mode] = int(m.group(1))
    return ttls


def env_value(container, config, name):
    for e in container.get("env", []):
        if e.get("name") == name and "value" in e:
            return e["value"]
    return config.get(name)


def ingress_routes(path, ingresses):
    """The services the Ingresses send a request for `path` to (every rule that matches it, and default backends)."""
    services = []
    for ing in ingresses:
        default = ing["spec"].get("defaultBackend")
        if default:
            services.append(default.get("service", {}).get("name", "a resource backend"))
        for rule in ing["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                prefix = p["path"]
                if p.get("pathType") == "Exact":
                    hit = path == prefix
                else:
                    # Prefix (element-wise) and ImplementationSpecific, read as a prefix to be safe.
                    hit = prefix in ("/", path) or path.startswith(prefix.rstrip("/") + "/")
                if hit:
                    services.append(p["backend"].get("service", {}).get("name", "a resource backend"))
    return services


def client_paths(repo):
    """The attendee client's public paths: its top-level router paths and the files of client/public."""
    router = (Path(repo) / "client/src/router.ts").read_text()
    paths = {"/", "/assets/index.js", "/client-config.json"}
    for path in re.findall(r"path:\s*'(/[^':]*)", router):
        paths.add("/" + path.strip("/").split("/")[0] if path != "/" else "/")
    public = Path(repo) / "client/public"
    if public.is_dir():
        paths.update("/" + f.name for f in public.iterdir() if f.is_file())
    return sorted(paths)


def ingress_errors(ingresses, repo):
    """The ops endpoints reach no public route; the socket, the API and every client path reach their service."""
    errors = []
    for path in OPS_PATHS:
        services = ingress_routes(path, ingresses)
        if services:
            errors.append(f"Ingress: the operations endpoint {path} is public (routed to {', '.join(services)})")
    wanted = [("/api/socket.io/", "live"), ("/api/schedule", "api")]
    wanted += [(path, "api") for path in client_paths(repo)]
    for path, service in wanted:
        services = ingress_routes(path, ingresses)
        if service not in services:
            errors.append(f"Ingress: {path} goes to {services or 'nothing'}, expected {service}")
    return errors


def rules(rendered, repo):
    items = docs(rendered)
    errors, notes = [], []
    by_kind = {}
    for d in items:
        by_kind.setdefault(d["kind"], []).append(d)
    config = {}
    for cm in by_kind.get("ConfigMap", []):
        if cm["metadata"]["name"] == "plaza-config":
            config = cm.get("data", {})
    if not config:
        errors.append("no ConfigMap plaza-config")

    # Every variable a container needs is in the ConfigMap or the Secret template.
    template = yaml.safe_load((Path(repo) / "k8s/base/secret.template.yaml").read_text())
    secret_keys = set(template.get("stringData", {}))
    example = (Path(repo) / ".env.example").read_text()
    wanted = set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", example, re.M)) - NOT_FROM_CONFIG
    missing = sorted(wanted - set(config) - secret_keys)
    if missing:
        errors.append(f"variables in neither the ConfigMap nor the Secret template: {', '.join(missing)}")
    leaked = sorted(secret_keys & set(config))
    if leaked:
        errors.append(f"secrets in the ConfigMap: {', '.join(leaked)}")

    for dep in by_kind.get("Deployment", []):
        name = dep["metadata"]["name"]
        spec = dep["spec"]["template"]["spec"]
        c = spec["containers"][0]
        if c.get("image", "").split("/")[-1].split(":")[0] != "plaza":
            continue
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            got = c.get(probe, {}).get("httpGet", {}).get("path")
            if got != path:
                errors.append(f"Deployment/{name}: {probe} is {got!r}, expected {path}")
        grace = int(env_value(c, config, "SHUTDOWN_GRACE_SECONDS") or 10)
        cmd = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        pre_stop = int(cmd[1]) if len(cmd) == 2 and cmd[0] == "sleep" else 0
        if not pre_stop:
            errors.append(f"Deployment/{name}: no preStop sleep")
        total = spec.get("terminationGracePeriodSeconds", 30)
        if total < pre_stop + grace + 1:
            errors.append(
                f"Deployment/{name}: terminationGracePeriodSeconds {total} < preStop {pre_stop} s + "
                f"SHUTDOWN_GRACE_SECONDS {grace} s + 1"
            )
        if "resources" not in c or "limits" not in c["resources"]:
            errors.append(f"Deployment/{name}: no resource limits")

    ttls = lock_ttls(repo)
    seen = set()
    for cj in by_kind.get("CronJob", []):
        name = cj["metadata"]["name"]
        spec = cj["spec"]
        job = spec["jobTemplate"]["spec"]
        c = job["template"]["spec"]["containers"][0]
        mode = env_value(c, config, "PLAZA_MODE")
        seen.add(mode)
        if spec.get("concurrencyPolicy") != "Forbid":
            errors.append(f"CronJob/{name}: concurrencyPolicy must be Forbid")
        deadline = job.get("activeDeadlineSeconds")
        if deadline is None:
            errors.append(f"CronJob/{name}: no activeDeadlineSeconds")
        elif mode in ttls:
            if deadline >= ttls[mode]:
                errors.append(f"CronJob/{name}: activeDeadlineSeconds {deadline} >= LOCK_TTL {ttls[mode]} s")
        else:
            notes.append(f"CronJob/{name}: jobs/src has no LOCK_TTL for {mode} yet; deadline {deadline} s unchecked")
    for mode in JOB_MODULES:
        if mode not in seen:
            errors.append(f"no CronJob runs --mode {mode}")

    errors.extend(ingress_errors(by_kind.get("Ingress", []), repo))

    for n in notes:
        print(f"note: {n}")
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"rules ok ({len(items)} resources)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "split":
        split(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "rules":
        rules(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
