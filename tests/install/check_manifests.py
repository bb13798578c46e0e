#!/usr/bin/env python3
"""check_manifests.py: deploy/compose.yaml, deploy/k8s/*.yaml and
deploy/k8s-keda/*.yaml parse and hang together.

Usage: check_manifests.py DEPLOY_DIR [IMAGE_ROOT]

Checks what a schema cannot: two brokers, and workers (and clients) given
both, by the names compose or the StatefulSet's headless Service gives
them; the worker service can scale (no fixed name, no published port);
a stopped worker has time to drain (grace period > --drain-timeout >
--max-call-time); every workload has readiness and liveness probes,
resources, a non-root and read-only security context, selectors that match
their pod labels; the Service reaches the brokers' named port 5555; the
NetworkPolicy guards the brokers. The KEDA ScaledObject has the fields KEDA
reads (keda.sh/v1alpha1, string-valued trigger metadata), targets the
worker Deployment, scales to zero, and its Prometheus query and threshold
agree with the brokers' metric names and the worker pod's slots. With
IMAGE_ROOT (the image's files, as the Dockerfile installs them), every
absolute path that a command names must exist there.
Exits 77 if PyYAML is missing."""
import os
import re
import sys

try:
    import yaml
except ImportError:
    print("SKIP: python3 has no yaml module (Debian: python3-yaml); "
          "the YAML files were not checked")
    sys.exit(77)

errors = []

# A task may run 1 s past --max-call-time before its worker gives up on it
# (worker/README.md, "Call-time limit").
OVERRUN_MS = 1000


def check(condition, message):
    if not condition:
        errors.append(message)


def load(path):
    with open(path, encoding="utf-8") as file:
        return yaml.safe_load(file)


def load_all(path):
    with open(path, encoding="utf-8") as file:
        return [d for d in yaml.safe_load_all(file) if d]


def image_paths(command, root, where):
    """Every absolute path in a command must exist in the image."""
    if root is None:
        return
    for word in command:
        if word.startswith("/usr/"):
            check(os.path.exists(root + word),
                  f"{where}: {word} is not in the image")


def option(command, name):
    """The value of --name in a command line, or None."""
    for i, word in enumerate(command[:-1]):
        if word == "--" + name:
            return command[i + 1]
    return None


def seconds(text):
    """A compose duration ("90s", "1m30s") in seconds."""
    total = 0
    for number, unit in re.findall(r"(\d+)(h|m|s|ms)", str(text)):
        total += int(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def check_drain(command, grace_s, where):
    """A stopped worker finishes its tasks: the grace period outlasts
    --drain-timeout, which outlasts a task's longest run."""
    drain = option(command, "drain-timeout")
    check(drain is not None and option(command, "processes") is not None,
          f"{where}: worker has no --processes and --drain-timeout")
    if drain is None:
        return
    check(grace_s * 1000 > int(drain),
          f"{where}: grace period {grace_s} s is not more than "
          f"--drain-timeout {drain} ms")
    call_time = option(command, "max-call-time")
    check(call_time is not None
          and int(drain) >= int(call_time) + OVERRUN_MS,
          f"{where}: --drain-timeout {drain} ms does not cover "
          f"--max-call-time {call_time} ms and its 1 s overrun")


def slots(command):
    """Slots of one worker pod or container: processes x capacity."""
    return (int(option(command, "processes") or 1)
            * int(option(command, "capacity") or 1))


def check_compose(path, root):
    compose = load(path)
    services = compose.get("services", {})
    brokers = {name: s for name, s in services.items()
               if s.get("command", [""])[0] == "zfarm-broker"}
    check(len(brokers) == 2, f"{path}: needs two brokers, has {sorted(brokers)}")
    endpoints = {f"tcp://{name}:5555" for name in brokers}
    published = []
    for name, broker in brokers.items():
        check("healthcheck" in broker, f"{path}: {name} has no healthcheck")
        for port in broker.get("ports", []):
            check(str(port).startswith("127.0.0.1:"),
                  f"{path}: {name} port {port} is published beyond loopback")
            published.append(str(port).rsplit(":", 1)[0])
        check(seconds(broker.get("stop_grace_period", "10s")) * 1000
              > int(option(broker["command"], "drain-timeout") or 5000),
              f"{path}: {name}: stop_grace_period does not outlast "
              "--drain-timeout")
    check(len(published) == len(set(published)),
          f"{path}: two brokers publish the same host port: {published}")
    worker = services.get("worker", {})
    command = worker.get("command", [])
    check(command[:1] == ["zfarm-worker"], f"{path}: no worker service")
    check("container_name" not in worker and "ports" not in worker,
          f"{path}: worker has a fixed name or port, so it cannot scale")
    listed = option(command, "broker") or \
        worker.get("environment", {}).get("ZFARM_BROKER", "")
    check(set(listed.split(",")) == endpoints,
          f"{path}: worker serves {listed}, not both brokers "
          f"{sorted(endpoints)}")
    check_drain(command, seconds(worker.get("stop_grace_period", "10s")),
                f"{path}: worker")
    clients = [name for name, s in services.items()
               if s.get("command", [""])[0] == "zfarm"]
    check(clients, f"{path}: no client service")
    for name in clients:
        listed = services[name].get("environment", {}).get("ZFARM_BROKER", "")
        check(set(listed.split(",")) == endpoints,
              f"{path}: client {name} is given {listed}, not both brokers")
    for name, service in services.items():
        check(service.get("image"), f"{path}: {name} has no image")
        check(service.get("read_only") is True,
              f"{path}: {name} has a writable root")
        image_paths(service.get("command", []), root, f"{path}: {name}")


def containers(workload):
    return workload["spec"]["template"]["spec"]["containers"]


def expanded_command(container):
    """The container's command and args with $(VAR) put in from its env,
    as the kubelet does."""
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    return [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)),
                   word)
            for word in container.get("command", []) + container.get("args", [])]


def check_workload(path, workload, root):
    name = workload["metadata"]["name"]
    spec = workload["spec"]
    pod = spec["template"]
    labels = pod["metadata"]["labels"]
    for key, value in spec["selector"]["matchLabels"].items():
        check(labels.get(key) == value,
              f"{path}: {name}: selector {key} does not match the pod")
    check(pod["spec"].get("securityContext", {}).get("runAsNonRoot") is True,
          f"{path}: {name}: pod may run as root")
    for container in containers(workload):
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


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def k8s_documents(directory):
    documents = []
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".yaml") and entry != "kustomization.yaml":
            path = os.path.join(directory, entry)
            documents += [(path, d) for d in load_all(path)]
    return documents


def check_kustomization(directory, documents):
    kustomization = load(os.path.join(directory, "kustomization.yaml"))
    check(kustomization.get("kind") == "Kustomization",
          f"{directory}: kustomization.yaml is not a Kustomization")
    listed = {r for r in kustomization.get("resources", [])
              if r.endswith(".yaml")}
    on_disk = {os.path.basename(p) for p, _ in documents}
    check(listed == on_disk,
          f"{directory}: kustomization lists {sorted(listed)}, "
          f"files are {sorted(on_disk)}")
    return kustomization


def check_k8s(directory, root):
    """Returns the worker Deployment, or None."""
    documents = k8s_documents(directory)
    kinds = {}
    for path, document in documents:
        kinds.setdefault(document["kind"], []).append((path, document))
    workloads = {d["metadata"]["name"]: (p, d)
                 for kind in ("Deployment", "StatefulSet")
                 for p, d in kinds.get(kind, [])}
    for path, workload in workloads.values():
        check_workload(path, workload, root)
    check_kustomization(directory, documents)
    brokers = [d for _, d in kinds.get("StatefulSet", [])
               if d["metadata"]["name"] == "zfarm-broker"]
    workers = [d for _, d in kinds.get("Deployment", [])
               if d["metadata"]["name"] == "zfarm-worker"]
    check(len(brokers) == 1, f"{directory}: needs StatefulSet zfarm-broker")
    check(len(workers) == 1, f"{directory}: needs Deployment zfarm-worker")
    if not brokers or not workers:
        return None
    broker, worker = brokers[0], workers[0]
    replicas = broker["spec"].get("replicas", 1)
    check(replicas == 2, f"{directory}: {replicas} brokers, not 2")
    broker_labels = broker["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"]: p["containerPort"]
             for p in containers(broker)[0].get("ports", [])}
    services = [d for _, d in kinds.get("Service", [])
                if d["metadata"]["name"] == broker["spec"].get("serviceName")]
    check(len(services) == 1,
          f"{directory}: no Service named by the StatefulSet's serviceName")
    for service in services:
        check(service["spec"].get("clusterIP") == "None",
              f"{directory}: Service zfarm-broker is not headless, so the "
              "brokers have no DNS names of their own")
        check(selects(service["spec"]["selector"], broker_labels),
              f"{directory}: Service zfarm-broker selects no broker pod")
        for port in service["spec"]["ports"]:
            check(port["targetPort"] in ports,
                  f"{directory}: Service port {port} reaches no broker port")
        check(any(p["port"] == 5555 and ports.get(p["targetPort"]) == 5555
                  for p in service["spec"]["ports"]),
              f"{directory}: Service zfarm-broker does not serve port 5555")
    # Each broker pod by its DNS name: <statefulset>-<ordinal>.<service>.
    name, service_name = broker["metadata"]["name"], broker["spec"]["serviceName"]
    endpoints = {f"tcp://{name}-{i}.{service_name}:5555" for i in range(replicas)}
    container = containers(worker)[0]
    command = expanded_command(container)
    listed = option(command, "broker") or ""
    check(set(listed.split(",")) == endpoints,
          f"{directory}: workers serve {listed}, not both brokers "
          f"{sorted(endpoints)}")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    check(set((env.get("ZFARM_BROKER") or "").split(",")) == endpoints,
          f"{directory}: the worker probes' ZFARM_BROKER is not both brokers")
    check_drain(command,
                worker["spec"]["template"]["spec"].get(
                    "terminationGracePeriodSeconds", 30),
                f"{directory}: zfarm-worker")
    broker_grace = broker["spec"]["template"]["spec"].get(
        "terminationGracePeriodSeconds", 30)
    check(broker_grace * 1000
          > int(option(containers(broker)[0]["command"], "drain-timeout")
                or 5000),
          f"{directory}: the brokers' grace period does not outlast their "
          "--drain-timeout")
    policies = [d for _, d in kinds.get("NetworkPolicy", [])]
    check(any(selects(p["spec"]["podSelector"]["matchLabels"], broker_labels)
              for p in policies),
          f"{directory}: no NetworkPolicy guards the brokers")
    budgets = [d for _, d in kinds.get("PodDisruptionBudget", [])]
    check(any(selects(b["spec"]["selector"]["matchLabels"], broker_labels)
              and b["spec"].get("maxUnavailable") == 1 for b in budgets),
          f"{directory}: no PodDisruptionBudget keeps a broker up")
    return worker


SCALED_OBJECT_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod",
                      "initialCooldownPeriod", "idleReplicaCount",
                      "minReplicaCount", "maxReplicaCount", "fallback",
                      "advanced", "triggers"}
PROMETHEUS_METADATA = {"serverAddress", "query", "threshold",
                       "activationThreshold", "namespace", "customHeaders",
                       "ignoreNullValues", "queryParameters", "unsafeSsl",
                       "timeout"}


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def check_scaled_object(path, scaled, worker, metric_names):
    where = f"{path}: ScaledObject"
    check(scaled.get("apiVersion") == "keda.sh/v1alpha1",
          f"{where}: apiVersion is not keda.sh/v1alpha1")
    spec = scaled.get("spec", {})
    check(set(spec) <= SCALED_OBJECT_SPEC,
          f"{where}: fields KEDA does not know: "
          f"{sorted(set(spec) - SCALED_OBJECT_SPEC)}")
    target = spec.get("scaleTargetRef", {})
    check(target.get("name") == worker["metadata"]["name"]
          and target.get("kind", "Deployment") == "Deployment",
          f"{where}: scaleTargetRef is not the worker Deployment")
    check(spec.get("minReplicaCount") == 0,
          f"{where}: minReplicaCount is not 0: no scale to zero")
    for field in ("pollingInterval", "cooldownPeriod", "minReplicaCount",
                  "maxReplicaCount"):
        check(isinstance(spec.get(field, 0), int),
              f"{where}: {field} is not an integer")
    check(spec.get("maxReplicaCount", 100) > spec.get("minReplicaCount", 0),
          f"{where}: maxReplicaCount is not above minReplicaCount")
    fallback = spec.get("fallback")
    if fallback is not None:
        check(isinstance(fallback.get("failureThreshold"), int)
              and isinstance(fallback.get("replicas"), int),
              f"{where}: fallback needs failureThreshold and replicas")
    triggers = spec.get("triggers", [])
    check(len(triggers) == 1 and triggers[0].get("type") == "prometheus",
          f"{where}: triggers[0] is not one prometheus trigger")
    if not triggers:
        return
    metadata = triggers[0].get("metadata", {})
    check(set(metadata) <= PROMETHEUS_METADATA,
          f"{where}: prometheus metadata KEDA does not know: "
          f"{sorted(set(metadata) - PROMETHEUS_METADATA)}")
    # KEDA reads trigger metadata as a map of strings.
    for key, value in metadata.items():
        check(isinstance(value, str),
              f"{where}: metadata {key} is not a string (quote it)")
    for key in ("serverAddress", "query", "threshold", "activationThreshold"):
        check(metadata.get(key), f"{where}: metadata has no {key}")
    check(str(metadata.get("serverAddress", "")).startswith(("http://",
                                                             "https://")),
          f"{where}: serverAddress is not an http(s) URL")
    query = str(metadata.get("query", ""))
    # The query's metrics are ones the broker serves, for the workers'
    # service; and it holds tasks only (slots are counted by every broker
    # that shares a worker, so a sum of them over brokers is wrong).
    command = expanded_command(containers(worker)[0])
    service = option(command, "service")
    for name in ("zfarm_queue_depth", "zfarm_tasks_running"):
        check(re.search(name + r"\{[^}]*service=\"" + re.escape(service or "")
                        + "\"", query),
              f"{where}: the query has no {name} of service {service}")
    for name in re.findall(r"zfarm_\w+", query):
        check(name in metric_names,
              f"{where}: the query reads {name}, which the broker does not serve")
    check("zfarm_slots" not in query and "zfarm_worker_slots" not in query,
          f"{where}: the query sums slots, which brokers sharing workers "
          "count each")
    threshold = number(metadata.get("threshold"))
    check(threshold == slots(command),
          f"{where}: threshold {metadata.get('threshold')} is not the "
          f"{slots(command)} slots of a worker pod")
    activation = number(metadata.get("activationThreshold"))
    check(activation is not None and 0 <= activation < (threshold or 1),
          f"{where}: activationThreshold is not a number below threshold")


def check_keda(directory, base_directory, worker, metric_names):
    documents = k8s_documents(directory)
    kustomization = check_kustomization(directory, documents)
    base = os.path.relpath(base_directory, directory)
    check(base in kustomization.get("resources", []),
          f"{directory}: does not build on {base}")
    removes_replicas = any(
        p.get("target", {}).get("name") == "zfarm-worker"
        and "/spec/replicas" in str(p.get("patch", ""))
        for p in kustomization.get("patches", []))
    check(removes_replicas,
          f"{directory}: the worker Deployment keeps its replicas, which "
          "each apply would set against KEDA")
    scaled = [(p, d) for p, d in documents if d.get("kind") == "ScaledObject"]
    check(len(scaled) == 1, f"{directory}: needs one ScaledObject")
    if worker is not None:
        for path, document in scaled:
            check_scaled_object(path, document, worker, metric_names)


def broker_metric_names(source):
    """The metric names broker/metrics.c writes."""
    path = os.path.join(source, "broker", "metrics.c")
    with open(path, encoding="utf-8") as file:
        return set(re.findall(r"\"(zfarm_\w+)", file.read()))


def main():
    deploy = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else None
    check_compose(os.path.join(deploy, "compose.yaml"), root)
    worker = check_k8s(os.path.join(deploy, "k8s"), root)
    check_keda(os.path.join(deploy, "k8s-keda"), os.path.join(deploy, "k8s"),
               worker, broker_metric_names(os.path.join(deploy, "..")))
    for error in errors:
        print("FAIL:", error)
    if errors:
        sys.exit(1)
    print("compose.yaml, k8s/ and k8s-keda/ are consistent "
          "(checked with python3-yaml)")


if __name__ == "__main__":
    main()
