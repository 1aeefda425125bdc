#!/usr/bin/env python3
"""Build the service images the tests run, without any container registry.

Every image listed in tests/images/images.yml is built from its folder on the
slim Debian 13 base (tests/harness/base-image.sh service), or Debian 12's for
an entry with `base: bookworm`; an entry with `context` and `args` builds
another folder's recipe with other build arguments (PostgreSQL 15 from the
PostgreSQL folder); an entry with `upstream` gets that file of the upstream
snapshots (../shared/upstream, or MUSICSIM_UPSTREAM_DIR) in its build
folder as upstream.tar.gz (nginx-proxy-manager's release), or, for a git
bundle, the tree of its `revision` in upstream/ (megapi, the web front
end). An entry with a `dockerfile` (a path in the project: a role's own)
builds its folder's recipe as `build_base`, then that Dockerfile on it, with
the upstream tree as context and `dockerfile_args` as its build arguments,
as the role does on a user's machine. An image carries a label with the
hash of its recipe (the folder's files, the arguments, the upstream file
and revision, the role's Dockerfile and its arguments, the base image's ID);
while the recipe is unchanged the existing image is kept.

    build_images.py [NAME...]     build these (default: every image)

Every image is built FROM the base alone, so they build two at a time
(MUSICSIM_BUILD_JOBS): a build waits on the network and the disk as much as
on a core. Prints, per image, whether it was built or kept, how long it took
and its size; exits non-zero when a build fails (after trying the others).
"""

import concurrent.futures
import hashlib
import io
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGES_DIR = ROOT / "tests" / "images"
# The slim bases by release, and the flavour of base-image.sh that builds each.
BASES = {
    "trixie": ("musicsim-test/service-base:trixie", "service"),
    "bookworm": ("musicsim-test/service-base:bookworm", "service-bookworm"),
}
LABEL = "org.musicsim.recipe"
# Upstream's source snapshots, laid beside the clone (CI does the same).
UPSTREAM_DIR = pathlib.Path(os.environ.get("MUSICSIM_UPSTREAM_DIR", ROOT.parent / "shared" / "upstream"))


def load_manifest():
    """Return the images.yml entries, keyed by name."""
    with open(IMAGES_DIR / "images.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)["images"]


def docker(*args, check=True):
    """Run the docker client; return its stripped standard output."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(result.stdout + result.stderr)
    return result.stdout.strip() if result.returncode == 0 else None


def recipe_hash(context, base_id, args, upstream=None, extra=()):
    """Hash of the base, the build arguments, the upstream source, anything
    else named (a revision, a Dockerfile's text) and every file in the
    build folder (path, mode and content)."""
    digest = hashlib.sha256(base_id.encode())
    if args:
        digest.update(repr(sorted(args.items())).encode())
    if upstream:
        digest.update(upstream.read_bytes())
    for item in extra:
        digest.update(item.encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode())
        digest.update(oct(path.stat().st_mode & 0o777).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def lay_out_upstream(upstream, revision, context):
    """Put the upstream snapshot beside the recipe in context: a release's
    tarball as upstream.tar.gz, a git bundle's tree at revision as upstream/."""
    if upstream.suffix != ".bundle":
        shutil.copyfile(upstream, context / "upstream.tar.gz")
        return
    clone = context.parent / "clone.git"
    try:
        subprocess.run(["git", "clone", "--quiet", "--bare", str(upstream), str(clone)],
                       check=True, capture_output=True)
        archive = subprocess.run(["git", "--git-dir", str(clone), "archive", "--format=tar", revision],
                                 check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"{upstream} at {revision}: {error.stderr.decode()}") from error
    (context / "upstream").mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(context / "upstream", filter="data")
    shutil.rmtree(clone)


def build(name, entry, base_ids):
    """Build one image unless its recipe is unchanged; return a report line."""
    context = IMAGES_DIR / entry.get("context", name)
    tag = entry["tag"]
    base_image = BASES[entry.get("base", "trixie")][0]
    # The base is a build argument (ARG BASE) for a recipe built on more
    # than one; the others name theirs in FROM.
    args = dict(entry.get("args", {}), **({"BASE": base_image} if "base" in entry else {}))
    upstream = UPSTREAM_DIR / entry["upstream"] if "upstream" in entry else None
    if upstream and not upstream.is_file():
        raise RuntimeError(f"{upstream} is missing: the upstream snapshots "
                           "(shared/upstream) belong beside the clone, or in MUSICSIM_UPSTREAM_DIR")
    dockerfile = ROOT / entry["dockerfile"] if "dockerfile" in entry else None
    dockerfile_args = entry.get("dockerfile_args", {})
    extra = [entry.get("revision", "")] + ([dockerfile.read_text()] if dockerfile else [])
    extra += [f"{key}={value}" for key, value in sorted(dockerfile_args.items())]
    wanted = recipe_hash(context, base_ids[base_image], args, upstream, extra)
    tags = [entry["build_base"], tag] if dockerfile else [tag]
    current = [docker("image", "inspect", "--format",
                      "{{ index .Config.Labels \"%s\" }}" % LABEL, each, check=False)
               for each in tags]
    start = time.monotonic()
    if current == [wanted] * len(tags):
        action = "kept"
    else:
        build_args = [f"--build-arg={key}={value}" for key, value in args.items()]
        with tempfile.TemporaryDirectory(prefix="musicsim-build-") as folder:
            if upstream:
                # The folder with the source beside its recipe: a build sees
                # only its own folder.
                context = pathlib.Path(folder) / "context"
                shutil.copytree(IMAGES_DIR / entry.get("context", name), context)
                lay_out_upstream(upstream, entry.get("revision"), context)
            docker("build", "--quiet", "--label", f"{LABEL}={wanted}", *build_args,
                   "--tag", tags[0], str(context))
            if dockerfile:
                # The role's Dockerfile on that base, upstream's tree its
                # context, as the role builds it.
                docker("build", "--quiet", "--label", f"{LABEL}={wanted}",
                       f"--build-arg=BASE_IMAGE={tags[0]}",
                       *[f"--build-arg={key}={value}" for key, value in dockerfile_args.items()],
                       "--file", str(dockerfile),
                       "--tag", tag, str(context / "upstream"))
        action = "built"
    seconds = time.monotonic() - start
    size = int(docker("image", "inspect", "--format", "{{ .Size }}", tag))
    return f"{tag:<42} {action:<6} {seconds:6.0f} s {size / 1e6:7.0f} MB"


def build_order(names, manifest):
    """The order builds start in. The builds from upstream's source first:
    each takes minutes (megapi's dependencies, nginx-proxy-manager's
    compiled ones), the others seconds, which then fill the other slot
    instead of waiting before them. Of a recipe built more than once (two
    releases of nginx-proxy-manager), the first build starts at once and
    the others after every other build from source: by then the first has
    made the steps they share (the build stage's toolchain), which they
    reuse. Otherwise the order given (the manifest's, which lists its
    builds from source longest first)."""
    from_source = [name for name in names if "upstream" in manifest.get(name, {})]
    recipes = [manifest[name].get("context", name) for name in from_source]

    def key(name):
        if name not in from_source:
            return (True, False, False)
        index = from_source.index(name)
        shared = recipes.count(recipes[index]) > 1
        later = recipes.index(recipes[index]) < index
        return (False, later, not shared)
    return sorted(names, key=key)


def main(argv):
    manifest = load_manifest()
    names = build_order(argv or list(manifest), manifest)
    unknown = [name for name in names if name not in manifest]
    if unknown:
        print(f"unknown image(s): {', '.join(unknown)}; "
              f"known: {', '.join(manifest)}", file=sys.stderr)
        return 2
    base_ids = {}
    for base_image, flavour in BASES.values():
        base_ids[base_image] = docker("image", "inspect", "--format", "{{ .Id }}",
                                      base_image, check=False)
        needed = any(BASES[manifest[name].get("base", "trixie")][0] == base_image
                     for name in names)
        if needed and not base_ids[base_image]:
            print(f"{base_image} is missing: run tests/harness/base-image.sh {flavour}",
                  file=sys.stderr)
            return 1
    failed = []
    jobs = int(os.environ.get("MUSICSIM_BUILD_JOBS", "2"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        builds = {pool.submit(build, name, manifest[name], base_ids): name for name in names}
        for done in concurrent.futures.as_completed(builds):
            name = builds[done]
            try:
                print(done.result(), flush=True)
            except RuntimeError as error:
                print(f"{manifest[name]['tag']}: build failed\n{error}", file=sys.stderr)
                failed.append(name)
    if failed:
        print(f"images that failed to build: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
