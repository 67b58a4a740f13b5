"""deploy/Dockerfile agrees with the build, the binary's libraries and the CLI.

`docker build` cannot run here, so these tests check what it would do: the build stage runs the
release build the way scripts do, the runtime stage installs exactly the shared libraries the
binary needs (checked against `ldd` of the built binary), runs as a non-root user and starts
`latchkey run --config ...` with flags the CLI really has.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy_files import DEPLOY, dockerfile_stages, exec_form, help_text, option_names
from latchkey_e2e import REPO_ROOT, latchkey_binary

#: What bookworm-slim itself carries among the libraries a Swift binary links (apt needs them).
BASE_IMAGE_LIBRARY_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
#: The runtime stage's packages: the two C libraries Latchkey links, and the CA store (data).
RUNTIME_PACKAGES = {"libssl3", "libnghttp2-14", "libhiredis0.14", "ca-certificates"}
CONFIG_PATH = "/etc/latchkey/proxy.conf"


@pytest.fixture(scope="module")
def stages():
    _, found = dockerfile_stages()
    assert len(found) == 2, f"expected a build and a runtime stage, got {[s.name for s in found]}"
    return found


def apt_installed(stage) -> set[str]:
    packages: set[str] = set()
    for run in stage.all("RUN"):
        for command in re.split(r"&&|;", run.arguments):
            words = command.split()
            if words[:2] == ["apt-get", "install"]:
                packages |= {w for w in words[2:] if not w.startswith("-")}
    return packages


def test_build_stage_runs_the_static_release_build(stages):
    build = stages[0]
    assert build.name == "build" and build.base.startswith("swift:"), build
    runs = " ".join(r.arguments for r in build.all("RUN"))
    assert "swift build -c release --static-swift-stdlib" in runs
    assert {"libssl-dev", "libnghttp2-dev", "libhiredis-dev", "pkg-config"} <= apt_installed(build)
    copied = " ".join(c.arguments for c in build.all("COPY"))
    for needed in ("Package.swift", "Sources"):
        assert needed in copied, f"the build stage does not COPY {needed}"


def test_build_flags_exist_in_this_swift():
    swift = shutil.which("swift")
    if swift is None:
        pytest.skip("swift is not on PATH")
    done = subprocess.run([swift, "build", "--help"], capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT)
    assert "--static-swift-stdlib" in done.stdout + done.stderr


def test_swift_image_is_at_least_the_tools_version(stages):
    tools = re.search(r"swift-tools-version:\s*(\d+)\.(\d+)", (REPO_ROOT / "Package.swift").read_text())
    image = re.match(r"swift:(\d+)\.(\d+)", stages[0].base)
    assert image, stages[0].base
    assert (int(image.group(1)), int(image.group(2))) >= (int(tools.group(1)), int(tools.group(2)))


def test_build_and_runtime_share_a_debian_release(stages):
    # The binary is linked against the build image's libssl/libnghttp2: same release, same sonames.
    assert "bookworm" in stages[0].base and "bookworm" in stages[1].base, [s.base for s in stages]


def test_runtime_installs_exactly_the_libraries_and_ca_store(stages):
    runtime = stages[1]
    assert runtime.base.startswith("debian:") and runtime.base.endswith("-slim"), runtime.base
    assert apt_installed(runtime) == RUNTIME_PACKAGES
    runs = " ".join(r.arguments for r in runtime.all("RUN"))
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists" in runs


def test_runtime_runs_as_a_numeric_non_root_user(stages):
    user = stages[1].last("USER")
    assert user is not None, "the runtime stage has no USER"
    uid, _, gid = user.arguments.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"USER {user.arguments}: numeric so runAsNonRoot can check it"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    runs = " ".join(r.arguments for r in stages[1].all("RUN"))
    assert re.search(rf"useradd\b.*--uid {uid}\b", runs), "the USER's uid is not created by useradd"


def test_entrypoint_runs_the_copied_binary_with_real_flags(stages):
    runtime = stages[1]
    command = exec_form(runtime.last("ENTRYPOINT").arguments) + exec_form(runtime.last("CMD").arguments)
    assert command == ["/usr/local/bin/latchkey", "run", "--config", CONFIG_PATH], command
    copied = [c.arguments.split() for c in runtime.all("COPY") if c.arguments.startswith("--from=build")]
    destinations = [words[-1] + words[i].rsplit("/", 1)[-1] if words[-1].endswith("/") else words[-1]
                    for words in copied for i in range(1, len(words) - 1)]
    assert command[0] in destinations, f"nothing COPY --from=build to {command[0]}: {copied}"
    assert "--config" in option_names(help_text("run"))


def test_runtime_exposes_the_kubernetes_ports(stages):
    exposed = {int(p) for e in stages[1].all("EXPOSE") for p in e.arguments.split()}
    assert exposed == {3128, 9901}


def test_dockerignore_keeps_what_the_build_copies():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text()
    for kept in ("!Package.swift", "!Sources/**", "!Tests/**"):
        assert kept in ignore.splitlines()


def _library_packages(binary: str) -> dict[str, str]:
    """{shared library path: Debian package} for what `binary` loads, leaving out the Swift
    toolchain's own libraries (--static-swift-stdlib links those into the binary)."""
    done = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    swift = shutil.which("swift")
    toolchain = Path(os.path.realpath(swift)).parent.parent if swift else None
    libraries = {}
    for line in done.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s", line)
        if not m:
            continue  # linux-vdso
        path = os.path.realpath(m.group(1))
        if toolchain and path.startswith(str(toolchain) + "/"):
            continue
        owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if owner.returncode != 0:  # usrmerge: dpkg knows /lib/..., ldd says /usr/lib/... or back
            alternative = path[4:] if path.startswith("/usr/") else "/usr" + path
            owner = subprocess.run(["dpkg", "-S", alternative], capture_output=True, text=True)
        assert owner.returncode == 0, f"no Debian package owns {path} (loaded by {binary})"
        libraries[path] = owner.stdout.split(":")[0].strip()
    return libraries


@pytest.mark.parametrize("which", ["LATCHKEY_BIN", "release"])
def test_runtime_packages_cover_every_library_the_binary_loads(which):
    if shutil.which("dpkg") is None or shutil.which("ldd") is None:
        pytest.skip("needs dpkg and ldd (Debian)")
    if which == "LATCHKEY_BIN":
        binary = latchkey_binary()
    else:
        # scripts/install builds with the Dockerfile's flags into .build-static (issue 14 §5).
        candidates = [REPO_ROOT / ".build-static" / "release" / "latchkey", REPO_ROOT / ".build" / "release" / "latchkey"]
        found = [str(c) for c in candidates if os.access(c, os.X_OK)]
        if not found:
            pytest.skip("no release build (scripts/install, or swift build -c release --static-swift-stdlib)")
        binary = found[0]
    packages = set(_library_packages(binary).values())
    missing = packages - BASE_IMAGE_LIBRARY_PACKAGES - RUNTIME_PACKAGES
    assert not missing, f"{binary} needs {missing}, which the runtime stage does not install"
    assert {"libssl3", "libnghttp2-14"} <= packages, packages  # a release build may predate the shared store


def test_runtime_ships_the_crash_reporter_next_to_the_binary(stages):
    """A binary with the Swift runtime linked in runs `swift-backtrace` from its own directory when it
    crashes; without the file a crash prints "unable to locate swift-backtrace" and no report."""
    build, runtime = stages
    runs = " ".join(r.arguments for r in build.all("RUN"))
    assert re.search(r"install -m 0755 /usr/libexec/swift/linux/swift-backtrace-static /out/swift-backtrace", runs), runs
    copied = [c.arguments.split() for c in runtime.all("COPY") if c.arguments.startswith("--from=build")]
    assert any("/out/swift-backtrace" in words[1:-1] and words[-1] == "/usr/local/bin/" for words in copied), copied
    assert any("/out/latchkey" in words[1:-1] and words[-1] == "/usr/local/bin/" for words in copied), copied
