"""python -m lab {prepare,engine,images,endpoints,rules,dashboards,preflight,test,bench,readme}:
the steps of the Makefile."""

from __future__ import annotations

import argparse
import os
import sys

from lab import (
    bench,
    dashboards,
    docker,
    elasticsearch,
    endpoints,
    host,
    images,
    preflight,
    readme,
    rules,
    state,
    testrun,
)


def _images(releases: list[str] | None, builder: str, force: bool) -> None:
    for release in releases or [os.environ.get("LAB_DEBIAN_RELEASE") or "trixie"]:
        built = images.ensure_base_image(release, builder=builder, force=force)
        print(f"{images.BASE_REPOSITORY}:{release}: {'built' if built else 'up to date'}")
    built = images.ensure_apt_cache_image(force=force)
    print(f"{images.APT_CACHE_IMAGE}: {'built' if built else 'up to date'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    builder = os.environ.get("LAB_IMAGE_BUILDER", "auto")

    p_prepare = sub.add_parser("prepare", help="engine + host packages + images: everything the lab and the tests need")
    p_prepare.add_argument(
        "--release",
        action="append",
        choices=images.RELEASES,
        help="Debian release of the images (repeatable; default: $LAB_DEBIAN_RELEASE or trixie)",
    )
    sub.add_parser("engine", help="make sure a Docker engine answers (installs docker.io on Debian as root)")
    p_images = sub.add_parser("images", help="build the base images and the apt cache image if their recipe changed")
    p_images.add_argument(
        "--release",
        action="append",
        choices=images.RELEASES,
        help="Debian release to build (repeatable; default: $LAB_DEBIAN_RELEASE or trixie)",
    )
    p_images.add_argument("--builder", default=builder, choices=("auto", "mmdebstrap", "dockerfile"))
    p_images.add_argument("--force", action="store_true", help="rebuild even when the recipe is unchanged")
    p_end = sub.add_parser("endpoints", help="print where each lab service answers")
    p_end.add_argument("--lab", default=os.environ.get("LAB_NAME", "horilla-lab"))
    sub.add_parser("rules", help="validate and unit-test the Prometheus rules with promtool (installs it if missing)")
    p_dash = sub.add_parser("dashboards", help="generate the Grafana dashboards (roles/grafana/files/dashboards/)")
    p_dash.add_argument(
        "--check", action="store_true", help="fail when the committed JSON is not what lab/dashboards.py generates"
    )
    p_test = sub.add_parser("test", help="lint, unit tests and Molecule scenarios, stopping at the first failure")
    p_test.add_argument("--scenario", action="append", help="run only this Molecule scenario (repeatable)")
    p_test.add_argument("--all", action="store_true", help="every scenario, also those make test leaves out")
    p_test.add_argument(
        "--stage", action="append", choices=("lint", "unit", "molecule"), help="run only these stages (repeatable)"
    )
    sub.add_parser(
        "bench", help="time the whole site's converge on a lab of its own (reports/bench/converge.json)", add_help=False
    )
    p_pre = sub.add_parser("preflight", help="derive playbooks/preflight.yml from the tier playbooks")
    p_pre.add_argument("--check", action="store_true", help="fail when playbooks/preflight.yml is stale")
    p_readme = sub.add_parser("readme", help="rewrite the README's tables from the reports")
    p_readme.add_argument("--check", action="store_true", help="fail when the README's tables are stale")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return bench.main(argv[1:])
    args = parser.parse_args(argv)

    try:
        if args.command == "prepare":
            print(f"docker engine: {docker.ensure_engine()}")
            tuned = host.tune_kernel()
            print(f"kernel limits: {'raised ' + ' '.join(tuned) if tuned else 'sufficient'}")
            installed = host.ensure_packages()
            print(f"host packages: {'installed ' + ' '.join(installed) if installed else 'present'}")
            _images(args.release, builder, False)
            release = (args.release or [os.environ.get("LAB_DEBIAN_RELEASE") or "trixie"])[0]
            for line in elasticsearch.prepare(f"{images.BASE_REPOSITORY}:{release}"):
                print(line)
        elif args.command == "engine":
            print(f"docker engine: {docker.ensure_engine()}")
        elif args.command == "images":
            _images(args.release, args.builder, args.force)
        elif args.command == "endpoints":
            print(endpoints.render(state.load(args.lab)))
        elif args.command == "rules":
            return rules.check()
        elif args.command == "dashboards":
            if args.check:
                stale = dashboards.stale()
                print(f"dashboards: {'stale: ' + ' '.join(stale) if stale else 'up to date'}")
                return 1 if stale else 0
            changed = dashboards.write()
            print(f"dashboards: {'written: ' + ' '.join(changed) if changed else 'up to date'}")
        elif args.command == "preflight":
            return preflight.main(check=args.check)
        elif args.command == "readme":
            return readme.main(check=args.check)
        elif args.command == "test":
            return testrun.main(args.scenario, set(args.stage or ("lint", "unit", "molecule")), args.all)
    except (docker.EngineError, host.HostError, elasticsearch.PrepareError, FileNotFoundError, ValueError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
