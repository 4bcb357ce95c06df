"""Fetch the operators' CustomResourceDefinitions and keep their schemas in the repository.

Run by hand when an operator's version changes (never by the tests, which must work offline):

    uv run python deploy/crds/fetch.py

Each CRD comes from a package of a public registry, at a pinned version, through the
registry's ordinary client:

- Strimzi: its CRD generator and API classes from Maven Central (`mvn`), run with the
  arguments of the release's own build (see `StrimziRelease`; needs Java 21+);
- CloudNativePG, KEDA and the Prometheus Operator: their Go modules, fetched from the Go
  module proxy with `go mod download` (checked against the Go checksum database), where
  the CRDs sit in the module's source tree.

For every served version of every kind the manifests use, the `openAPIV3Schema` is written
to `schemas/<group>/<kind>_<version>.json` (descriptions dropped: they make the files ten
times larger and validate nothing), and `sources.json` records where each came from: the
package, its version, the path inside it and the SHA-256 of the CRD file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE / "schemas"


@dataclass(frozen=True)
class GoModule:
    module: str
    version: str
    paths: tuple[str, ...]
    registry: str = "Go module proxy"

    def fetch(self, scratch: Path) -> tuple[dict[str, bytes], dict[str, str]]:
        env = {**os.environ, "GOFLAGS": "-mod=mod"}
        out = subprocess.run(["go", "mod", "download", "-json", f"{self.module}@{self.version}"],
                             check=True, capture_output=True, text=True, env=env, cwd=scratch)
        info = json.loads(out.stdout)
        root = Path(info["Dir"])
        files = {path: (root / path).read_bytes() for path in self.paths}
        return files, {"package": f"{self.module}@{self.version}", "go.sum": info["Sum"]}


POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local</groupId><artifactId>crds</artifactId><version>1</version><dependencies>
{dependencies}</dependencies></project>"""


@dataclass(frozen=True)
class StrimziRelease:
    """Strimzi publishes no CRD files on Maven Central, but it publishes the generator that
    writes them (`io.strimzi:crd-generator`) and the API classes it reads (`io.strimzi:api`).
    This runs that generator with the arguments of the release's own build (read from the
    `generate-crd-co-install-v1` execution of the api module's pom.xml), so the result is
    the CRD of the release's installation files."""

    version: str
    kinds: dict[str, str]  # Java class of the kind -> the file name Strimzi gives its CRD
    registry: str = "Maven Central"
    execution: str = "generate-crd-co-install-v1"

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self.kinds.values())

    def fetch(self, scratch: Path) -> tuple[dict[str, bytes], dict[str, str]]:
        artifacts = [("io.strimzi", "api"), ("io.strimzi", "crd-generator")]
        dependencies = "".join(
            f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
            f"<version>{self.version}</version></dependency>" for g, a in artifacts)
        (scratch / "pom.xml").write_text(POM.format(dependencies=dependencies))
        subprocess.run(["mvn", "-q", "dependency:build-classpath", "-Dmdep.outputFile=cp.txt"],
                       check=True, cwd=scratch)
        classpath = (scratch / "cp.txt").read_text().strip()
        api_jar = next(p for p in classpath.split(os.pathsep)
                       if Path(p).name == f"api-{self.version}.jar")
        with zipfile.ZipFile(api_jar) as archive:
            pom = archive.read("META-INF/maven/io.strimzi/api/pom.xml")
        options = self._generator_options(pom)
        out = scratch / "out"
        out.mkdir()
        targets = [f"{cls}={out / name}" for cls, name in self.kinds.items()]
        subprocess.run([java_21(), "-cp", classpath, "io.strimzi.crdgenerator.CrdGenerator",
                        *options, *targets], check=True, cwd=scratch)
        files = {name: (out / name).read_bytes() for name in self.kinds.values()}
        return files, {"package": f"io.strimzi:api:{self.version} + io.strimzi:crd-generator:"
                                  f"{self.version}", "api.jar.sha1": _sha1(Path(api_jar)),
                       "generator": f"CrdGenerator {' '.join(options)}"}

    def _generator_options(self, pom: bytes) -> list[str]:
        import xml.etree.ElementTree as ET

        ns = {"m": "http://maven.apache.org/POM/4.0.0"}
        for execution in ET.fromstring(pom).iterfind(".//m:execution", ns):
            if execution.findtext("m:id", namespaces=ns) == self.execution:
                arguments = [a.text or "" for a in execution.iterfind(".//m:argument", ns)]
                start = arguments.index("io.strimzi.crdgenerator.CrdGenerator") + 1
                return [a for a in arguments[start:] if "=" not in a]
        raise SystemExit(f"no execution {self.execution} in the pom of io.strimzi:api:{self.version}")


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def java_21() -> str:
    """Strimzi's generator needs Java 21 or later: JAVA_HOME, `java`, or a JDK in /usr/lib/jvm."""
    candidates = [Path(os.environ["JAVA_HOME"]) / "bin" / "java"] if os.environ.get("JAVA_HOME") else []
    candidates += [Path(p) for p in [shutil.which("java")] if p]
    candidates += sorted(Path("/usr/lib/jvm").glob("*/bin/java"), reverse=True)
    for java in candidates:
        probe = subprocess.run([str(java), "-XshowSettings:properties", "-version"],
                               capture_output=True, text=True)
        for line in probe.stderr.splitlines():
            if "java.specification.version" in line and int(line.split("=")[1]) >= 21:
                return str(java)
    raise SystemExit("Strimzi's CRD generator needs Java 21 or later: set JAVA_HOME")


STRIMZI = StrimziRelease("1.2.0", {
    "io.strimzi.api.kafka.model.kafka.Kafka": "040-Crd-kafka.yaml",
    "io.strimzi.api.kafka.model.topic.KafkaTopic": "043-Crd-kafkatopic.yaml",
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool": "045-Crd-kafkanodepool.yaml",
})
CLOUDNATIVE_PG = GoModule(
    "github.com/cloudnative-pg/cloudnative-pg", "v1.29.0",
    ("config/crd/bases/postgresql.cnpg.io_clusters.yaml",
     "config/crd/bases/postgresql.cnpg.io_scheduledbackups.yaml"))
KEDA = GoModule(
    "github.com/kedacore/keda/v2", "v2.21.0",
    ("config/crd/bases/keda.sh_scaledobjects.yaml",))
PROMETHEUS_OPERATOR = GoModule(
    "github.com/prometheus-operator/prometheus-operator", "v0.88.0",
    ("example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
     "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
     "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"))

OPERATORS: dict[str, GoModule | StrimziRelease] = {
    "strimzi": STRIMZI,
    "cloudnative-pg": CLOUDNATIVE_PG,
    "keda": KEDA,
    "prometheus-operator": PROMETHEUS_OPERATOR,
}


def without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items()
                if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def extract(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{"<group>/<kind>_<version>.json": openAPIV3Schema} for each served version."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    out = {}
    for version in crd["spec"]["versions"]:
        if version.get("served"):
            schema = version["schema"]["openAPIV3Schema"]
            out[f"{group}/{kind}_{version['name']}.json"] = without_descriptions(schema)
    return out


def main() -> int:
    sources: dict[str, Any] = {}
    if SCHEMAS.exists():
        shutil.rmtree(SCHEMAS)
    for operator, package in OPERATORS.items():
        with tempfile.TemporaryDirectory() as scratch:
            files, provenance = package.fetch(Path(scratch))
        for path, content in files.items():
            crd = yaml.safe_load(content)
            for name, schema in extract(crd).items():
                target = SCHEMAS / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                sources[name] = {
                    "operator": operator, "version": package.version,
                    "registry": package.registry, **provenance, "path": path,
                    "crd": crd["metadata"]["name"],
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
                print(f"{name}: {operator} {package.version} ({path})")
    (HERE / "sources.json").write_text(json.dumps(dict(sorted(sources.items())), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
