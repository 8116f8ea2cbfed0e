"""Check that requirements.lock pins every dependency and extra of pyproject.toml within its range.

``python3 scripts/check_lock.py``: silent with exit 0 when it does; else one line and exit 1.
``--extras``: print the project's extras, comma-separated (what ./run and scripts/lock install).
Runs with any python3 >= 3.10: ``packaging`` and ``tomllib`` come from pip's vendored copies when the
interpreter has neither.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version
except ImportError:  # a bare system python: pip's copy
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import InvalidVersion, Version
try:
    import tomllib
except ImportError:  # python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


class LockMismatch(Exception):
    """The lock does not match pyproject.toml; the message is the one line to print."""


def read_lock(path: Path) -> dict[str, Version]:
    """``name==version`` lines (comments and blank lines skipped) as {canonical name: version}."""
    pins: dict[str, Version] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        try:
            if not sep or not name.strip() or any(c in version for c in "<>=!~,; "):
                raise InvalidVersion(line)
            pin = Version(version.strip())
        except InvalidVersion:
            raise LockMismatch(f"{path.name}:{number}: {raw.strip()!r}: expected name==version") from None
        key = canonicalize_name(name.strip())
        if key in pins:
            raise LockMismatch(f"{path.name}:{number}: {name.strip()} is pinned twice")
        pins[key] = pin
    return pins


def project_requirements(pyproject: Path) -> list[tuple[str, Requirement]]:
    """(where, requirement) for every dependency and every extra's dependency."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    groups = {"dependencies": project.get("dependencies", [])}
    groups |= {f"extra {name!r}": deps for name, deps in project.get("optional-dependencies", {}).items()}
    found = []
    for where, deps in groups.items():
        for text in deps:
            try:
                found.append((where, Requirement(text)))
            except InvalidRequirement as e:
                raise LockMismatch(f"{pyproject.name}: {where}: {text!r} is not a requirement ({e})") from e
    return found


def check(pyproject: Path, lock: Path) -> None:
    """Raise :class:`LockMismatch` for the first requirement the lock does not pin within its range."""
    if not lock.is_file():
        raise LockMismatch(f"{lock.name} is missing; write it with scripts/lock")
    pins = read_lock(lock)
    for where, requirement in project_requirements(pyproject):
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            raise LockMismatch(
                f"{lock.name} does not pin {requirement.name} ({pyproject.name}, {where}: {requirement}); "
                "regenerate it with scripts/lock"
            )
        if not requirement.specifier.contains(pin, prereleases=True):
            raise LockMismatch(
                f"{lock.name} pins {requirement.name}=={pin}, outside {pyproject.name}'s range "
                f"{requirement.specifier} ({where}); regenerate it with scripts/lock"
            )


def main(argv: list[str]) -> int:
    pyproject, lock = ROOT / "pyproject.toml", ROOT / "requirements.lock"
    if argv == ["--extras"]:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        print(",".join(project.get("optional-dependencies", {})))
        return 0
    try:
        check(pyproject, lock)
    except LockMismatch as e:
        print(f"lock: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
