#!/usr/bin/env python3
"""check_manifests.py: deploy/compose.yaml and deploy/k8s/*.yaml parse and
hang together.

Usage: check_manifests.py DEPLOY_DIR [IMAGE_ROOT]

Checks what a schema cannot: the worker service can scale (no fixed name,
no published port), workers are pointed at the broker's service name and
port, every Deployment has readiness and liveness probes, resources, a
non-root and read-only security context, selectors that match their pod
labels, the Service reaches the broker's named port 5555, the NetworkPolicy
guards the broker. With IMAGE_ROOT (the image's files, as the Dockerfile
installs them), every absolute path that a command names must exist there.
Exits 77 if PyYAML is missing."""
import os
import sys

try:
    import yaml
except ImportError:
    print("SKIP: python3 has no yaml module (Debian: python3-yaml); "
          "the YAML files were not checked")
    sys.exit(77)

errors = []


def check(condition, message):
    if not condition:
        errors.append(message)


def image_paths(command, root, where):
    """Every absolute path in a command must exist in the image."""
    if root is None:
        return
    for word in command:
        if word.startswith("/usr/"):
            check(os.path.exists(root + word),
                  f"{where}: {word} is not in the image")


def check_compose(path, root):
    compose = yaml.safe_load(open(path, encoding="utf-8"))
    services = compose.get("services", {})
    check(set(services) >= {"broker", "worker"},
          f"{path}: needs services broker and worker")
    broker, worker = services.get("broker", {}), services.get("worker", {})
    check("healthcheck" in broker, f"{path}: broker has no healthcheck")
    for port in broker.get("ports", []):
        check(str(port).startswith("127.0.0.1:"),
              f"{path}: broker port {port} is published beyond loopback")
    check("container_name" not in worker and "ports" not in worker,
          f"{path}: worker has a fixed name or port, so it cannot scale")
    check(worker.get("environment", {}).get("ZFARM_BROKER")
          == "tcp://broker:5555",
          f"{path}: worker is not pointed at tcp://broker:5555")
    for name, service in services.items():
        check(service.get("image"), f"{path}: {name} has no image")
        check(service.get("read_only") is True,
              f"{path}: {name} has a writable root")
        image_paths(service.get("command", []), root, f"{path}: {name}")


def containers(deployment):
    return deployment["spec"]["template"]["spec"]["containers"]


def check_deployment(path, deployment, root):
    name = deployment["metadata"]["name"]
    spec = deployment["spec"]
    pod = spec["template"]
    labels = pod["metadata"]["labels"]
    for key, value in spec["selector"]["matchLabels"].items():
        check(labels.get(key) == value,
              f"{path}: {name}: selector {key} does not match the pod")
    check(pod["spec"].get("securityContext", {}).get("runAsNonRoot") is True,
          f"{path}: {name}: pod may run as root")
    for container in containers(deployment):
        where = f"{path}: {name}/{container['name']}"
        for probe in ("readinessProbe", "livenessProbe"):
            check(probe in container, f"{where}: no {probe}")
        check("requests" in container.get("resources", {}),
              f"{where}: no resource requests")
        context = container.get("securityContext", {})
        check(context.get("readOnlyRootFilesystem") is True
              and context.get("allowPrivilegeEscalation") is False,
              f"{where}: root filesystem writable or privilege escalation")
        image_paths(container.get("command", []), root, where)


def check_k8s(directory, root):
    documents = []
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".yaml") and entry != "kustomization.yaml":
            path = os.path.join(directory, entry)
            documents += [(path, d) for d in
                          yaml.safe_load_all(open(path, encoding="utf-8")) if d]
    kinds = {}
    for path, document in documents:
        kinds.setdefault(document["kind"], []).append((path, document))
    deployments = {d["metadata"]["name"]: (p, d)
                   for p, d in kinds.get("Deployment", [])}
    check(set(deployments) >= {"zfarm-broker", "zfarm-worker"},
          f"{directory}: needs Deployments zfarm-broker and zfarm-worker")
    for path, deployment in deployments.values():
        check_deployment(path, deployment, root)
    if "zfarm-broker" not in deployments:
        return
    broker = deployments["zfarm-broker"][1]
    broker_labels = broker["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"]: p["containerPort"]
             for p in containers(broker)[0].get("ports", [])}
    services = [d for _, d in kinds.get("Service", [])
                if d["metadata"]["name"] == "zfarm-broker"]
    check(len(services) == 1, f"{directory}: needs Service zfarm-broker")
    for service in services:
        check(all(broker_labels.get(k) == v
                  for k, v in service["spec"]["selector"].items()),
              f"{directory}: Service zfarm-broker selects no broker pod")
        for port in service["spec"]["ports"]:
            check(port["targetPort"] in ports,
                  f"{directory}: Service port {port} reaches no broker port")
        check(any(p["port"] == 5555 and ports.get(p["targetPort"]) == 5555
                  for p in service["spec"]["ports"]),
              f"{directory}: Service zfarm-broker does not serve port 5555")
    if "zfarm-worker" in deployments:
        env = {e["name"]: e.get("value") for e in
               containers(deployments["zfarm-worker"][1])[0].get("env", [])}
        check(env.get("ZFARM_BROKER") == "tcp://zfarm-broker:5555",
              f"{directory}: workers are not pointed at the broker Service")
    policies = [d for _, d in kinds.get("NetworkPolicy", [])]
    check(any(all(broker_labels.get(k) == v for k, v in
                  p["spec"]["podSelector"]["matchLabels"].items())
              for p in policies),
          f"{directory}: no NetworkPolicy guards the broker")
    kustomization = yaml.safe_load(
        open(os.path.join(directory, "kustomization.yaml"), encoding="utf-8"))
    listed = set(kustomization.get("resources", []))
    on_disk = {os.path.basename(p) for p, _ in documents}
    check(listed == on_disk,
          f"{directory}: kustomization lists {sorted(listed)}, "
          f"files are {sorted(on_disk)}")


def main():
    deploy = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else None
    check_compose(os.path.join(deploy, "compose.yaml"), root)
    check_k8s(os.path.join(deploy, "k8s"), root)
    for error in errors:
        print("FAIL:", error)
    if errors:
        sys.exit(1)
    print("compose.yaml and k8s/ are consistent")


if __name__ == "__main__":
    main()
