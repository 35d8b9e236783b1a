"""Export a skill package as an AgentSkills folder or a zip of one, as the exporter may see it.

Guarantees: the folder is named after the skill (`SKILL.md`'s `name`), so it installs unchanged
as a Claude Code / Codex / OpenClaw skill; it holds only what the exporting reader may see;
it is written under a temporary name and renamed into place, so an interrupted export leaves
nothing half-written; an existing folder is replaced only when it is an earlier export; every
export is an audit event.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from colleagues.models import Colleague
from knowledge import audit
from knowledge.audit import Actor
from knowledge.visibility import Reader
from skills.models import SkillVersion
from skills.render import GENERATOR, PackageFiles, frontmatter_text, skill_name
from skills.selectors import package_view, version_of

# A fixed timestamp inside zips: the same package gives the same bytes.
ZIP_TIME = (2000, 1, 1, 0, 0, 0)


class ExportRefused(Exception):
    """The package cannot be exported to that place (never built, or a foreign folder)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    name: str
    version: int
    files: tuple[str, ...]


def export_package(
    reader: Reader, colleague: Colleague, out: Path, *, actor: Actor = None, live: bool = False
) -> ExportResult:
    """Write `colleague`'s newest package for `reader` to `out`: a .zip, else a folder in which
    the skill's own folder is made. With `live`, the skill bundles none of their content and
    points the agent at the live MCP server instead (see `live_package`)."""
    version = version_of(colleague)
    if version is None:
        raise ExportRefused(f"{colleague.name} has no skill package yet: run build_skills.")
    package = live_package(colleague, version) if live else package_view(reader, version).files
    out = out.expanduser().absolute()
    if out.suffix.lower() == ".zip":
        path = _write_zip(package, out)
        kind = "zip"
    else:
        path = _write_folder(package, out)
        kind = "folder"
    via = f"live {kind}" if live else kind
    _record_export(reader, version, package, actor=actor, via=via, path=str(path))
    return ExportResult(path, package.name, version.number, tuple(sorted(package.files)))


def mcp_url() -> str:
    """The live MCP server's address: `COLLEAGUE_BASE_URL` + `/mcp/`."""
    return settings.COLLEAGUE_BASE_URL.rstrip("/") + "/mcp/"


def live_package(colleague: Colleague, version: SkillVersion) -> PackageFiles:
    """An AgentSkills folder that points at the live MCP server for `colleague`: `SKILL.md`
    (same name and front-matter rules as a full export) and `meta.json`. It holds no text of
    their items, work.md, persona.md, quotes or evidence; it cites nothing."""
    name = skill_name(colleague)
    slug = colleague.slug
    first = colleague.name.split()[0] if colleague.name else "them"
    url = mcp_url()
    description = frontmatter_text(
        f"Ask {colleague.name}'s know-how and working style live through the colleague-skill "
        f"MCP server. Use when a question touches their systems or topics, to find how {first} "
        f"did or decided something, or to write in {first}'s voice.",
        1024,
    )
    skill_md = "\n".join(
        [
            "---",
            f"name: {name}",
            f"description: {json.dumps(description, ensure_ascii=False)}",
            "metadata:",
            f"  colleague: {json.dumps(colleague.name, ensure_ascii=False)}",
            f"  generator: {json.dumps(GENERATOR + ' (live)')}",
            f"  mcp: {json.dumps(url)}",
            "---",
            "",
            f"# {colleague.name} (live)",
            "",
            "This skill bundles no content. Everything comes from the live colleague-skill MCP "
            "server, as your user may see it in the intranet; every call is audited.",
            "",
            "## Connect",
            "",
            f"- Streamable HTTP: `{url}` with `Authorization: Bearer <token>` "
            f"(create a token at `{settings.COLLEAGUE_BASE_URL.rstrip('/')}/agents/tokens/`).",
            "- stdio: `python manage.py mcp_serve --user USERNAME` in the colleague-skill project.",
            "",
            "## How to use this skill",
            "",
            f"- **Questions**: call the tool `ask_colleague` with colleague `{slug}`. "
            "`who_knows`, `search` and `style_check` are there too.",
            f"- **Facts, systems, procedures**: read the resource `colleague://{slug}/work.md`; "
            f"the overview is `colleague://{slug}/SKILL.md`.",
            f"- **Writing or answering as {first}**: use the prompt `answer_as` with colleague "
            f"`{slug}`, or read `colleague://{slug}/persona.md`.",
            "- Answer from what the server returns. When it does not cover a question, say so; "
            "never invent facts, numbers or commitments in their name.",
            "",
        ]
    )
    meta = {
        "colleague": {"name": colleague.name, "slug": slug},
        "version": version.number,
        "generator": GENERATOR + " (live)",
        "live": True,
        "mcp": url,
    }
    meta_json = json.dumps(meta, ensure_ascii=False, indent=2) + "\n"
    return PackageFiles(name, {"SKILL.md": skill_md, "meta.json": meta_json}, ())


@dataclass(frozen=True)
class Download:
    filename: str
    content: bytes


def download_package(reader: Reader, version: SkillVersion, *, actor: Actor, via: str) -> Download:
    """`version` as a zip of its skill folder, as `reader` may see it; audited."""
    package = package_view(reader, version).files
    _record_export(reader, version, package, actor=actor, via=via)
    return Download(f"{package.name}-v{version.number}.zip", zip_bytes(package))


def _record_export(
    reader: Reader,
    version: SkillVersion,
    package: PackageFiles,
    *,
    actor: Actor,
    via: str,
    path: str = "",
) -> None:
    colleague = version.package.colleague
    audit.record(
        "skill.exported",
        f"colleague:{colleague.pk}",
        actor=actor,
        colleague=colleague.email or colleague.name,
        version=version.number,
        via=via,
        path=path,
        cited_items=list(package.cited),
        full_access=reader.unrestricted,
    )


def zip_bytes(package: PackageFiles) -> bytes:
    """The package as a zip holding its skill folder (for downloads)."""
    buffer = io.BytesIO()
    _zip_into(package, buffer)
    return buffer.getvalue()


def _write_zip(package: PackageFiles, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        _zip_into(package, Path(temporary))
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out


def _zip_into(package: PackageFiles, target: Path | BinaryIO) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(package.files):
            info = zipfile.ZipInfo(f"{package.name}/{name}", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, package.files[name])


def _write_folder(package: PackageFiles, out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ExportRefused(f"{out} is a file, not a folder.")
    out.mkdir(parents=True, exist_ok=True)
    target = out / package.name
    if target.is_symlink() or (target.exists() and not _is_earlier_export(target)):
        raise ExportRefused(f"{target} exists and is not an earlier export; not replacing it.")
    staging = Path(tempfile.mkdtemp(prefix=f".{package.name}.", dir=out))
    try:
        for name, text in package.files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{package.name}.old.", dir=out))
            os.replace(target, retired / package.name)
            os.replace(staging, target)
            shutil.rmtree(retired)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _is_earlier_export(folder: Path) -> bool:
    meta = folder / "meta.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("generator", "")).startswith("colleague-skill")
