"""Checks deploy/k8s and deploy/compose.yaml against what optd expects.

Every manifest must load into the Kubernetes API's own models (Debian's
python3-kubernetes: types, required fields) and render with `kubectl
kustomize` when kubectl is present; and the StatefulSet, its Services, the
PodDisruptionBudget and the compose file must agree with each other and with
optd's flags: replica count = --peers entries, named optd-N.<service>:<port>,
ports equal, gRPC probes, a non-root read-only root file system, the data
volume on /var/lib/optd. The negative cases prove the checks can fail.

    /usr/bin/python3 -m unittest discover -s tests/deploy
"""

import copy
import pathlib
import shutil
import subprocess
import unittest

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose.yaml"
# What the image's entry point sets (Dockerfile).
IMAGE_PORT = 50051
IMAGE_METRICS_PORT = 9090
DATA_DIR = "/var/lib/optd"


def load_kustomization():
    """The manifests kustomization.yaml lists, by kind."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            docs.setdefault(doc["kind"], []).append(doc)
    return docs


def flag(args, name):
    for arg in args:
        if arg == f"--{name}":
            return True
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def check_kubernetes(docs):
    """The problems found in the manifests (empty: none)."""
    problems = []
    (sts,) = docs.get("StatefulSet", [None])
    if sts is None:
        return ["no StatefulSet"]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    if spec["selector"]["matchLabels"] != labels:
        problems.append("the StatefulSet's selector does not match its pods")
    if spec.get("podManagementPolicy") != "Parallel":
        problems.append("podManagementPolicy is not Parallel")
    (container,) = [c for c in pod["containers"] if c["name"] == "optd"]
    args = container.get("args", [])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    port = ports.get("grpc")
    if ports.get("metrics") != IMAGE_METRICS_PORT:
        problems.append(f"containerPort metrics is {ports.get('metrics')}; "
                        f"optd serves /metrics on {IMAGE_METRICS_PORT} (the "
                        "image's --metrics_port)")
    annotations = spec["template"]["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/port") != str(IMAGE_METRICS_PORT):
        problems.append("the pods' prometheus.io/port annotation is not "
                        f"{IMAGE_METRICS_PORT}")
    if port != IMAGE_PORT:
        problems.append(f"containerPort grpc is {port}; optd listens on "
                        f"{IMAGE_PORT} (the image's --port)")
    # --peers: one entry per replica, named as the headless Service names pods.
    peers = flag(args, "peers")
    service = spec["serviceName"]
    expected = [f"{sts['metadata']['name']}-{i}.{service}:{IMAGE_PORT}"
                for i in range(spec["replicas"])]
    if not peers or peers.split(",") != expected:
        problems.append(f"--peers is {peers}; {spec['replicas']} replicas "
                        f"behind {service} are {','.join(expected)}")
    if flag(args, "replica_index_from_hostname") is not True and \
            flag(args, "replica_index") is None:
        problems.append("no --replica_index_from_hostname (nor --replica_index)")
    for probe in ("readinessProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc")
        if grpc is None:
            problems.append(f"no gRPC {probe}")
        elif grpc.get("port") != port:
            problems.append(f"{probe} checks port {grpc.get('port')}, not "
                            f"{port}")
    resources = container.get("resources", {})
    if not resources.get("requests") or not resources.get("limits"):
        problems.append("resources need requests and limits")
    security = container.get("securityContext", {})
    if not security.get("readOnlyRootFilesystem"):
        problems.append("the root file system is not read-only")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append("privilege escalation is allowed")
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        problems.append("the pod may run as root")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates",
                                                      [])]
    if not any(mounts.get(c) == DATA_DIR for c in claims):
        problems.append(f"no volumeClaimTemplate mounted on {DATA_DIR}")
    # Services: the headless one named by serviceName, and a client one.
    services = {s["metadata"]["name"]: s for s in docs.get("Service", [])}
    headless = services.get(service)
    if headless is None or headless["spec"].get("clusterIP") != "None":
        problems.append(f"no headless Service {service}")
    for s in services.values():
        if s["spec"]["selector"] != labels:
            problems.append(f"Service {s['metadata']['name']} selects other "
                            "pods")
        for p in s["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if target not in ("grpc", port):
                problems.append(f"Service {s['metadata']['name']} targets "
                                f"port {target}, not {port}")
    if not any(s["spec"].get("clusterIP") != "None" for s in services.values()):
        problems.append("no client Service")
    pdbs = docs.get("PodDisruptionBudget", [])
    if not pdbs or pdbs[0]["spec"]["selector"]["matchLabels"] != labels:
        problems.append("no PodDisruptionBudget for the pods")
    return problems


def check_compose(compose):
    problems = []
    services = compose["services"]
    names = sorted(services)
    for name in names:
        args = services[name]["command"]
        peers = flag(args, "peers")
        expected = [f"{n}:{IMAGE_PORT}" for n in names]
        if not peers or peers.split(",") != expected:
            problems.append(f"{name}: --peers is {peers}, not "
                            f"{','.join(expected)}")
        index = flag(args, "replica_index")
        if index is None or peers and peers.split(",")[int(index)] != \
                f"{name}:{IMAGE_PORT}":
            problems.append(f"{name}: --replica_index {index} names another "
                            "replica")
        volumes = services[name].get("volumes", [])
        if not any(v.endswith(f":{DATA_DIR}") for v in volumes):
            problems.append(f"{name}: no volume on {DATA_DIR}")
    return problems


# Fields newer than Debian 12's python3-kubernetes (22.6, the Kubernetes 1.22
# API): gRPC probes came in 1.24 (GA in 1.27).
NEWER_FIELDS = {"V1Probe": {"grpc"}}


def unknown_fields(value, type_name, models, path="") -> list:
    """Fields of `value` that the API type `type_name` does not have (the
    models ignore them silently: a misspelt probe would vanish)."""
    if type_name.startswith("list["):
        return [f for i, item in enumerate(value or [])
                for f in unknown_fields(item, type_name[5:-1], models,
                                        f"{path}[{i}]")]
    if type_name.startswith("dict(") or not hasattr(models, type_name):
        return []  # maps, primitives, IntOrString, quantities
    model = getattr(models, type_name)
    by_key = {key: attr for attr, key in model.attribute_map.items()}
    found = []
    for key, item in (value or {}).items():
        if key in NEWER_FIELDS.get(type_name, ()):
            continue
        if key not in by_key:
            found.append(f"{path}.{key}" if path else key)
        else:
            found += unknown_fields(item, model.openapi_types[by_key[key]],
                                    models, f"{path}.{key}" if path else key)
    return found


class KubernetesManifestsTest(unittest.TestCase):

    def setUp(self):
        self.docs = load_kustomization()

    def test_the_manifests_agree_with_optd(self):
        self.assertEqual(check_kubernetes(self.docs), [])

    def test_every_manifest_loads_into_the_api_models(self):
        try:
            import kubernetes
        except ImportError:
            self.skipTest("python3-kubernetes is not installed")
        api = kubernetes.client.ApiClient()
        models = {"StatefulSet": "V1StatefulSet", "Service": "V1Service",
                  "PodDisruptionBudget": "V1PodDisruptionBudget"}
        for kind, docs in self.docs.items():
            self.assertIn(kind, models)
            for doc in docs:
                # Raises on a wrong type or a missing required field.
                model = api._ApiClient__deserialize(copy.deepcopy(doc),
                                                    models[kind])
                self.assertEqual(model.kind, kind)
                self.assertEqual(
                    unknown_fields(doc, models[kind], kubernetes.client), [])

    def test_a_misspelt_field_is_caught(self):
        try:
            import kubernetes
        except ImportError:
            self.skipTest("python3-kubernetes is not installed")
        doc = copy.deepcopy(self.statefulset(self.docs))
        container = doc["spec"]["template"]["spec"]["containers"][0]
        container["readinesProbe"] = container.pop("readinessProbe")
        self.assertEqual(
            unknown_fields(doc, "V1StatefulSet", kubernetes.client),
            ["spec.template.spec.containers[0].readinesProbe"])

    def test_kustomize_renders(self):
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            self.skipTest("kubectl is not installed")
        rendered = subprocess.run([kubectl, "kustomize", str(K8S)],
                                  check=True, capture_output=True, text=True)
        kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered.stdout))
        self.assertEqual(kinds, ["PodDisruptionBudget", "Service", "Service",
                                 "StatefulSet"])

    def statefulset(self, docs):
        return docs["StatefulSet"][0]

    def test_a_wrong_port_is_caught(self):
        docs = copy.deepcopy(self.docs)
        container = self.statefulset(docs)["spec"]["template"]["spec"][
            "containers"][0]
        container["ports"][0]["containerPort"] = 8080
        self.assertTrue(any("containerPort grpc is 8080" in p
                            for p in check_kubernetes(docs)))

    def test_a_metrics_port_the_image_does_not_serve_is_caught(self):
        docs = copy.deepcopy(self.docs)
        container = self.statefulset(docs)["spec"]["template"]["spec"][
            "containers"][0]
        container["ports"][1]["containerPort"] = 9100
        self.assertTrue(any("containerPort metrics is 9100" in p
                            for p in check_kubernetes(docs)))

    def test_a_missing_probe_is_caught(self):
        docs = copy.deepcopy(self.docs)
        del self.statefulset(docs)["spec"]["template"]["spec"]["containers"][
            0]["readinessProbe"]
        self.assertIn("no gRPC readinessProbe", check_kubernetes(docs))

    def test_replicas_that_disagree_with_peers_are_caught(self):
        docs = copy.deepcopy(self.docs)
        self.statefulset(docs)["spec"]["replicas"] = 4
        self.assertTrue(any(p.startswith("--peers is")
                            for p in check_kubernetes(docs)))


class ComposeTest(unittest.TestCase):

    def test_three_replicas_that_know_each_other(self):
        compose = yaml.safe_load(COMPOSE.read_text())
        self.assertEqual(len(compose["services"]), 3)
        self.assertEqual(check_compose(compose), [])

    def test_a_wrong_index_is_caught(self):
        compose = yaml.safe_load(COMPOSE.read_text())
        compose["services"]["optd-1"]["command"][1] = "--replica_index=2"
        self.assertTrue(check_compose(compose))


if __name__ == "__main__":
    unittest.main()
